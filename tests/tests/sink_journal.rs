//! `tlog-rs-rec -w journal` against a real, private systemd-journald; the
//! recording is played back by Debian's `tlog-play -r journal`.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tlog_rs_tests::daemons::{output_with_open_stdin, Journald};
use tlog_rs_tests::{artifact, require_program, require_root};

/// Text, UTF-8, escapes and enough lines for several 256-byte messages.
const SCRIPT: &str = r#"printf 'hello from the journal\n'
printf 'caf\303\251 \342\202\254 tab\t"q" back\\slash\n'
i=0; while [ $i -lt 40 ]; do echo "line $i: the quick brown fox jumps over the lazy dog"; i=$((i+1)); done
exit 7"#;

fn text<'a>(e: &'a Value, k: &str) -> &'a str {
    e[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing or not text in {e}"))
}

#[test]
fn journal_entries_carry_tlog_fields_and_play_back_with_tlog_play() {
    if !require_root("journal_entries_carry_tlog_fields_and_play_back_with_tlog_play") {
        return;
    }
    require_program("tlog-play", "tlog");
    let jd = Journald::start("e2e-journal");
    let out = jd
        .command(artifact("tlog-rs-rec"))
        .args(["-w", "journal", "--journal-priority=notice", "--notice="])
        .args(["--payload=256", "sh", "-c", SCRIPT])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = out.stdout;
    assert!(printed.len() > 1000);

    let starts = jd.wait_entries(&["TLOG_RS_EVENT=start"], 1);
    assert_eq!(starts.len(), 1, "journald: {}", jd.log());
    let rec = text(&starts[0], "TLOG_RS_REC").to_string();
    let end_match = format!("TLOG_RS_REC={rec}");
    let ends = jd.wait_entries(&["TLOG_RS_EVENT=end", &end_match], 1);
    assert_eq!(ends.len(), 1, "no end entry");
    let tlog_rec = format!("TLOG_REC={rec}");
    let msgs = jd.entries(&[&tlog_rec]);
    assert!(
        msgs.len() >= 3,
        "payload 256 gives several messages: {}",
        msgs.len()
    );

    let mut played_back = String::new();
    for (i, e) in msgs.iter().enumerate() {
        let line = text(e, "MESSAGE");
        assert!(!line.ends_with('\n'));
        let m: Value = serde_json::from_str(line).expect("MESSAGE is tlog JSON");
        assert_eq!(m["rec"], rec.as_str());
        assert_eq!(m["id"], i as u64 + 1, "ids contiguous from 1");
        assert_eq!(text(e, "TLOG_ID"), (i + 1).to_string());
        assert_eq!(text(e, "TLOG_USER"), m["user"].as_str().unwrap());
        assert_eq!(text(e, "TLOG_SESSION"), m["session"].to_string());
        assert_eq!(text(e, "PRIORITY"), "5", "--journal-priority=notice");
        assert_eq!(text(e, "SYSLOG_IDENTIFIER"), "tlog-rs-rec");
        // Cockpit's session-recording page selects recordings by _COMM,
        // which journald reads from /proc when it handles the entry (so an
        // entry handled after the recorder exited has none).
        if let Some(comm) = e.get("_COMM") {
            assert_eq!(comm, "tlog-rec");
        }
        played_back.push_str(m["out_txt"].as_str().unwrap());
    }
    assert_eq!(
        played_back.as_bytes(),
        &printed[..],
        "every output byte is in the journal"
    );

    // The end entry: counts and reason, and never a TLOG_REC field.
    let end = &ends[0];
    assert!(end.get("TLOG_REC").is_none(), "{end}");
    assert!(starts[0].get("TLOG_REC").is_none());
    assert_eq!(
        text(end, "TLOG_RS_MESSAGES_WRITTEN"),
        msgs.len().to_string()
    );
    assert_eq!(text(end, "TLOG_RS_MESSAGES_DROPPED"), "0");
    assert_eq!(text(end, "TLOG_RS_EXIT_STATUS"), "7");
    assert_eq!(text(end, "TLOG_RS_END_REASON"), "exit");
    assert_eq!(text(end, "TLOG_RS_BYTES_OUT"), printed.len().to_string());
    assert!(text(end, "MESSAGE").starts_with(&format!("tlog-rs session end rec={rec} ")));
    let j: Value = serde_json::from_str(text(end, "TLOG_RS_JSON")).unwrap();
    assert_eq!(j["event"], "end");
    assert_eq!(j["messages_written"], msgs.len() as u64);

    // Debian's tlog-play, inside the namespace, plays exactly what was printed
    // (then its own terminal-reset trailer).
    let play = output_with_open_stdin(
        jd.command("tlog-play")
            .args(["-r", "journal", "-M", &tlog_rec]),
        Duration::from_secs(30),
    );
    assert!(
        play.status.success(),
        "tlog-play: {:?} {}",
        play.status,
        String::from_utf8_lossy(&play.stderr)
    );
    assert!(
        play.stdout.starts_with(&printed),
        "tlog-play printed {:?}",
        String::from_utf8_lossy(&play.stdout)
    );
    let trailer = &play.stdout[printed.len()..];
    assert!(
        trailer.starts_with(b"\x1b[0m"),
        "only tlog-play's reset follows: {trailer:?}"
    );
}

