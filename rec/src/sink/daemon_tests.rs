//! The writers against real daemons: a standalone systemd-journald in a
//! private mount namespace and a private rsyslogd (harness shared with the
//! end-to-end tests). Needs root; skipped only with TLOG_RS_SKIP_SYSTEM_TESTS.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tlog_rs_tests::daemons::{output_with_open_stdin, Journald, Rsyslog};
use tlog_rs_tests::{require_root, TempDir};

use super::guard::Notifier;
use super::*;

fn identity(rec: &str) -> RecIdentity {
    RecIdentity {
        rec: rec.into(),
        tty: Some("/dev/pts/7".into()),
        ident: "tlog-rs-rec-session".into(),
        ..super::tests::identity()
    }
}

fn settings(writer: WriterKind, mode: FailureMode) -> SinkSettings {
    SinkSettings {
        syslog_facility: "local3".into(),
        ..super::tests::settings(writer, None, mode)
    }
}

fn open(
    s: &SinkSettings,
    rec: &str,
    journal: &Path,
    dev_log: &Path,
    scratch: &Path,
) -> Box<dyn Sink> {
    let notifier = Notifier {
        terminal_fd: libc::STDERR_FILENO,
        syslog_path: scratch.join("no-syslog"),
    };
    let targets = Targets {
        dev_log: dev_log.to_path_buf(),
        journal_socket: journal.to_path_buf(),
    };
    open_sink_with(s, &identity(rec), notifier, targets).expect("sink opens")
}

/// A valid tlog message (per the format spec) carrying `text` as output.
fn message(rec: &str, id: u32, pos: u32, text: &str) -> String {
    format!(
        concat!(
            "{{\"ver\":\"2.3\",\"host\":\"host.example\",\"rec\":\"{}\",\"user\":\"alice\",",
            "\"term\":\"xterm\",\"session\":12,\"id\":{},\"pos\":{},\"time\":1795700846.{:03},",
            "\"timing\":\">{}\",\"in_txt\":\"\",\"in_bin\":[],\"out_txt\":{},\"out_bin\":[]}}\n"
        ),
        rec,
        id,
        pos,
        pos,
        text.chars().count(),
        serde_json::to_string(text).unwrap(),
    )
}

fn event(kind: EventKind) -> SessionEvent {
    SessionEvent {
        bytes_in: 5,
        bytes_out: 40,
        ..SessionEvent::now(kind, 3)
    }
}

fn field<'a>(e: &'a serde_json::Value, k: &str) -> &'a str {
    e[k].as_str()
        .unwrap_or_else(|| panic!("field {k} missing or not text in {e}"))
}

#[test]
fn journald_gets_tlog_fields_and_tlog_play_replays_the_recording() {
    if !require_root("journald_gets_tlog_fields_and_tlog_play_replays_the_recording") {
        return;
    }
    let scratch = TempDir::new("sink-jd");
    let jd = Journald::start("fields");
    let rec = format!("sinktest-{}-1", std::process::id());
    let s = settings(WriterKind::Journal, FailureMode::Strict);
    let mut sink = open(&s, &rec, &jd.socket(), &scratch.0.join("x"), &scratch.0);
    let texts = [
        "hello journal\n",
        "café, 你好 \"quoted\" \\ back\n",
        "bye\n",
    ];
    let lines: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| message(&rec, i as u32 + 1, i as u32 * 10, t))
        .collect();
    sink.write_event(&event(EventKind::Start)).unwrap();
    for l in &lines {
        assert_eq!(
            sink.write_message(l.as_bytes()).unwrap(),
            WriteOutcome::Written
        );
    }
    sink.write_event(&event(EventKind::End)).unwrap();

    let tlog_rec = format!("TLOG_REC={rec}");
    let got = jd.wait_entries(&[&tlog_rec], 3);
    assert_eq!(got.len(), 3, "journald log: {}", jd.log());
    for (i, e) in got.iter().enumerate() {
        assert_eq!(
            field(e, "MESSAGE"),
            lines[i].trim_end_matches('\n'),
            "byte-exact"
        );
        assert_eq!(field(e, "PRIORITY"), "6");
        assert_eq!(field(e, "SYSLOG_IDENTIFIER"), "tlog-rs-rec-session");
        assert_eq!(field(e, "TLOG_USER"), "alice");
        assert_eq!(field(e, "TLOG_SESSION"), "12");
        assert_eq!(field(e, "TLOG_ID"), (i + 1).to_string());
        assert_eq!(field(e, "_TRANSPORT"), "journal");
    }

    let rs_rec = format!("TLOG_RS_REC={rec}");
    let ev = jd.wait_entries(&[&rs_rec], 2);
    assert_eq!(ev.len(), 2);
    assert_eq!(field(&ev[0], "TLOG_RS_EVENT"), "start");
    assert_eq!(field(&ev[1], "TLOG_RS_EVENT"), "end");
    assert!(field(&ev[0], "MESSAGE").starts_with(&format!(
        "tlog-rs session start rec={rec} user=alice tty=/dev/pts/7"
    )));
    assert_eq!(field(&ev[1], "TLOG_RS_MESSAGES_WRITTEN"), "3");
    assert_eq!(field(&ev[1], "TLOG_RS_EXIT_STATUS"), "3");
    assert_eq!(field(&ev[1], "TLOG_RS_END_REASON"), "exit");
    assert_eq!(field(&ev[1], "TLOG_RS_TTY"), "/dev/pts/7");
    for e in &ev {
        assert!(
            e.get("TLOG_REC").is_none(),
            "an event must never carry TLOG_REC: {e}"
        );
        let j: serde_json::Value = serde_json::from_str(field(e, "TLOG_RS_JSON")).unwrap();
        assert_eq!(j["rec"], rec.as_str());
    }

    // Debian's tlog-play reads the private journal from inside the namespace.
    let out = output_with_open_stdin(
        jd.command("tlog-play")
            .args(["-r", "journal", "-M", &tlog_rec]),
        Duration::from_secs(20),
    );
    let played = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tlog-play failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        played.starts_with(&texts.concat()),
        "tlog-play printed {played:?}"
    );
}

