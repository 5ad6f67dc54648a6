//! The journal writer: systemd's native protocol on
//! `/run/systemd/journal/socket`, without libsystemd.
//!
//! An entry is one datagram of fields, `NAME=value\n`, or for values holding a
//! newline `NAME\n<u64 LE length><value>\n`. Entries too big for a datagram
//! (EMSGSIZE/ENOBUFS) go in a sealed memfd passed with SCM_RIGHTS, as
//! libsystemd does.
//!
//! Recording entries, like C tlog with `journal.augment` (the default):
//! `MESSAGE` = the JSON line without its trailing newline, `PRIORITY`,
//! `SYSLOG_IDENTIFIER` = the recorder's name (`RecIdentity::ident`), and
//! `TLOG_REC`, `TLOG_USER`, `TLOG_SESSION`, `TLOG_ID` (the message's id).
//! Session events: see [`super::event`] (no `TLOG_REC` field).
//!
//! Limits we cannot see: journald's own rate limit (`RateLimitBurst` per
//! `RateLimitIntervalSec` and unit; default 10000 per 30 s) drops entries
//! after accepting them, so a busy session can still lose entries there.
//! Raise or disable it (`RateLimitBurst=0`) on recorded hosts, or use
//! `limit.*` to stay below it. Id gaps in the journal reveal such losses.
//!
//! # Cockpit
//!
//! Cockpit's session-recording page (Scribery/cockpit-session-recording,
//! `src/recordings.jsx`, `journalctlStart`) lists recordings by running
//! `journalctl` with the matches `_COMM=tlog-rec` and `_COMM=tlog-rec-sessio`
//! (same field, so OR; the kernel truncates comm to 15 bytes, hence
//! `-sessio`), plus `TLOG_USER=`/`_HOSTNAME=` filters and `TLOG_REC=<id>` for
//! one recording. It skips entries without `TLOG_REC`, groups by `TLOG_REC`,
//! and shows `TLOG_USER`, `TLOG_SESSION`, `_HOSTNAME` and the entry times; its
//! player parses `MESSAGE` as tlog JSON. So recordings need `journal.augment`
//! (the default) and the right `_COMM`. Our session events have no `TLOG_REC`
//! and are skipped by Cockpit. (The page also runs `getent passwd tlog` and
//! shows an error if that user is missing; Debian's user is `_tlog`.)
//!
//! journald fills `_COMM` from `/proc/<pid>/comm` of the sender, so our
//! binaries (`tlog-rs-rec-ses`…) would not be listed. The recorder therefore
//! calls [`set_comm_for_cockpit`] at start: it renames the recorder process
//! (not the shell, which execs its own name) to `tlog-rec-sessio` or
//! `tlog-rec` with `prctl(PR_SET_NAME)`. `ps`/`top` then show that name too;
//! `/proc/<pid>/exe` and the cmdline still name the real binary, and
//! `SYSLOG_IDENTIFIER` stays the recorder's own name.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::backend::Backend;
use super::event::EventRecord;
use super::RecIdentity;
use tlog_rs_sys::{cvt, cvt_r};

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// comm names Cockpit's session-recording page queries (`_COMM=`).
pub const COCKPIT_COMM_SESSION: &str = "tlog-rec-sessio";
pub const COCKPIT_COMM_REC: &str = "tlog-rec";
/// Like libsystemd: a big send buffer so large entries fit a datagram.
const SNDBUF: libc::c_int = 8 * 1024 * 1024;
/// Default for how long a send may block on a full journald queue before it
/// counts as a failure (EAGAIN); see `super::send_timeout` for the writers.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Set the recorder's process name (`_COMM` in the journal, `ps`) so that
/// Cockpit lists its recordings: `session = true` gives `tlog-rec-sessio`
/// (for tlog-rs-rec-session), `false` gives `tlog-rec` (for tlog-rs-rec).
/// Call it from the main thread, before any other thread starts.
pub fn set_comm_for_cockpit(session: bool) -> io::Result<()> {
    set_comm(if session {
        COCKPIT_COMM_SESSION
    } else {
        COCKPIT_COMM_REC
    })
}

/// `prctl(PR_SET_NAME)`: at most 15 bytes, no NUL.
pub fn set_comm(name: &str) -> io::Result<()> {
    if name.len() > 15 || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "comm name must be at most 15 bytes without NUL",
        ));
    }
    let mut buf = [0u8; 16];
    buf[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes
    // from the pointer; `buf` is 16 bytes and ends in NUL.
    cvt(unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) })?;
    Ok(())
}

/// Append one field in the native protocol encoding.
pub fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The `id` of a tlog JSON message line. `,"id":` cannot occur inside a JSON
/// string (a raw `"` would end it), so its first occurrence is the key.
pub fn message_id(line: &[u8]) -> Option<&[u8]> {
    let key = b",\"id\":";
    let at = line.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    (digits > 0).then(|| &line[at..at + digits])
}

