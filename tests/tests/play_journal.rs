//! `tlog-rs play -r journal` and `tlog-rs list -r journal` against a real,
//! private systemd-journald (own mount namespace): Debian's tlog-rec writes
//! a recording there; we must play it exactly like tlog-play -r journal,
//! select it with -M, honour -S/-U, and list it with its end entry.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tlog_rs_tests::daemons::{send_datagram, Journald};
use tlog_rs_tests::play::{run_open_stdin, tlog_rs, OUR_EXIT, TLOG_EXIT};
use tlog_rs_tests::require_program;
use tlog_rs_tests::require_root;

/// Run `prog args` inside the journald's namespace (it sees the private
/// journal) with an open stdin.
fn inside(jd: &Journald, prog: &Path, args: &[&str]) -> Output {
    run_open_stdin(jd.command(prog).args(args))
}

/// One native-protocol datagram (fields without newlines in their values).
fn native(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut d = Vec::new();
    for (k, v) in fields {
        d.extend_from_slice(format!("{k}={v}\n").as_bytes());
    }
    d
}

#[test]
fn journal_recordings_play_and_list_like_files() {
    if !require_root("journal_recordings_play_and_list_like_files") {
        return;
    }
    let tlog_rec = require_program("tlog-rec", "tlog");
    let tlog_play = require_program("tlog-play", "tlog");
    let jd = Journald::start("play-journal");
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cmd = r#"printf 'caf\303\251 \377 \033[1mbold\033[0m\n'; for i in $(seq 1 20); do echo "journal line $i the quick brown fox"; done; sleep 0.3; echo bye"#;
    let st = jd
        .command(&tlog_rec)
        .args(["-w", "journal", "--payload=128", "/bin/bash", "-c", cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "tlog-rec -w journal: {}", jd.log());
    // A second recording in the same journal must not get in the way.
    let st = jd
        .command(&tlog_rec)
        .args(["-w", "journal", "/bin/echo", "other recording"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let entries = jd.wait_entries(&["SYSLOG_IDENTIFIER=tlog-rec"], 3);
    let rec = entries[0]["TLOG_REC"]
        .as_str()
        .expect("tlog-rec augments with TLOG_REC")
        .to_string();
    let n = entries
        .iter()
        .filter(|e| e["TLOG_REC"] == rec.as_str())
        .count();
    assert!(n >= 3, "several messages in the journal");

    let m = format!("TLOG_REC={rec}");
    let theirs = inside(&jd, &tlog_play, &["-r", "journal", "-M", &m, "-g", "end"]);
    let ours = inside(
        &jd,
        &tlog_rs(),
        &["play", "-r", "journal", "-M", &m, "-g", "end"],
    );
    assert!(
        theirs.status.success(),
        "tlog-play: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert!(
        ours.status.success(),
        "tlog-rs: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    assert!(theirs.stdout.ends_with(TLOG_EXIT));
    assert_eq!(
        ours.stdout,
        theirs.stdout[..theirs.stdout.len() - 1],
        "same output as tlog-play -r journal"
    );
    assert!(ours.stdout.starts_with("café".as_bytes()));
    // Since/until: a window after the recording holds nothing.
    let later = (before + 3600).to_string();
    let none = inside(
        &jd,
        &tlog_rs(),
        &["play", "-r", "journal", "-M", &m, "-g", "end", "-S", &later],
    );
    assert!(none.status.success());
    assert_eq!(none.stdout, OUR_EXIT);
    let since = inside(
        &jd,
        &tlog_rs(),
        &[
            "play",
            "-r",
            "journal",
            "-M",
            &m,
            "-g",
            "end",
            "-S",
            &(before - 5).to_string(),
            "-U",
            &later,
        ],
    );
    assert_eq!(since.stdout, ours.stdout);
    // Bad match syntax is refused before journalctl runs.
    let bad = inside(
        &jd,
        &tlog_rs(),
        &["play", "-r", "journal", "-M", "tlog_rec=x"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid journal match field \"tlog_rec\"")
    );

    // list: both recordings; the first gets an end entry (as our journal
    // writer sends it) and is then complete.
    let rows = |jd: &Journald| -> Vec<serde_json::Value> {
        let o = inside(jd, &tlog_rs(), &["list", "-r", "journal", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let r = rows(&jd);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0]["rec"], rec.as_str());
    assert_eq!(r[0]["messages"].as_u64(), Some(n as u64));
    assert_eq!(r[0]["complete"], false, "no end entry yet");
    let end = format!(
        "{{\"event\":\"end\",\"rec\":\"{rec}\",\"user\":\"root\",\"host\":\"vm\",\"tty\":null,\"session\":1,\"start\":{before}.000,\"end\":{}.000,\"exit_status\":0,\"end_reason\":\"exit\",\"signal\":null,\"bytes_in\":0,\"bytes_out\":1,\"messages_written\":{n},\"messages_dropped\":0,\"messages_lost\":0}}",
        before + 1
    );
    send_datagram(
        &jd.socket(),
        &native(&[
            ("MESSAGE", &format!("tlog-rs session end rec={rec}")),
            ("TLOG_RS_EVENT", "end"),
            ("TLOG_RS_REC", &rec),
            ("TLOG_RS_JSON", &end),
        ]),
    )
    .unwrap();
    jd.wait_entries(&["TLOG_RS_EVENT=end"], 1);
    std::thread::sleep(Duration::from_millis(100));
    let r = rows(&jd);
    assert_eq!(r[0]["complete"], true, "{}", r[0]);
    assert_eq!(r[0]["end_reason"], "exit");
    // And playback ignores the event entry.
    let again = inside(
        &jd,
        &tlog_rs(),
        &[
            "play",
            "-r",
            "journal",
            "-M",
            &format!("TLOG_RS_REC={rec}"),
            "-M",
            "OR",
            "-M",
            &m,
            "-g",
            "end",
        ],
    );
    assert_eq!(
        again.stdout,
        ours.stdout,
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn follow_a_recording_in_the_journal() {
    use std::io::{BufRead, BufReader};
    if !require_root("follow_a_recording_in_the_journal") {
        return;
    }
    let tlog_rec = require_program("tlog-rec", "tlog");
    let jd = Journald::start("play-journal-follow");
    let mut player = jd
        .command(tlog_rs())
        .args([
            "play",
            "-f",
            "-r",
            "journal",
            "-M",
            "SYSLOG_IDENTIFIER=tlog-rec",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _keep_open = player.stdin.take();
    let out = player.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut rec = jd
        .command(&tlog_rec)
        .args([
            "-w",
            "journal",
            "--latency=1",
            "/bin/bash",
            "-c",
            "for i in $(seq 1 8); do echo jf-$i; sleep 0.2; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    let mut first_before_end = false;
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while got.len() < 8 && std::time::Instant::now() < until {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(50)) {
            if got.is_empty() {
                first_before_end = rec.try_wait().unwrap().is_none();
            }
            got.push(l);
        }
    }
    assert!(rec.wait().unwrap().success());
    assert_eq!(
        got,
        (1..=8).map(|i| format!("jf-{i}")).collect::<Vec<_>>(),
        "{}",
        jd.log()
    );
    assert!(first_before_end, "the first line arrived while recording");
    // SAFETY: kill on the pid of the child we spawned (nsenter, which
    // passes the signal on to tlog-rs).
    unsafe { libc::kill(player.id() as libc::pid_t, libc::SIGTERM) };
    let _ = player.wait();
}