#[test]
fn journald_takes_big_entries_through_a_sealed_memfd() {
    if !require_root("journald_takes_big_entries_through_a_sealed_memfd") {
        return;
    }
    let jd = Journald::start("big");
    let rec = format!("sinktest-{}-big", std::process::id());
    let mut backend = journal::JournalBackend::new(&jd.socket(), 6, true, &identity(&rec));
    // Force the memfd path (real datagrams fit up to the socket buffer,
    // several MB on this kernel); same path as EMSGSIZE.
    backend.max_datagram = 0;
    let text = "0123456789abcdef".repeat(65536); // 1 MiB
    let line = message(&rec, 1, 0, &text);
    backend::Backend::send_message(&mut backend, line.as_bytes()).unwrap();
    let tlog_rec = format!("TLOG_REC={rec}");
    let got = jd.wait_entries(&[&tlog_rec], 1);
    assert_eq!(got.len(), 1, "journald log: {}", jd.log());
    assert_eq!(field(&got[0], "MESSAGE"), line.trim_end_matches('\n'));
    assert_eq!(field(&got[0], "TLOG_ID"), "1");
}

#[test]
fn journald_going_away_is_an_error_in_strict_mode() {
    if !require_root("journald_going_away_is_an_error_in_strict_mode") {
        return;
    }
    let scratch = TempDir::new("sink-jd-gone");
    let jd = Journald::start("gone");
    let sock = jd.socket();
    let rec = format!("sinktest-{}-gone", std::process::id());
    let s = settings(WriterKind::Journal, FailureMode::Strict);
    let mut sink = open(&s, &rec, &sock, &scratch.0.join("x"), &scratch.0);
    sink.write_message(message(&rec, 1, 0, "a").as_bytes())
        .unwrap();
    drop(jd);
    let err = sink
        .write_message(message(&rec, 2, 1, "b").as_bytes())
        .expect_err("journald is gone");
    assert!(err.to_string().contains("journal/socket"), "{err}");
}