pub struct JournalBackend {
    path: PathBuf,
    sock: Option<UnixDatagram>,
    priority: String,
    augment: bool,
    ident: String,
    rec: String,
    user: String,
    session: String,
    /// Entries larger than this go through a memfd right away (tests lower
    /// it; otherwise only EMSGSIZE/ENOBUFS trigger the memfd path).
    pub(crate) max_datagram: usize,
    pub send_timeout: Duration,
}

impl JournalBackend {
    pub fn new(path: &Path, priority: i32, augment: bool, id: &RecIdentity) -> Self {
        JournalBackend {
            path: path.to_path_buf(),
            sock: None,
            priority: priority.to_string(),
            augment,
            ident: id.ident.clone(),
            rec: id.rec.clone(),
            user: id.user.clone(),
            session: id.audit_session.to_string(),
            max_datagram: usize::MAX,
            send_timeout: SEND_TIMEOUT,
        }
    }

    /// The fields of one recording entry.
    pub fn message_entry(&self, line: &[u8]) -> Vec<u8> {
        let msg = line.strip_suffix(b"\n").unwrap_or(line);
        let mut e = Vec::with_capacity(msg.len() + 256);
        push_field(&mut e, "MESSAGE", msg);
        push_field(&mut e, "PRIORITY", self.priority.as_bytes());
        push_field(&mut e, "SYSLOG_IDENTIFIER", self.ident.as_bytes());
        if self.augment {
            push_field(&mut e, "TLOG_REC", self.rec.as_bytes());
            push_field(&mut e, "TLOG_USER", self.user.as_bytes());
            push_field(&mut e, "TLOG_SESSION", self.session.as_bytes());
            if let Some(id) = message_id(msg) {
                push_field(&mut e, "TLOG_ID", id);
            }
        }
        e
    }

    /// The fields of a session start/end entry.
    pub fn event_entry(&self, ev: &EventRecord) -> Vec<u8> {
        let mut e = Vec::with_capacity(1024);
        push_field(&mut e, "MESSAGE", ev.to_words().as_bytes());
        let prio = if ev.end_reason == Some(super::EndReason::SinkFailure) {
            libc::LOG_WARNING.to_string()
        } else {
            self.priority.clone()
        };
        push_field(&mut e, "PRIORITY", prio.as_bytes());
        push_field(&mut e, "SYSLOG_IDENTIFIER", self.ident.as_bytes());
        for (k, v) in ev.journal_fields() {
            push_field(&mut e, k, v.as_bytes());
        }
        e
    }

    fn send_entry(&mut self, entry: &[u8]) -> io::Result<()> {
        let r = self.reconnect().and_then(|()| {
            let Some(sock) = self.sock.as_ref() else {
                return Err(io::Error::from(io::ErrorKind::NotConnected));
            };
            if entry.len() > self.max_datagram {
                return send_memfd(sock, entry);
            }
            match send_datagram(sock, entry) {
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EMSGSIZE) | Some(libc::ENOBUFS)) =>
                {
                    send_memfd(sock, entry)
                }
                r => r,
            }
        });
        if r.is_err() {
            // Reconnect next time: journald may have been restarted.
            self.sock = None;
        }
        r.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

fn send_datagram(sock: &UnixDatagram, data: &[u8]) -> io::Result<()> {
    loop {
        match sock.send(data) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(n) if n != data.len() => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "datagram truncated",
                ))
            }
            Ok(_) => return Ok(()),
        }
    }
}

