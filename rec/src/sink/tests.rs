//! Sink behaviour through the public entry points, with real files and
//! real datagram sockets in temp dirs (the daemon-backed tests are in
//! tests/tests/sink_*.rs).

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use super::event::IdRange;
use super::guard::Notifier;
use super::*;

use tlog_rs_tests::TempDir;

/// A non-blocking pipe standing in for the user's terminal.
struct Term {
    read: OwnedFd,
    write: OwnedFd,
}
impl Term {
    fn new() -> Self {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        assert_eq!(rc, 0);
        // SAFETY: pipe2 just created both fds; each is owned exactly once.
        unsafe {
            Term {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            }
        }
    }
    fn fd(&self) -> RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.write)
    }
    fn take(&self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: buf is valid and writable for its length.
            let n = unsafe {
                libc::read(
                    std::os::fd::AsRawFd::as_raw_fd(&self.read),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        String::from_utf8(out).unwrap()
    }
}

pub(super) fn settings(writer: WriterKind, path: Option<&Path>, mode: FailureMode) -> SinkSettings {
    SinkSettings {
        writer,
        file_path: path.map(Path::to_path_buf),
        syslog_facility: "local2".into(),
        syslog_priority: "notice".into(),
        journal_priority: "info".into(),
        journal_augment: true,
        limit_rate: 16384,
        limit_burst: 32768,
        limit_action: LimitAction::Pass,
        failure_mode: mode,
    }
}

pub(super) fn identity() -> RecIdentity {
    RecIdentity {
        rec: "boot-1f-2a".into(),
        user: "alice".into(),
        host: "host.example".into(),
        term: "xterm".into(),
        tty: Some("/dev/pts/4".into()),
        audit_session: 12,
        ident: "tlog-rs-rec".into(),
        login: Default::default(),
        charset: "UTF-8".into(),
    }
}

fn event(kind: EventKind) -> SessionEvent {
    SessionEvent::now(kind, 0)
}

fn msg(id: u32) -> Vec<u8> {
    format!("{{\"ver\":\"2.3\",\"rec\":\"boot-1f-2a\",\"id\":{id},\"out_txt\":\"x\"}}\n")
        .into_bytes()
}

fn open(s: &SinkSettings, term: &Term, dir: &Path) -> Result<Box<dyn Sink>, SinkError> {
    let notifier = Notifier {
        terminal_fd: term.fd(),
        syslog_path: dir.join("no-dev-log"),
    };
    let targets = Targets {
        dev_log: dir.join("dev-log"),
        journal_socket: dir.join("journal-socket"),
    };
    open_sink_with(s, &identity(), notifier, targets)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn file_writer_appends_messages_and_keeps_events_in_the_sidecar() {
    let d = TempDir::new("file");
    let log = d.0.join("rec.log");
    fs::write(&log, "existing line\n").unwrap();
    let term = Term::new();
    let mut sink = open(
        &settings(WriterKind::File, Some(&log), FailureMode::Strict),
        &term,
        &d.0,
    )
    .unwrap();
    sink.write_event(&event(EventKind::Start)).unwrap();
    for id in 1..=3 {
        assert_eq!(sink.write_message(&msg(id)).unwrap(), WriteOutcome::Written);
    }
    sink.write_event(&event(EventKind::End)).unwrap();
    let got = fs::read(&log).unwrap();
    let mut want = b"existing line\n".to_vec();
    for id in 1..=3 {
        want.extend(msg(id));
    }
    assert_eq!(got, want, "recording holds only the messages, appended");
    let ev = lines(&file::events_path(&log));
    assert_eq!(ev.len(), 2);
    let start: serde_json::Value = serde_json::from_str(&ev[0]).unwrap();
    let end: serde_json::Value = serde_json::from_str(&ev[1]).unwrap();
    assert_eq!(start["event"], "start");
    assert_eq!(end["event"], "end");
    assert_eq!(end["rec"], "boot-1f-2a");
    assert_eq!(end["tty"], "/dev/pts/4");
    assert_eq!(end["messages_written"], 3);
    assert_eq!(end["end_reason"], "exit");
    assert_eq!(term.take(), "", "no warnings when all is well");
    // a new file gets mode 0600 (umask can only remove bits)
    let fresh = d.0.join("fresh.log");
    let _s = open(
        &settings(WriterKind::File, Some(&fresh), FailureMode::Strict),
        &term,
        &d.0,
    )
    .unwrap();
    for p in [fresh.clone(), file::events_path(&fresh)] {
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o600, 0, "{} has mode {mode:o}", p.display());
    }
}

#[test]
fn unopenable_file_fails_strict_and_warns_once_in_warn_mode() {
    let d = TempDir::new("nofile");
    let log = d.0.join("missing-dir/rec.log");
    let term = Term::new();
    let err = open(
        &settings(WriterKind::File, Some(&log), FailureMode::Strict),
        &term,
        &d.0,
    )
    .err()
    .expect("strict must refuse");
    assert!(err.to_string().contains("missing-dir/rec.log"), "{err}");
    assert!(err.to_string().contains("No such file"), "{err}");

    let mut sink = open(
        &settings(WriterKind::File, Some(&log), FailureMode::Warn),
        &term,
        &d.0,
    )
    .unwrap();
    for id in 1..=5 {
        assert_eq!(sink.write_message(&msg(id)).unwrap(), WriteOutcome::Dropped);
    }
    let warned = term.take();
    assert_eq!(
        warned.matches("WARNING").count(),
        1,
        "once per episode: {warned}"
    );
    assert!(warned.contains("NOT being recorded") && warned.contains("missing-dir/rec.log"));
    assert_eq!(
        sink.stats(),
        SinkStats {
            written: 0,
            dropped: 5,
            lost: 5,
            ids: IdRange::from_pair(1, 5),
        }
    );
}

#[test]
fn dev_full_ends_strict_sessions_and_is_counted_in_warn_mode() {
    let d = TempDir::new("full");
    let log = d.0.join("rec.log");
    // The recording file is /dev/full; its sidecar stays a normal file.
    std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    let term = Term::new();

    let mut strict = open(
        &settings(WriterKind::File, Some(&log), FailureMode::Strict),
        &term,
        &d.0,
    )
    .unwrap();
    let err = strict.write_message(&msg(1)).unwrap_err();
    assert!(err.to_string().contains("rec.log"), "{err}");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    term.take();

    let mut warn = open(
        &settings(WriterKind::File, Some(&log), FailureMode::Warn),
        &term,
        &d.0,
    )
    .unwrap();
    warn.write_event(&event(EventKind::Start)).unwrap();
    for id in 1..=4 {
        assert_eq!(warn.write_message(&msg(id)).unwrap(), WriteOutcome::Dropped);
    }
    warn.write_event(&event(EventKind::End)).unwrap();
    let warned = term.take();
    assert_eq!(warned.matches("WARNING").count(), 1, "{warned}");
    assert!(warned.contains("No space left on device"), "{warned}");
    assert!(
        !warned.contains("resumed"),
        "the sidecar working is no recovery: {warned}"
    );
    let ev = lines(&file::events_path(&log));
    let end: serde_json::Value = serde_json::from_str(&ev[1]).unwrap();
    assert_eq!(end["messages_written"], 0);
    assert_eq!(end["messages_dropped"], 4);
    assert_eq!(end["messages_lost"], 4);
}

#[test]
fn missing_sockets_strict_refuses_warn_recovers_and_reports() {
    let d = TempDir::new("sock");
    let term = Term::new();
    for writer in [WriterKind::Journal, WriterKind::Syslog] {
        let err = open(&settings(writer, None, FailureMode::Strict), &term, &d.0)
            .err()
            .expect("strict refuses a missing socket");
        assert!(
            err.to_string().contains("No such file"),
            "{writer:?}: {err}"
        );
    }
    assert_eq!(term.take(), "");

    let sock_path = d.0.join("journal-socket");
    let mut sink = open(
        &settings(WriterKind::Journal, None, FailureMode::Warn),
        &term,
        &d.0,
    )
    .unwrap();
    let w = term.take();
    assert_eq!(w.matches("WARNING").count(), 1, "warned at open: {w}");
    assert!(
        w.contains("journal-socket") && w.contains("rec=boot-1f-2a user=alice"),
        "{w}"
    );
    for id in 1..=3 {
        assert_eq!(sink.write_message(&msg(id)).unwrap(), WriteOutcome::Dropped);
    }
    assert_eq!(term.take(), "", "no repeated warning within an episode");
    // journald appears; after the retry interval the next message gets through
    let server = UnixDatagram::bind(&sock_path).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(sink.write_message(&msg(4)).unwrap(), WriteOutcome::Written);
    let w = term.take();
    assert!(
        w.contains("resumed") && w.contains("3 messages were lost"),
        "{w}"
    );
    sink.write_event(&event(EventKind::End)).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = server.recv(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"MESSAGE={\"ver\""));
    let n = server.recv(&mut buf).unwrap();
    let entry = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(entry.contains("\nTLOG_RS_EVENT=end\n"), "{entry}");
    assert!(entry.contains("\nTLOG_RS_MESSAGES_LOST=3\n"), "{entry}");
    assert!(entry.contains("\nTLOG_RS_MESSAGES_WRITTEN=1\n"), "{entry}");
    assert!(!entry.contains("\nTLOG_REC="), "{entry}");
}

