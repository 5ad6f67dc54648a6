//! Cockpit Session Recording (issue 13, part 4): the exact journalctl
//! commands its pages run find our recordings, and what they read back
//! passes the player's checks and replays the session's output.
//!
//! The commands, as cockpit-session-recording builds them through Cockpit's
//! `journal.journalctl` (which adds `-q`, `--lines=all` for `count: "all"`,
//! `--output=json`, `--grep=` and `--` before the matches):
//! - the list (src/recordings.jsx): matches `_COMM=tlog-rec`,
//!   `_COMM=tlog-rec-sessio` (the kernel's 15-byte comm of
//!   tlog-rec-session), plus `TLOG_USER=<user>` when filtered by user, and
//!   `--grep=<text>` when searching. From each entry it takes TLOG_REC (the
//!   recording id; entries without it are skipped), TLOG_USER,
//!   TLOG_SESSION (an integer), _PID, _BOOT_ID, _HOSTNAME and
//!   __REALTIME_TIMESTAMP.
//! - the player (src/player.jsx): matches `TLOG_REC=<id>`; every entry must
//!   have a __CURSOR and a MESSAGE that parses as a tlog message: `ver`
//!   "M.m" with M <= 2, `id` strictly increasing, `pos` not decreasing,
//!   and `timing` whose entries consume `in_txt` and `out_txt` exactly.
//!   Its search adds `--grep=<text>` and reads `id` and `pos`.
//!
//! Our recorder is installed as in production: set-uid to its own account,
//! writing to a private journald (tests/src/daemons.rs), run on a pty.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use serde_json::Value;
use tlog_rs_tests::daemons::Journald;
use tlog_rs_tests::{artifact, require_program, require_root};

/// A uid no test world uses: the recorder account of this test.
const RECORDER_UID: u32 = 64_998;

