//! Playback to a non-terminal (a file or pipe): exactly the output packets'
//! bytes, timed, like tlog-play. Keys work when stdin is a terminal, but only
//! forwards (what was written cannot be taken back). With a non-tty stdin
//! keys are ignored and stdin is never polled, so nothing spins.

use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tlog_rs_format::{Packet, PacketData};

use crate::clock::Clock;
use crate::feed::Feed;
use crate::keys::{Command, KeyParser};
use crate::options::{Goto, PlayOptions, EXIT_SEQUENCE};
use crate::term;

/// How often a wait wakes up to look at keys and signals when nothing else
/// would wake it (following a recording, waiting for the reader).
const IDLE_TICK: Duration = Duration::from_millis(100);

pub enum Outcome {
    Done,
    Quit,
    Signal(i32),
}

struct Keys {
    parser: KeyParser,
    _raw: Option<term::RawMode>,
}

struct Player<'a, W: Write> {
    out: &'a mut W,
    clock: Clock,
    to_end: bool,
    keys: Option<Keys>,
    /// Following and caught up: the next packet restarts the clock at its
    /// own time, so a live session's output plays as it arrives.
    resync: bool,
}

impl<W: Write> Player<'_, W> {
    /// Wait until `ts` is due, handling keys meanwhile. Err = stop now.
    fn wait_until(&mut self, ts: u64) -> Result<(), Outcome> {
        loop {
            if let Some(sig) = term::signalled() {
                return Err(Outcome::Signal(sig));
            }
            if self.to_end {
                return Ok(());
            }
            let now = Instant::now();
            let wait = match self.clock.wait_for(now, ts) {
                Some(d) if d.is_zero() => return Ok(()),
                other => other,
            };
            let _ = self.out.flush();
            self.idle(wait, Some(ts))?;
        }
    }

    /// Sleep up to `wait` (None = until a key or signal), handling keys.
    fn idle(&mut self, wait: Option<Duration>, next_ts: Option<u64>) -> Result<(), Outcome> {
        let Some(keys) = &mut self.keys else {
            term::sleep(wait.unwrap_or(IDLE_TICK).min(IDLE_TICK * 10));
            return Ok(());
        };
        if !term::wait_readable(term::STDIN, wait).unwrap_or(false) {
            return Ok(());
        }
        let mut buf = [0u8; 256];
        let n = match term::read_keys(term::STDIN, &mut buf) {
            Ok(Some(n)) => n,
            // The terminal went away: keep playing without keys.
            Ok(None) | Err(_) => {
                self.keys = None;
                return Ok(());
            }
        };
        let now = Instant::now();
        for cmd in keys.parser.feed(&buf[..n]) {
            let pos = self.clock.position(now);
            match cmd {
                Command::TogglePause => self.clock.toggle_pause(now),
                Command::Faster => self.clock.faster(now),
                Command::Slower => self.clock.slower(now),
                Command::ResetSpeed => self.clock.set_speed(now, 1.0),
                Command::Step => {
                    if let Some(ts) = next_ts {
                        self.clock.set_position(now, pos.max(ts as f64));
                    }
                }
                Command::GotoEnd => self.to_end = true,
                Command::Goto(t) if t as f64 > pos => self.clock.set_position(now, t as f64),
                Command::SeekBy(d) if d > 0 => self.clock.set_position(now, pos + d as f64),
                Command::Quit => return Err(Outcome::Quit),
                _ => {}
            }
        }
        Ok(())
    }

    fn packet(&mut self, p: &Packet) -> Result<(), Outcome> {
        if self.resync {
            self.resync = false;
            self.clock.set_position(Instant::now(), p.ts as f64);
        }
        if let PacketData::Output(data) = &p.data {
            self.wait_until(p.ts)?;
            if self.out.write_all(data).is_err() {
                // Reader of our output went away (e.g. `| head`).
                return Err(Outcome::Quit);
            }
        }
        Ok(())
    }
}

/// Play the packets from `rx` onto `out` (not a terminal). Returns how it
/// ended, or the reader's error after writing everything before it.
pub fn play(
    rx: Receiver<Feed<Vec<Packet>>>,
    opts: &PlayOptions,
    out: &mut impl Write,
) -> Result<Outcome, String> {
    let now = Instant::now();
    let mut clock = Clock::new(now, opts.speed, opts.paused);
    if let Some(Goto::At(t)) = opts.goto {
        clock.set_position(now, t as f64);
    }
    let keys = if term::is_tty(term::STDIN) {
        Some(Keys {
            parser: KeyParser::new(),
            _raw: term::RawMode::enter(term::STDIN, term::Signals::Keep).ok(),
        })
    } else {
        None
    };
    let mut player = Player {
        out,
        clock,
        to_end: opts.goto == Some(Goto::End),
        keys,
        resync: false,
    };
    let result = run(&mut player, &rx);
    let _ = player.out.write_all(EXIT_SEQUENCE);
    let _ = player.out.flush();
    result
}

fn run<W: Write>(p: &mut Player<W>, rx: &Receiver<Feed<Vec<Packet>>>) -> Result<Outcome, String> {
    loop {
        let feed = match rx.try_recv() {
            Ok(f) => f,
            Err(_) => {
                let _ = p.out.flush();
                match rx.recv_timeout(IDLE_TICK) {
                    Ok(f) => f,
                    Err(RecvTimeoutError::Timeout) => {
                        if let Some(sig) = term::signalled() {
                            return Ok(Outcome::Signal(sig));
                        }
                        if p.keys.is_some() {
                            if let Err(o) = p.idle(Some(Duration::ZERO), None) {
                                return Ok(o);
                            }
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return Ok(Outcome::Done),
                }
            }
        };
        match feed {
            Feed::Data(packets) => {
                for pkt in &packets {
                    if let Err(o) = p.packet(pkt) {
                        return Ok(o);
                    }
                }
            }
            Feed::CaughtUp => p.resync = true,
            Feed::Error(e) => return Err(e),
            Feed::End => return Ok(Outcome::Done),
        }
    }
}