/// A uid with no account: the set-uid recorder's account in this test.
const RECORDER_UID: u32 = 64_999;

/// The login shell's default writer is the journal (like tlog-rec-session);
/// its entries carry its own SYSLOG_IDENTIFIER and the tlog fields.
#[test]
fn login_shell_records_to_the_journal_by_default() {
    if !require_root("login_shell_records_to_the_journal_by_default") {
        return;
    }
    let jd = Journald::start("e2e-login-shell");
    // Installed as in production: set-uid to a recorder account (here a
    // throwaway uid), so the recording process runs as that account.
    let dir = tlog_rs_tests::rec::TempDir::new("journal-setuid");
    let recorder = dir.path("tlog-rs-rec-session");
    std::fs::copy(artifact("tlog-rs-rec-session"), &recorder).unwrap();
    std::os::unix::fs::chown(&recorder, Some(RECORDER_UID), Some(0)).unwrap();
    std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let out = jd
        .command(&recorder)
        // More than one 2 KiB message, then a pause: the first message goes
        // out while the recorder still runs, so journald sees its name.
        .args([
            "-c",
            "echo from the login shell; head -c 3000 /dev/zero | tr '\\0' x; echo; sleep 1; exit 4",
        ])
        .env_remove("TLOG_RS_RECORDER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("from the login shell\nxxx"));
    let msgs = jd.wait_entries(&["SYSLOG_IDENTIFIER=tlog-rs-rec-session", "TLOG_ID=1"], 1);
    assert_eq!(msgs.len(), 1, "journald: {}", jd.log());
    let m: Value = serde_json::from_str(text(&msgs[0], "MESSAGE")).unwrap();
    assert!(m["out_txt"]
        .as_str()
        .is_some_and(|t| t.starts_with("from the login shell\n")));
    // The entries carry the recorder account's uid, which the recorded user
    // (here root, uid 0) cannot spoof: a central rsyslog can filter on it.
    assert_eq!(text(&msgs[0], "_UID"), RECORDER_UID.to_string());
    assert_eq!(text(&msgs[0], "TLOG_REC"), m["rec"].as_str().unwrap());
    // What Cockpit queries: _COMM=tlog-rec-sessio (the kernel's 15 bytes).
    let cockpit = jd.entries(&[
        "_COMM=tlog-rec-sessio",
        &format!("TLOG_USER={}", m["user"].as_str().unwrap()),
    ]);
    assert!(
        cockpit
            .iter()
            .any(|e| text(e, "TLOG_REC") == m["rec"].as_str().unwrap()),
        "Cockpit's query must list the recording"
    );
    let end_match = format!("TLOG_RS_REC={}", m["rec"].as_str().unwrap());
    let ends = jd.wait_entries(&["TLOG_RS_EVENT=end", &end_match], 1);
    assert_eq!(ends.len(), 1);
    assert_eq!(text(&ends[0], "TLOG_RS_EXIT_STATUS"), "4");
    assert_eq!(text(&ends[0], "SYSLOG_IDENTIFIER"), "tlog-rs-rec-session");
}