/// Big entries: write them to a sealed memfd and pass its descriptor.
fn send_memfd(sock: &UnixDatagram, entry: &[u8]) -> io::Result<()> {
    // SAFETY: the name is a NUL-terminated literal; the flags are valid.
    let raw = unsafe {
        libc::memfd_create(
            c"tlog-rs-journal".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    cvt(raw)?;
    // SAFETY: memfd_create just returned this fd and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let file = std::fs::File::from(fd);
    super::file::write_whole(&file, entry).map_err(|(_, e)| e)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: F_ADD_SEALS on our own memfd; journald only accepts sealed memfds.
    cvt(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    send_fd(sock, file.as_raw_fd())
}

/// An empty datagram carrying one descriptor (SCM_RIGHTS).
fn send_fd(sock: &UnixDatagram, fd: RawFd) -> io::Result<()> {
    let int = std::mem::size_of::<libc::c_int>() as libc::c_uint;
    // u64 storage keeps the control buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(int) } as usize;
    assert!(space <= std::mem::size_of_val(&control));
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points to `space` writable, aligned bytes, enough for
    // one cmsghdr with an int payload, so CMSG_FIRSTHDR is non-null and the
    // header and CMSG_DATA lie inside `control`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(int) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
    }
    // SAFETY: `msg` and the control buffer it points to are valid for the call.
    cvt_r(|| unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })?;
    Ok(())
}

impl Backend for JournalBackend {
    fn describe(&self) -> String {
        format!("journal socket {}", self.path.display())
    }

    fn reconnect(&mut self) -> io::Result<()> {
        if self.sock.is_none() {
            let s = UnixDatagram::unbound()?;
            s.connect(&self.path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))?;
            s.set_write_timeout(Some(self.send_timeout))?;
            // Best effort, like libsystemd; the memfd path covers the rest.
            // SAFETY: valid fd, option value is a c_int of the given size.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&SNDBUF as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            self.sock = Some(s);
        }
        Ok(())
    }

    fn send_message(&mut self, line: &[u8]) -> io::Result<()> {
        let entry = self.message_entry(line);
        self.send_entry(&entry)
    }

    fn send_event(&mut self, event: &EventRecord) -> io::Result<()> {
        let entry = self.event_entry(event);
        self.send_entry(&entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> RecIdentity {
        RecIdentity {
            rec: "r-1".into(),
            user: "alice".into(),
            host: "h".into(),
            term: "xterm".into(),
            tty: None,
            audit_session: 4294967295,
            ident: "tlog-rs-rec".into(),
            login: Default::default(),
            charset: "UTF-8".into(),
        }
    }

    /// Decode native-protocol fields (both encodings) for checking.
    fn parse(mut e: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![];
        while !e.is_empty() {
            let nl = e.iter().position(|&b| b == b'\n').unwrap();
            let line = &e[..nl];
            if let Some(eq) = line.iter().position(|&b| b == b'=') {
                out.push((
                    String::from_utf8(line[..eq].to_vec()).unwrap(),
                    line[eq + 1..].to_vec(),
                ));
                e = &e[nl + 1..];
            } else {
                let name = String::from_utf8(line.to_vec()).unwrap();
                let len = u64::from_le_bytes(e[nl + 1..nl + 9].try_into().unwrap()) as usize;
                let v = e[nl + 9..nl + 9 + len].to_vec();
                assert_eq!(e[nl + 9 + len], b'\n');
                out.push((name, v));
                e = &e[nl + 10 + len..];
            }
        }
        out
    }

    #[test]
    fn message_entry_has_tlog_fields_and_no_newline() {
        let b = JournalBackend::new(Path::new("/nonexistent"), 6, true, &identity());
        let line = b"{\"ver\":\"2.3\",\"host\":\"h\",\"rec\":\"r-1\",\"user\":\"a,\\\"id\\\":9\",\"term\":\"\",\"session\":1,\"id\":42,\"pos\":0}\n";
        let f = parse(&b.message_entry(line));
        let get = |n: &str| f.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("MESSAGE").unwrap(), &line[..line.len() - 1]);
        assert_eq!(get("PRIORITY").unwrap(), b"6");
        assert_eq!(get("SYSLOG_IDENTIFIER").unwrap(), b"tlog-rs-rec");
        assert_eq!(get("TLOG_REC").unwrap(), b"r-1");
        assert_eq!(get("TLOG_USER").unwrap(), b"alice");
        assert_eq!(get("TLOG_SESSION").unwrap(), b"4294967295");
        assert_eq!(
            get("TLOG_ID").unwrap(),
            b"42",
            "escaped quote in user is not the id key"
        );
        let plain = JournalBackend::new(Path::new("/x"), 6, false, &identity());
        assert!(parse(&plain.message_entry(line))
            .iter()
            .all(|(k, _)| !k.starts_with("TLOG_")));
    }

    #[test]
    fn newline_values_use_length_prefixed_encoding() {
        let mut e = vec![];
        push_field(&mut e, "A", b"x\ny");
        push_field(&mut e, "B", b"z");
        assert_eq!(e, b"A\n\x03\0\0\0\0\0\0\0x\ny\nB=z\n");
        assert_eq!(
            parse(&e),
            vec![("A".into(), b"x\ny".to_vec()), ("B".into(), b"z".to_vec())]
        );
    }

    #[test]
    fn comm_name_is_set_and_checked() {
        assert!(set_comm("0123456789abcdef").is_err());
        // Run in a fresh thread so the test runner's thread name is untouched.
        std::thread::spawn(|| {
            set_comm(COCKPIT_COMM_SESSION).unwrap();
            // SAFETY: gettid cannot fail.
            let tid = unsafe { libc::gettid() };
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap();
            assert_eq!(comm.trim_end(), "tlog-rec-sessio");
        })
        .join()
        .unwrap();
    }
}
