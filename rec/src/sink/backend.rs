//! The raw destinations behind the rate limiter and the failure policy.

use std::io;

use super::event::EventRecord;

/// A place recordings can be written to. It only moves bytes and reports
/// errors; rate limiting, counting and warning are done by `GuardedSink`.
pub trait Backend {
    /// For messages to the user and syslog, e.g. "journal socket /run/...".
    fn describe(&self) -> String;
    /// (Re)open the destination after a failure, or check it at start.
    fn reconnect(&mut self) -> io::Result<()>;
    /// Store one recording message; `line` ends with '\n'.
    fn send_message(&mut self, line: &[u8]) -> io::Result<()>;
    /// Store a session start/end entry.
    fn send_event(&mut self, event: &EventRecord) -> io::Result<()>;
}
