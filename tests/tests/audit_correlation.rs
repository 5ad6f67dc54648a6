//! Audit correlation, end to end (issue 11 acceptance): a private auditd
//! (Debian's, own config and log dir, node = host name) with the rules of
//! `tlog-rs audit-rules` for a user selected at audit level "session"; a real
//! sshd with Debian's PAM stack (pam_loginuid, pam_unix) and pam_tlog. The
//! user first fails one password login, then logs in with her key and runs
//! `touch f`, `rm f` and a program that connects to a loopback listener of
//! the test. Then `tlog-rs index` (the recording's JSON Lines and the raw
//! audit.log), and:
//! * `show REC --audit` joins by `ses`, shows the commands with argv, cwd and
//!   exit status after the input lines that started them, the created and
//!   deleted file, the socket, and the failed authentication before the
//!   session;
//! * `search --exec /usr/bin/rm` finds the session with the run at the same
//!   offset; `search --auth-failures` finds it too.
//!
//! The host's audit state is restored exactly (tests/src/audit_state.rs).
//! Skips where audit netlink is refused (containers), rules are locked, or
//! an auditd already runs.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use serde_json::Value;
use tlog_rs_tests::audit_state::{wait_for, AuditState};
use tlog_rs_tests::nsenv::NsEnv;
use tlog_rs_tests::sshd::{file_settings, World, WorldConfig};
use tlog_rs_tests::{artifact, require_program, require_root, text};

const TEST: &str = "audit_correlation_show_and_search";

