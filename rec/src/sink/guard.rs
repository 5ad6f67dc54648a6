//! The sink the recorder talks to: rate limiter + backend + failure policy.

use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

use super::backend::Backend;
use super::event::{message_id, EventRecord};
use super::ratelimit::{Admit, Clock, MonotonicClock, RateLimiter};
use super::syslog::{format_line, SyslogSocket, DEV_LOG, EVENT_IDENT};
use super::{FailureMode, RecIdentity, SessionEvent, Sink, SinkError, SinkStats, WriteOutcome};
use tlog_rs_sys::cvt_r;

/// While failing, try the backend again at most this often; messages in
/// between are counted as lost.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Where warnings about a failing sink go.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// The user's terminal; by default the recorder's stderr.
    pub terminal_fd: RawFd,
    /// Syslog socket for the audit trail of failures.
    pub syslog_path: PathBuf,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            terminal_fd: libc::STDERR_FILENO,
            syslog_path: PathBuf::from(DEV_LOG),
        }
    }
}

/// Write all of `text` to `fd`, ignoring errors: warning paths must not fail.
fn write_fd(fd: RawFd, text: &[u8]) {
    let mut done = 0;
    while done < text.len() {
        // SAFETY: the slice is valid for its length; a bad fd only yields EBADF.
        match cvt_r(|| unsafe { libc::write(fd, text[done..].as_ptr().cast(), text.len() - done) })
        {
            Ok(n) if n > 0 => done += n as usize,
            _ => return,
        }
    }
}

impl Notifier {
    /// Tell the user (terminal, `\r\n` because it may be in raw mode) and the
    /// audit trail (syslog authpriv.warning, ident tlog-rs). If syslog is also
    /// down, the text goes to stderr unless the terminal already is stderr.
    pub fn warn(&self, text: &str) {
        write_fd(
            self.terminal_fd,
            format!("\r\ntlog-rs: {text}\r\n").as_bytes(),
        );
        if let Err(e) = self.audit(text) {
            if self.terminal_fd != libc::STDERR_FILENO {
                write_fd(
                    libc::STDERR_FILENO,
                    format!("tlog-rs: {text} (syslog unavailable: {e})\n").as_bytes(),
                );
            }
        }
    }

    /// Only the syslog audit trail (the recorder itself tells the user).
    pub fn audit(&self, text: &str) -> io::Result<()> {
        let mut sock = SyslogSocket::new(&self.syslog_path);
        sock.send_timeout = Duration::from_secs(1);
        let line = format_line(
            libc::LOG_AUTHPRIV | libc::LOG_WARNING,
            EVENT_IDENT,
            text.as_bytes(),
        );
        sock.send(&line)
    }
}

/// A failure episode: from the first failed write to the next good one.
struct Episode {
    since_retry: Duration,
    lost: u64,
}

pub struct GuardedSink<B: Backend, C: Clock = MonotonicClock> {
    backend: B,
    limiter: RateLimiter<C>,
    mode: FailureMode,
    identity: RecIdentity,
    notifier: Notifier,
    stats: SinkStats,
    episode: Option<Episode>,
    clock: C,
}

impl<B: Backend, C: Clock + Clone> GuardedSink<B, C> {
    pub fn new(
        backend: B,
        limiter: RateLimiter<C>,
        clock: C,
        mode: FailureMode,
        identity: RecIdentity,
        notifier: Notifier,
    ) -> Self {
        GuardedSink {
            backend,
            limiter,
            mode,
            identity,
            notifier,
            stats: SinkStats::default(),
            episode: None,
            clock,
        }
    }

    fn who(&self) -> String {
        format!(
            "rec={} user={} tty={}",
            self.identity.rec,
            self.identity.user,
            self.identity.tty.as_deref().unwrap_or("none")
        )
    }

    /// Start a failure episode (Warn) and report it once.
    fn begin_episode(&mut self, e: &io::Error) {
        let text = format!(
            "WARNING: cannot write the session recording: {e}; \
             this session is NOT being recorded until it recovers ({}); \
             lost messages are counted in the session end entry",
            self.who()
        );
        self.notifier.warn(&text);
        self.episode = Some(Episode {
            since_retry: self.clock.now(),
            lost: 0,
        });
    }