#[test]
fn rate_limit_drop_is_counted_and_reported_in_the_end_event() {
    let d = TempDir::new("rl");
    let log = d.0.join("rec.log");
    let term = Term::new();
    let mut s = settings(WriterKind::File, Some(&log), FailureMode::Strict);
    let len = msg(1).len() as u64;
    s.limit_rate = 1;
    s.limit_burst = 2 * len - 1;
    s.limit_action = LimitAction::Drop;
    let mut sink = open(&s, &term, &d.0).unwrap();
    assert_eq!(sink.write_message(&msg(1)).unwrap(), WriteOutcome::Written);
    assert_eq!(sink.write_message(&msg(2)).unwrap(), WriteOutcome::Written);
    assert_eq!(sink.write_message(&msg(3)).unwrap(), WriteOutcome::Dropped);
    sink.write_event(&event(EventKind::End)).unwrap();
    assert_eq!(lines(&log).len(), 2);
    let end: serde_json::Value = serde_json::from_str(&lines(&file::events_path(&log))[0]).unwrap();
    assert_eq!(end["messages_dropped"], 1);
    assert_eq!(end["messages_lost"], 0);
    assert_eq!(term.take(), "", "rate limiting is policy, not a failure");
}

#[test]
fn bad_settings_are_precise_errors() {
    let d = TempDir::new("bad");
    let term = Term::new();
    let mut s = settings(WriterKind::Syslog, None, FailureMode::Warn);
    s.syslog_facility = "local9".into();
    let e = open(&s, &term, &d.0).err().unwrap();
    assert_eq!(e.to_string(), "unknown syslog.facility \"local9\"");
    let mut s = settings(WriterKind::File, Some(&d.0.join("f")), FailureMode::Warn);
    s.limit_rate = 0;
    s.limit_action = LimitAction::Delay;
    let e = open(&s, &term, &d.0).err().unwrap();
    assert!(
        e.to_string()
            .starts_with("limit.rate 0 with limit.action \"delay\""),
        "{e}"
    );
    let e = open(
        &settings(WriterKind::File, None, FailureMode::Warn),
        &term,
        &d.0,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("file.path"), "{e}");
}

#[test]
fn a_planted_sidecar_symlink_is_not_followed() {
    let d = TempDir::new("symlink");
    let log = d.0.join("rec.log");
    let target = d.0.join("victim");
    fs::write(&target, "precious\n").unwrap();
    std::os::unix::fs::symlink(&target, file::events_path(&log)).unwrap();
    let term = Term::new();
    let err = open(
        &settings(WriterKind::File, Some(&log), FailureMode::Strict),
        &term,
        &d.0,
    )
    .err()
    .expect("strict refuses");
    assert!(err.to_string().contains("rec.log.events"), "{err}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n");
}