/// Run a journalctl command line inside the journal's namespace, as Cockpit
/// would on that host, and parse its JSON lines the way Cockpit does
/// (lines starting with "-- " are skipped).
fn cockpit_journalctl(jd: &Journald, args: &[String]) -> Vec<Value> {
    let out = jd.command("journalctl").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("-- "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `journal.journalctl(matches, {follow: false, count: "all", grep})`.
fn cockpit_cmd(matches: &[&str], grep: Option<&str>) -> Vec<String> {
    let mut cmd: Vec<String> = ["-q", "--lines=all", "--output=json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(g) = grep {
        cmd.push(format!("--grep={g}"));
    }
    cmd.push("--".into());
    cmd.extend(matches.iter().map(|s| s.to_string()));
    cmd
}

fn field<'a>(e: &'a Value, k: &str) -> &'a str {
    e[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing or not text in {e}"))
}

/// One timing entry of the player's grammar: (kind, first number, second).
fn timing_entries(timing: &str) -> Vec<(char, u64, u64)> {
    let mut out = Vec::new();
    let mut rest = timing;
    while let Some(kind) = rest.chars().next() {
        assert!("+<[>]=".contains(kind), "invalid timing string {timing:?}");
        rest = &rest[1..];
        let num = |s: &str| -> (u64, usize) {
            let n = s.bytes().take_while(u8::is_ascii_digit).count();
            assert!(n > 0, "invalid timing string {timing:?}");
            (s[..n].parse().unwrap(), n)
        };
        let (a, n) = num(rest);
        rest = &rest[n..];
        let mut b = 0;
        let sep = match kind {
            '[' | ']' => Some('/'),
            '=' => Some('x'),
            _ => None,
        };
        if let Some(sep) = sep {
            assert!(rest.starts_with(sep), "invalid timing string {timing:?}");
            let (v, n) = num(&rest[1..]);
            b = v;
            rest = &rest[1 + n..];
        }
        out.push((kind, a, b));
    }
    out
}

/// What the player does with the entries of one recording; returns the
/// replayed output. Panics where the player reports an error.
fn replay(entries: &[Value]) -> String {
    let (mut last_id, mut last_pos) = (0u64, 0u64);
    let mut output = String::new();
    for e in entries {
        assert!(e.get("__CURSOR").is_some(), "No cursor in a Journal entry");
        let m: Value = serde_json::from_str(field(e, "MESSAGE")).expect("MESSAGE is JSON");
        let ver = m["ver"].as_str().expect("\"ver\" field");
        let (major, minor) = ver.split_once('.').expect("ver M.m");
        assert!(
            major.parse::<u32>().is_ok_and(|v| v <= 2) && minor.parse::<u32>().is_ok(),
            "\"ver\" field has invalid value: {ver}"
        );
        let id = m["id"].as_u64().expect("\"id\" field is a number");
        assert!(id > last_id, "out of order \"id\" field value: {id}");
        let pos = m["pos"].as_u64().expect("\"pos\" field is a number");
        assert!(pos >= last_pos, "out of order \"pos\" field value: {pos}");
        (last_id, last_pos) = (id, pos);
        let in_txt: Vec<char> = m["in_txt"].as_str().expect("in_txt").chars().collect();
        let out_txt: Vec<char> = m["out_txt"].as_str().expect("out_txt").chars().collect();
        let (mut i, mut o) = (0usize, 0usize);
        for (kind, a, _) in timing_entries(m["timing"].as_str().expect("timing")) {
            match kind {
                // Binary entries: the first number counts the replacement
                // characters in *_txt (the player reads that one).
                '<' | '[' => i += a as usize,
                '>' | ']' => {
                    let n = a as usize;
                    assert!(o + n <= out_txt.len(), "timing entry out of output bounds");
                    output.extend(&out_txt[o..o + n]);
                    o += n;
                }
                _ => {}
            }
            assert!(i <= in_txt.len(), "timing entry out of input bounds");
        }
        assert_eq!(i, in_txt.len(), "extra input present");
        assert_eq!(o, out_txt.len(), "extra output present");
    }
    output
}

#[test]
fn cockpits_list_player_and_search_queries_find_and_replay_our_recording() {
    // Asserts: after a recorded session (set-uid recorder, PTY mode, the
    // journal writer), Cockpit's list query (with and without the user
    // filter, and with a content search) returns entries of our recording
    // with every field the list reads; the player's query returns only
    // tlog messages that pass the player's checks and replay the session's
    // output; the player's search finds the message holding a word.
    // Control: the list query for another user finds nothing.
    if !require_root("cockpits_list_player_and_search_queries_find_and_replay_our_recording") {
        return;
    }
    require_program("script", "bsdutils");
    let jd = Journald::start("cockpit");
    let dir = tlog_rs_tests::rec::TempDir::new("cockpit-setuid");
    let recorder = dir.path("tlog-rs-rec-session");
    std::fs::copy(artifact("tlog-rs-rec-session"), &recorder).unwrap();
    std::os::unix::fs::chown(&recorder, Some(RECORDER_UID), Some(0)).unwrap();
    std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o4755)).unwrap();
    // A terminal, several messages, a pause so journald sees the process.
    let session = "echo cockpit-$((6*7))-mark; i=0; while [ $i -lt 60 ]; do \
                   echo line $i of the cockpit session; i=$((i+1)); done; sleep 1; exit 3";
    let out = jd
        .command("script")
        .args(["-qec"])
        .arg(format!("{} -c '{session}'", recorder.display()))
        .arg("/dev/null")
        .env_remove("TLOG_RS_RECORDER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(printed.contains("cockpit-42-mark"), "{printed}");
    let ends = jd.wait_entries(&["TLOG_RS_EVENT=end"], 1);
    assert_eq!(ends.len(), 1, "journald: {}", jd.log());
    let rec = field(&ends[0], "TLOG_RS_REC").to_string();

    // The list.
    let comm = ["_COMM=tlog-rec", "_COMM=tlog-rec-sessio"];
    let listed = cockpit_journalctl(&jd, &cockpit_cmd(&comm, None));
    let ours: Vec<&Value> = listed
        .iter()
        .filter(|e| e.get("TLOG_REC").and_then(Value::as_str) == Some(rec.as_str()))
        .collect();
    assert!(
        !ours.is_empty(),
        "Cockpit's list query does not find recording {rec}: {listed:#?}"
    );
    let user = field(ours[0], "TLOG_USER").to_string();
    for e in &ours {
        assert_eq!(field(e, "TLOG_USER"), user);
        assert!(field(e, "TLOG_SESSION").parse::<i64>().is_ok(), "{e}");
        assert!(field(e, "_PID").parse::<i64>().is_ok(), "{e}");
        assert!(
            field(e, "__REALTIME_TIMESTAMP").parse::<u64>().is_ok(),
            "{e}"
        );
        assert!(!field(e, "_BOOT_ID").is_empty() && !field(e, "_HOSTNAME").is_empty());
    }
    let by_user = format!("TLOG_USER={user}");
    let filtered = cockpit_journalctl(&jd, &cockpit_cmd(&[comm[0], comm[1], &by_user], None));
    assert!(filtered.iter().any(|e| e["TLOG_REC"] == rec.as_str()));
    let nobody = cockpit_journalctl(
        &jd,
        &cockpit_cmd(&[comm[0], comm[1], "TLOG_USER=nobody-here"], None),
    );
    assert!(nobody.is_empty(), "{nobody:#?}");
    let searched = cockpit_journalctl(&jd, &cockpit_cmd(&comm, Some("cockpit-42-mark")));
    assert!(
        searched.iter().any(|e| e["TLOG_REC"] == rec.as_str()),
        "content search: {searched:#?}"
    );

    // The player.
    let by_rec = format!("TLOG_REC={rec}");
    let entries = cockpit_journalctl(&jd, &cockpit_cmd(&[&by_rec], None));
    assert!(entries.len() >= 2, "several messages: {entries:#?}");
    let replayed = replay(&entries);
    assert!(
        replayed.contains("cockpit-42-mark") && replayed.contains("line 59 of the cockpit session"),
        "replayed output:\n{replayed}"
    );
    // The mark is printed by one write at the start, far from the 2 KiB
    // message boundary: one message holds it.
    let hits = cockpit_journalctl(&jd, &cockpit_cmd(&[&by_rec], Some("cockpit-42-mark")));
    assert_eq!(hits.len(), 1, "player search: {hits:#?}");
    let m: Value = serde_json::from_str(field(&hits[0], "MESSAGE")).unwrap();
    assert!(m["out_txt"].as_str().unwrap().contains("cockpit-42-mark"));
    assert!(m["id"].as_u64().is_some() && m["pos"].as_u64().is_some());
}

#[test]
fn the_timing_reader_follows_the_players_grammar() {
    // Asserts: the test's own reader of the player's timing grammar accepts
    // every entry kind and rejects garbage, so replay() checks what the
    // player checks.
    assert_eq!(
        timing_entries("=80x24<1+20>5[2/3]4/1"),
        [
            ('=', 80, 24),
            ('<', 1, 0),
            ('+', 20, 0),
            ('>', 5, 0),
            ('[', 2, 3),
            (']', 4, 1)
        ]
    );
    assert!(std::panic::catch_unwind(|| timing_entries("x5")).is_err());
    assert!(std::panic::catch_unwind(|| timing_entries("=80")).is_err());
}
