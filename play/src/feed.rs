//! A reader thread: parsing runs on its own core while the player waits,
//! writes or emulates. Packets go out in batches through a bounded channel
//! (so memory stays bounded when the player is slower than the reader).

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread;
use std::time::Duration;

use tlog_rs_format::{Packet, PacketData};

use crate::source::PacketSource;

pub enum Feed<T> {
    Data(T),
    /// Following: everything written so far has been read.
    CaughtUp,
    /// A reader error; what was sent before it is good.
    Error(String),
    /// End of the recording (not following).
    End,
}

const BATCH_PACKETS: usize = 512;
const BATCH_BYTES: usize = 256 * 1024;
/// How often a followed file is polled at its end (tlog-play: 1 s).
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Start reading `src` on a thread; `build` turns each batch of packets into
/// what the player wants (e.g. a timeline chunk with checkpoints).
pub fn spawn<T, F>(mut src: PacketSource, follow: bool, mut build: F) -> Receiver<Feed<T>>
where
    T: Send + 'static,
    F: FnMut(Vec<Packet>) -> T + Send + 'static,
{
    let (tx, rx) = sync_channel(8);
    thread::spawn(move || {
        block_stop_signals();
        let mut batch = Vec::new();
        let mut bytes = 0;
        let mut caught_up = false;
        loop {
            match src.next_packet() {
                Ok(Some(p)) => {
                    caught_up = false;
                    if let PacketData::Output(d) | PacketData::Input(d) = &p.data {
                        bytes += d.len();
                    }
                    batch.push(p);
                    if batch.len() >= BATCH_PACKETS || bytes >= BATCH_BYTES {
                        bytes = 0;
                        if tx
                            .send(Feed::Data(build(std::mem::take(&mut batch))))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                Ok(None) => {
                    if !batch.is_empty() {
                        bytes = 0;
                        if tx
                            .send(Feed::Data(build(std::mem::take(&mut batch))))
                            .is_err()
                        {
                            return;
                        }
                    }
                    if !follow {
                        let _ = tx.send(Feed::End);
                        return;
                    }
                    if !caught_up {
                        caught_up = true;
                        if tx.send(Feed::CaughtUp).is_err() {
                            return;
                        }
                    }
                    thread::sleep(FOLLOW_POLL);
                }
                Err(e) => {
                    if !batch.is_empty() {
                        let _ = tx.send(Feed::Data(build(std::mem::take(&mut batch))));
                    }
                    let _ = tx.send(Feed::Error(e));
                    return;
                }
            }
        }
    });
    rx
}

/// Leave SIGINT/SIGTERM/SIGHUP to the player thread, whose waits they must
/// interrupt so that it restores the terminal and exits at once.
fn block_stop_signals() {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the mask
    // change only affects the calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