#[test]
fn rsyslog_gets_facility_priority_and_an_intact_2048_payload() {
    if !require_root("rsyslog_gets_facility_priority_and_an_intact_2048_payload") {
        return;
    }
    let _ = Command::new("rsyslogd")
        .arg("-v")
        .output()
        .expect("rsyslog is installed");
    let scratch = TempDir::new("sink-rs");
    let mut rs = Rsyslog::start("sink");
    let rec = format!("sinktest-{}-syslog", std::process::id());
    let s = settings(WriterKind::Syslog, FailureMode::Strict);
    let mut sink = open(&s, &rec, &scratch.0.join("x"), &rs.socket(), &scratch.0);
    // ~2048 bytes of payload with multi-byte UTF-8 and escapes
    let text: String = "é\"\\ 你好 x\n".repeat(120);
    let line = message(&rec, 1, 0, &text);
    assert!(line.len() > 2048, "{}", line.len());
    sink.write_event(&event(EventKind::Start)).unwrap();
    sink.write_message(line.as_bytes()).unwrap();
    sink.write_event(&event(EventKind::End)).unwrap();

    let got = rs.wait_lines(&rec, 3);
    assert_eq!(got.len(), 3, "{got:?}");
    let pid = std::process::id();
    // "PRI FACILITY SEVERITY TAG|MSG"
    let expect_prefix = format!("{} local3 notice tlog[{pid}]:|", (19 << 3) | 5);
    let msg_line = got.iter().find(|l| l.contains("\"ver\"")).unwrap();
    assert_eq!(
        msg_line,
        &format!("{expect_prefix}{}", line.trim_end_matches('\n')),
        "JSON must arrive intact"
    );
    let events: Vec<&String> = got
        .iter()
        .filter(|l| l.contains(&format!(" tlog-rs[{pid}]:|")))
        .collect();
    assert_eq!(events.len(), 2, "{got:?}");
    let end: serde_json::Value =
        serde_json::from_str(events[1].split_once('|').unwrap().1).unwrap();
    assert_eq!(end["event"], "end");
    assert_eq!(end["messages_written"], 1);

    // syslog goes away: strict mode reports it instead of losing silently
    rs.stop();
    let err = sink
        .write_message(message(&rec, 2, 5, "x").as_bytes())
        .expect_err("no syslog daemon");
    assert!(err.to_string().contains("log.sock"), "{err}");
}

/// Puts the process name (`/proc/self/comm`, read by journald for `_COMM`)
/// back when dropped.
struct CommGuard(String);
impl Drop for CommGuard {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/self/comm", &self.0);
    }
}

/// Cockpit's session-recording page runs `journalctl _COMM=tlog-rec
/// _COMM=tlog-rec-sessio [TLOG_USER=..] [TLOG_REC=..]` and groups entries by
/// TLOG_REC. With the comm the recorder sets through
/// `journal::set_comm_for_cockpit`, our recording is listed and the events
/// (no TLOG_REC) are skipped.
#[test]
fn cockpit_query_lists_the_recording_when_the_comm_is_set() {
    if !require_root("cockpit_query_lists_the_recording_when_the_comm_is_set") {
        return;
    }
    let jd = Journald::start("cockpit");
    let rec = format!("sinktest-{}-cockpit", std::process::id());
    let old = std::fs::read_to_string("/proc/self/comm").unwrap();
    let _restore = CommGuard(old.trim_end().to_string());
    // The test runs on a worker thread; journald reads the process (main
    // thread) name, which /proc/self/comm names.
    std::fs::write("/proc/self/comm", journal::COCKPIT_COMM_SESSION).unwrap();
    let scratch = TempDir::new("sink-cockpit");
    let s = settings(WriterKind::Journal, FailureMode::Strict);
    let mut sink = open(&s, &rec, &jd.socket(), &scratch.0.join("x"), &scratch.0);
    sink.write_event(&event(EventKind::Start)).unwrap();
    sink.write_message(message(&rec, 1, 0, "one\n").as_bytes())
        .unwrap();
    sink.write_message(message(&rec, 2, 5, "two\n").as_bytes())
        .unwrap();
    sink.write_event(&event(EventKind::End)).unwrap();
    jd.wait_entries(&[&format!("TLOG_RS_REC={rec}"), "TLOG_RS_EVENT=end"], 1);

    let cockpit = jd.entries(&["_COMM=tlog-rec", "_COMM=tlog-rec-sessio", "TLOG_USER=alice"]);
    let listed: Vec<&serde_json::Value> = cockpit
        .iter()
        .filter(|e| e.get("TLOG_REC").is_some())
        .collect();
    assert_eq!(
        listed.len(),
        2,
        "Cockpit's query finds both messages: {cockpit:?}"
    );
    for e in &listed {
        assert_eq!(field(e, "TLOG_REC"), rec);
        assert_eq!(field(e, "TLOG_SESSION"), "12");
        assert_eq!(field(e, "_COMM"), "tlog-rec-sessio");
    }
    // The query does filter: a TLOG_REC entry from another program
    // (`logger`, inside the namespace) is not listed.
    let mut logger = jd.command("logger");
    logger.arg("--journald").stdin(std::process::Stdio::piped());
    let mut child = logger.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"MESSAGE=not tlog\nTLOG_REC=from-logger\nTLOG_USER=alice\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(jd.wait_entries(&["TLOG_REC=from-logger"], 1).len(), 1);
    let cockpit = jd.entries(&["_COMM=tlog-rec", "_COMM=tlog-rec-sessio"]);
    assert!(
        cockpit.iter().all(|e| e["TLOG_REC"] != "from-logger"),
        "an entry from another comm must not match"
    );
}
