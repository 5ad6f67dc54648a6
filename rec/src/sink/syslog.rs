//! The syslog writer: RFC 3164 datagrams sent straight to `/dev/log`.
//!
//! glibc's `syslog()` silently drops messages when `/dev/log` is missing or
//! full, so we own the AF_UNIX datagram socket and see every failure
//! (ENOENT, ECONNREFUSED, EAGAIN after the send timeout, EMSGSIZE).
//!
//! Line format, as glibc writes it: `<PRI>Mmm dd hh:mm:ss ident[pid]: msg`, with
//! PRI = facility | priority, local time, and no trailing newline.
//!
//! Idents: recording messages use ident **`tlog`**, like C tlog
//! (`openlog("tlog", ...)`), so existing rsyslog rules (`$programname ==
//! "tlog"`) and rsyslog→Elasticsearch pipelines that parse the JSON body keep
//! working unchanged. Session start/end entries and warnings use ident
//! **`tlog-rs`**, so they never reach a pipeline that expects only messages.
//!
//! Size: a datagram carries the whole line (about payload + 400 bytes; the
//! default payload 2048 gives ~2.5 KB). rsyslog accepts 8 KB per message by
//! default (`$MaxMessageSize`); a larger `payload` needs that raised.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::backend::Backend;
use super::event::EventRecord;

pub const DEV_LOG: &str = "/dev/log";
/// Ident of recording messages (same as C tlog).
pub const MESSAGE_IDENT: &str = "tlog";
/// Ident of session events and of failure warnings.
pub const EVENT_IDENT: &str = "tlog-rs";
/// Default for how long a send may block on a full /dev/log queue before it
/// counts as a failure (EAGAIN); see `super::send_timeout` for the writers.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// tlog's facility names (`syslog.facility`).
pub fn facility_code(name: &str) -> Option<i32> {
    Some(match name {
        "kern" => libc::LOG_KERN,
        "user" => libc::LOG_USER,
        "mail" => libc::LOG_MAIL,
        "daemon" => libc::LOG_DAEMON,
        "auth" => libc::LOG_AUTH,
        "syslog" => libc::LOG_SYSLOG,
        "lpr" => libc::LOG_LPR,
        "news" => libc::LOG_NEWS,
        "uucp" => libc::LOG_UUCP,
        "cron" => libc::LOG_CRON,
        "authpriv" => libc::LOG_AUTHPRIV,
        "ftp" => libc::LOG_FTP,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => return None,
    })
}