    fn end_episode(&mut self) {
        if let Some(ep) = self.episode.take() {
            self.notifier.warn(&format!(
                "recording to the {} resumed; {} messages were lost ({})",
                self.backend.describe(),
                ep.lost,
                self.who()
            ));
        }
    }

    fn sink_error(&self, e: io::Error) -> SinkError {
        SinkError {
            what: "cannot write the session recording".into(),
            source: Some(e),
        }
    }

    /// Report a fatal (Strict) failure to the audit trail, then return it;
    /// the recorder shows the returned error to the user.
    fn strict_failure(&self, e: io::Error) -> SinkError {
        let _ = self.notifier.audit(&format!(
            "session recording failed: {e}; ending the session ({})",
            self.who()
        ));
        self.sink_error(e)
    }

    /// A message that could not be stored in Warn mode.
    fn lose(&mut self, id: Option<u64>) -> WriteOutcome {
        self.stats.ids.note(id);
        self.stats.lost += 1;
        self.stats.dropped += 1;
        if let Some(ep) = self.episode.as_mut() {
            ep.lost += 1;
        }
        WriteOutcome::Dropped
    }

    /// Strict mode at open: the session is refused; leave an audit record.
    pub fn audit_refusal(&self, e: &io::Error) {
        let _ = self.notifier.audit(&format!(
            "session refused: cannot open the log: {e} ({})",
            self.who()
        ));
    }

    /// Warn mode at open: the sink is missing, but the session may start.
    pub fn start_failing(&mut self, e: &io::Error) {
        self.begin_episode(e);
    }

    pub fn set_terminal_fd(&mut self, fd: RawFd) {
        self.notifier.terminal_fd = fd;
    }
}

impl<B: Backend, C: Clock + Clone> Sink for GuardedSink<B, C> {
    fn write_message(&mut self, line: &[u8]) -> Result<WriteOutcome, SinkError> {
        let id = message_id(line);
        if self.limiter.admit(line.len()) == Admit::Drop {
            self.stats.ids.note(id);
            self.stats.dropped += 1;
            return Ok(WriteOutcome::Dropped);
        }
        if let Some(ep) = self.episode.as_mut() {
            let now = self.clock.now();
            if now.saturating_sub(ep.since_retry) < RETRY_INTERVAL {
                return Ok(self.lose(id));
            }
            ep.since_retry = now;
        }
        match self.backend.send_message(line) {
            Ok(()) => {
                self.end_episode();
                self.stats.ids.note(id);
                self.stats.written += 1;
                Ok(WriteOutcome::Written)
            }
            Err(e) => match self.mode {
                FailureMode::Strict => Err(self.strict_failure(e)),
                FailureMode::Warn => {
                    if self.episode.is_none() {
                        self.begin_episode(&e);
                    }
                    Ok(self.lose(id))
                }
            },
        }
    }

    fn write_event(&mut self, event: &SessionEvent) -> Result<(), SinkError> {
        let rec = EventRecord::new(event, &self.identity, &self.stats);
        // Events are rare and precious: always try, even mid-episode. A
        // stored event does not end an episode: for the file writer events go
        // to the sidecar, which may work while the recording file does not.
        match self.backend.send_event(&rec) {
            Ok(()) => Ok(()),
            Err(e) => match self.mode {
                FailureMode::Strict => {
                    let _ = self
                        .notifier
                        .audit(&format!("session event not stored: {}", rec.to_words()));
                    Err(self.strict_failure(e))
                }
                FailureMode::Warn => {
                    if self.episode.is_none() {
                        self.begin_episode(&e);
                    }
                    // The event cannot be stored; leave its words in the audit trail.
                    self.notifier
                        .warn(&format!("session event not stored: {}", rec.to_words()));
                    Ok(())
                }
            },
        }
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }

    fn set_warning_fd(&mut self, fd: RawFd) {
        self.set_terminal_fd(fd);
    }
}