fn tlog_rs(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(artifact("tlog-rs"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One failed password attempt (the askpass program answers a wrong one).
fn failed_password_login(w: &World, askpass: &std::path::Path) {
    let out = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "BatchMode=no",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "ConnectTimeout=10",
            "-p",
            &w.port.to_string(),
            "alice@127.0.0.1",
            "true",
        ])
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env_remove("DISPLAY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the wrong password was accepted: {}",
        text(&out.stderr)
    );
}

#[test]
fn audit_correlation_show_and_search() {
    if !require_root(TEST) {
        return;
    }
    require_program("auditd", "auditd");
    require_program("bash", "bash");
    let Some(mut audit) = AuditState::prepare(TEST) else {
        return;
    };
    let env = NsEnv::new("audit-corr");
    let dir = env.root().to_path_buf();
    // auditd first: sshd and every login are then audited.
    let log = audit.start_auditd(&dir, None);

    let mut cfg = WorldConfig::new("audit-corr");
    cfg.user("alice", &[]);
    cfg.stock_pam = true;
    // Password logins only for the failed attempt (the real one uses a key).
    cfg.sshd_extra = "Match User alice\n    PasswordAuthentication yes".into();
    cfg.policy(&format!(
        "[[rule]]\nname = \"ops\"\nusers = [\"alice\"]\naudit_level = \"session\"\n[rule.settings]\nlog_input = true\n{}",
        file_settings("alice")
    ));
    let w = World::start(cfg);
    let uid = w.users[0].uid;

    // The rules of the policy, generated where alice exists (the world).
    let rules = dir.join("50-tlog-rs.rules");
    let out = w.ns_sh(&format!(
        "{} audit-rules --output {}",
        artifact("tlog-rs").display(),
        rules.display()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    assert!(
        rules_text.contains(&format!("auid={uid}")) || rules_text.contains(&format!(">={uid}")),
        "{rules_text}"
    );
    audit.load_rules(&rules);

    let askpass = dir.join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\necho not-her-password\n").unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755)).unwrap();
    failed_password_login(&w, &askpass);
    wait_for(&log, "the failed USER_AUTH", |t| {
        t.lines().any(|l| {
            l.contains("type=USER_AUTH") && l.contains("acct=\"alice\"") && l.contains("res=failed")
        })
    });

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut b = Vec::new();
        let _ = s.read_to_end(&mut b);
    });
    let input = format!("touch f\nrm f\nbash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'\nexit\n");
    let out = w.ssh("alice", &["-tt"], None, input.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    accept.join().unwrap();
    // sshd closes the PAM session after the shell and the recorder ended.
    wait_for(&log, "alice's USER_END", |t| {
        t.lines()
            .any(|l| l.contains("type=USER_END") && l.contains("acct=\"alice\""))
    });
    audit.restore_and_check();

    // Index the recording and the raw audit log.
    let db = dir.join("index.db");
    let db_s = db.to_str().unwrap();
    let rec_dir = w.rec_path("alice").parent().unwrap().to_path_buf();
    let (code, so, se) = tlog_rs(&[
        "index",
        "--db",
        db_s,
        "--jsonl",
        rec_dir.to_str().unwrap(),
        "--audit-log",
        log.to_str().unwrap(),
        "--stats",
    ]);
    assert_eq!(code, 0, "{so}{se}");
    assert!(so.contains("audit: "), "{so}");
    let events =
        std::fs::read_to_string(format!("{}.events", w.rec_path("alice").display())).unwrap();
    let start: Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    let rec = start["rec"].as_str().unwrap().to_string();
    let ses = start["session"].as_u64().unwrap();
    assert!(
        ses > 0 && ses < u32::MAX as u64,
        "pam_loginuid gave no ses: {start}"
    );

    // show --audit --json
    let (code, so, se) = tlog_rs(&["show", "--db", db_s, "--audit", "--json", &rec]);
    assert_eq!(code, 0, "{se}");
    let lines = json_lines(&so);
    let head = &lines[0];
    assert_eq!(head["rec"], rec.as_str());
    assert_eq!(head["session"], ses);
    assert_eq!(head["join"], "ses", "{head}");
    // One wrong password: PAM's USER_AUTH and sshd's own USER_LOGIN are one
    // attempt.
    assert_eq!(head["auth_failures"], 1, "{so}");
    let entries = &lines[1..];
    let offset = |e: &Value| e["offset"].as_f64().unwrap();
    let input_at = |l: &str| {
        entries
            .iter()
            .find(|e| e["source"] == "input" && e["text"] == l)
            .map(offset)
            .unwrap_or_else(|| panic!("no input line {l:?} in {so}"))
    };
    let exec = |argv: Value| {
        entries
            .iter()
            .find(|e| e["kind"] == "exec" && e["event"]["argv"] == argv)
            .unwrap_or_else(|| panic!("no exec {argv} in {so}"))
    };
    let home = w.dir.join("home/alice").display().to_string();
    let touch = exec(serde_json::json!(["touch", "f"]));
    let rm = exec(serde_json::json!(["rm", "f"]));
    assert_eq!(touch["event"]["cwd"], home.as_str());
    assert_eq!(touch["event"]["auid"], uid);
    assert_eq!(touch["event"]["ses"], ses);
    assert_eq!(rm["event"]["exe"], "/usr/bin/rm");
    // Each command runs after its input line was submitted, in order.
    assert!(input_at("touch f") <= offset(touch), "{so}");
    assert!(input_at("rm f") <= offset(rm), "{so}");
    // The input arrives at once: the commands may share a millisecond, so
    // the audit serial orders them.
    let serial = |e: &Value| -> u64 {
        let id = e["event"]["id"].as_str().unwrap();
        id.rsplit(':').next().unwrap().parse().unwrap()
    };
    assert!(offset(touch) >= 0.0 && offset(touch) <= offset(rm), "{so}");
    assert!(serial(touch) < serial(rm), "{so}");
    let file = |comm: &str, nametype: &str| {
        entries.iter().any(|e| {
            e["kind"] == "file"
                && e["event"]["comm"] == comm
                && e["event"]["paths"].as_array().is_some_and(|p| {
                    p.iter()
                        .any(|p| p["name"] == "f" && p["nametype"] == nametype)
                })
        })
    };
    assert!(file("touch", "CREATE"), "no creation of f: {so}");
    assert!(file("rm", "DELETE"), "no deletion of f: {so}");
    let connect = entries
        .iter()
        .find(|e| {
            e["kind"] == "net"
                && e["event"]["sockaddr"]
                    == serde_json::json!({"family": "inet", "addr": "127.0.0.1", "port": port})
        })
        .unwrap_or_else(|| panic!("no connect to port {port}: {so}"));
    assert!(offset(connect) >= offset(rm), "{so}");
    assert!(serial(connect) > serial(rm), "{so}");
    let failure = entries
        .iter()
        .find(|e| e["role"] == "auth" && e["failed"] == true)
        .unwrap_or_else(|| panic!("no failed authentication: {so}"));
    assert_eq!(failure["event"]["acct"], "alice");
    assert_eq!(failure["event"]["addr"], "127.0.0.1");
    assert!(offset(failure) < 0.0, "{failure}");

    // The text timeline and its summary.
    let (code, so, se) = tlog_rs(&["show", "--db", db_s, "--audit", &rec]);
    assert_eq!(code, 0, "{se}");
    for want in [
        "joined by ses",
        "1 failed authentication",
        "FAILED",
        "input   touch f",
        "commands:",
        "process tree:",
        &format!("inet 127.0.0.1:{port}"),
    ] {
        assert!(so.contains(want), "no {want:?} in\n{so}");
    }
    assert!(
        so.lines()
            .any(|l| l.contains("rm f") && l.contains("exit=0")),
        "rm's exit status: {so}"
    );

    // search --exec and --auth-failures
    let (code, so, se) = tlog_rs(&["search", "--db", db_s, "--json", "--exec", "/usr/bin/rm"]);
    assert_eq!(code, 0, "{se}");
    let hits = json_lines(&so);
    assert_eq!(hits.len(), 1, "{so}");
    assert_eq!(hits[0]["rec"], rec.as_str());
    assert_eq!(hits[0]["matches"][0]["snippet"], "rm f");
    assert_eq!(hits[0]["matches"][0]["offset"], rm["offset"]);
    let (code, so, _) = tlog_rs(&["search", "--db", db_s, "--json", "--exec", "/usr/bin/shred"]);
    assert_eq!(code, 1, "{so}");
    let (code, so, se) = tlog_rs(&["search", "--db", db_s, "--json", "--auth-failures"]);
    assert_eq!(code, 0, "{se}");
    assert_eq!(json_lines(&so)[0]["rec"], rec.as_str());
    drop(w);
}