/// tlog's priority names (`syslog.priority`, `journal.priority`).
pub fn priority_code(name: &str) -> Option<i32> {
    Some(match name {
        "emerg" => libc::LOG_EMERG,
        "alert" => libc::LOG_ALERT,
        "crit" => libc::LOG_CRIT,
        "err" => libc::LOG_ERR,
        "warning" => libc::LOG_WARNING,
        "notice" => libc::LOG_NOTICE,
        "info" => libc::LOG_INFO,
        "debug" => libc::LOG_DEBUG,
        _ => return None,
    })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd hh:mm:ss` in local time, day padded with a space (glibc's `%h %e %T`).
fn timestamp_now() -> String {
    // SAFETY: time(NULL) has no preconditions.
    let t = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: all-zero is a valid `struct tm` (plain integers and a nullable pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is reentrant.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return "Jan  1 00:00:00".to_string();
    }
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// One RFC 3164 datagram, as glibc's syslog() builds it.
pub fn format_line(pri: i32, ident: &str, msg: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "<{pri}>{} {ident}[{}]: ",
        timestamp_now(),
        std::process::id()
    )
    .into_bytes();
    out.extend_from_slice(msg);
    out
}

/// A datagram socket connected to a syslog socket, reconnected after errors.
pub struct SyslogSocket {
    path: PathBuf,
    sock: Option<UnixDatagram>,
    pub send_timeout: Duration,
}

impl SyslogSocket {
    pub fn new(path: &Path) -> Self {
        SyslogSocket {
            path: path.to_path_buf(),
            sock: None,
            send_timeout: SEND_TIMEOUT,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn connect(&mut self) -> io::Result<()> {
        if self.sock.is_none() {
            let s = UnixDatagram::unbound()?;
            s.connect(&self.path)?;
            s.set_write_timeout(Some(self.send_timeout))?;
            self.sock = Some(s);
        }
        Ok(())
    }

    /// Send one whole datagram. Any error drops the socket so that the next
    /// attempt reconnects (the daemon may have been restarted).
    pub fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let r = self.connect().and_then(|()| {
            let Some(s) = self.sock.as_ref() else {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            };
            loop {
                match s.send(datagram) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                    Ok(n) if n != datagram.len() => {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "datagram truncated",
                        ))
                    }
                    Ok(_) => return Ok(()),
                }
            }
        });
        if r.is_err() {
            self.sock = None;
        }
        r.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

pub struct SyslogBackend {
    pub socket: SyslogSocket,
    message_pri: i32,
    event_pri: i32,
}

impl SyslogBackend {
    pub fn new(path: &Path, facility: i32, priority: i32) -> Self {
        SyslogBackend {
            socket: SyslogSocket::new(path),
            message_pri: facility | priority,
            event_pri: facility | priority,
        }
    }
}

impl Backend for SyslogBackend {
    fn describe(&self) -> String {
        format!("syslog socket {}", self.socket.path().display())
    }

    fn reconnect(&mut self) -> io::Result<()> {
        self.socket
            .connect()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.socket.path().display())))
    }

    fn send_message(&mut self, line: &[u8]) -> io::Result<()> {
        let msg = line.strip_suffix(b"\n").unwrap_or(line);
        self.socket
            .send(&format_line(self.message_pri, MESSAGE_IDENT, msg))
    }

    fn send_event(&mut self, event: &EventRecord) -> io::Result<()> {
        let json = event.to_json();
        self.socket
            .send(&format_line(self.event_pri, EVENT_IDENT, json.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_glibc_codes() {
        assert_eq!(facility_code("authpriv"), Some(10 << 3));
        assert_eq!(facility_code("local7"), Some(23 << 3));
        assert_eq!(facility_code("Authpriv"), None);
        assert_eq!(priority_code("info"), Some(6));
        assert_eq!(priority_code("warning"), Some(4));
        assert_eq!(priority_code("warn"), None);
    }

    #[test]
    fn line_is_rfc3164_like_glibc() {
        let l = format_line(86, "tlog", b"{\"ver\":\"2.3\"}");
        let s = String::from_utf8(l).unwrap();
        assert!(s.starts_with("<86>"), "{s}");
        // "<86>Nov 26 14:05:07 tlog[123]: {...}"
        let rest = &s[4..];
        let month = &rest[..3];
        assert!(MONTHS.contains(&month), "{s}");
        assert_eq!(&rest[3..4], " ");
        let day = rest[4..6].trim_start();
        assert!((1..=31).contains(&day.parse::<u32>().unwrap()), "{s}");
        assert_eq!(rest.as_bytes()[9], b':');
        assert_eq!(rest.as_bytes()[12], b':');
        assert!(rest[15..].starts_with(&format!(" tlog[{}]: {{", std::process::id())));
        assert!(s.ends_with("{\"ver\":\"2.3\"}"));
    }

    #[test]
    fn backend_sends_without_newline_and_reports_missing_socket() {
        struct Dir(std::path::PathBuf);
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let guard =
            Dir(std::env::temp_dir().join(format!("tlog-rs-syslog-ut-{}", std::process::id())));
        let dir = guard.0.clone();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let mut b = SyslogBackend::new(&path, libc::LOG_LOCAL3, libc::LOG_NOTICE);
        let e = b.send_message(b"{}\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("log.sock"), "{e}");
        let server = UnixDatagram::bind(&path).unwrap();
        b.send_message(b"{\"a\":1}\n").unwrap();
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(got.starts_with(&format!("<{}>", (19 << 3) | 5)), "{got}");
        assert!(got.ends_with(": {\"a\":1}"), "{got}");
        // daemon gone: the connected socket now fails, and we say so
        drop(server);
        let e = b.send_message(b"{}\n").unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ),
            "{e:?}"
        );
    }
}
