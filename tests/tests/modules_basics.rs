//! End-to-end: real sshd + our NSS and PAM modules + the recorder, in a
//! private mount namespace with throwaway users. A selected user's session is
//! recorded and plays back with Debian's tlog-play; others are untouched.

use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{file_settings, World, WorldConfig};
use tlog_rs_tests::text;

fn policy_alice_and_dbas() -> String {
    format!(
        "[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\naction = \"record\"\n[rule.settings]\n{}\
         [[rule]]\nname = \"dbas\"\ngroups = [\"dbas\"]\naction = \"record\"\n[rule.settings]\n{}",
        file_settings("alice"),
        file_settings("dora")
    )
}

fn world(tag: &str) -> World {
    let mut cfg = WorldConfig::new(tag);
    cfg.capture_syslog = true;
    cfg.user("alice", &[])
        .user("bob", &[])
        .user("dora", &["dbas"])
        .group("dbas");
    cfg.policy(&policy_alice_and_dbas());
    World::start(cfg)
}

#[test]
fn selected_user_tty_session_is_recorded_and_plays_back() {
    if !require_root("selected_user_tty_session_is_recorded_and_plays_back") {
        return;
    }
    let w = world("basics-tty");
    let out = w.ssh(
        "alice",
        &["-tt"],
        Some("echo marker-$((6*7)); tty; echo shell=$0"),
        b"",
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("marker-42"),
        "ssh output: {stdout}\nstderr: {}\nsshd: {}",
        text(&out.stderr),
        w.sshd_log()
    );
    assert!(stdout.contains("/dev/pts/"), "not a tty session: {stdout}");
    assert!(out.status.success(), "exit: {:?}", out.status);
    // The real shell ran (bash), not the recorder again.
    assert!(
        stdout.contains("shell=bash") || stdout.contains("shell=/bin/bash"),
        "{stdout}"
    );

    let rec = w.recording("alice");
    assert!(
        !rec.is_empty(),
        "no recording for alice; sshd log:\n{}",
        w.sshd_log()
    );
    let first: serde_json::Value =
        serde_json::from_str(rec.lines().next().unwrap()).expect("JSON line");
    assert_eq!(first["user"], "alice");
    assert_eq!(first["ver"], "2.3");

    let play = w.play("alice");
    assert!(
        play.status.success(),
        "tlog-play failed: {}",
        text(&play.stderr)
    );
    assert!(
        text(&play.stdout).contains("marker-42"),
        "tlog-play output: {}",
        text(&play.stdout)
    );
}

#[test]
fn unselected_user_gets_plain_shell_and_no_recording() {
    if !require_root("unselected_user_gets_plain_shell_and_no_recording") {
        return;
    }
    let w = world("basics-plain");
    let out = w.ssh(
        "bob",
        &[],
        Some("echo hello-$USER; echo shell=$SHELL; env | grep -c ^TLOG_ || true"),
        b"",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", text(&out.stderr));
    assert!(stdout.contains("hello-bob"), "{stdout}");
    assert!(stdout.contains("shell=/bin/bash"), "{stdout}");
    // No TLOG_* variable reaches an unrecorded user.
    assert!(stdout.lines().any(|l| l.trim() == "0"), "{stdout}");
    assert_eq!(w.recording("bob"), "", "bob must not be recorded");
    // NSS shows bob's real shell, alice's recorder.
    let getent = w.ns_sh("getent passwd bob alice 2002");
    let g = text(&getent.stdout);
    assert!(
        g.contains("bob:x:2002:2002:bob (test):") && g.contains(":/bin/bash"),
        "{g}"
    );
    let alice_line = g
        .lines()
        .find(|l| l.starts_with("alice:"))
        .expect("alice in getent");
    assert!(
        alice_line.ends_with("/bin/tlog-rs-rec-session"),
        "{alice_line}"
    );
    assert!(
        w.handoffs().is_empty(),
        "hand-off left behind: {:?}",
        w.handoffs()
    );
}

#[test]
fn command_without_tty_is_recorded_and_exit_code_passes_through() {
    if !require_root("command_without_tty_is_recorded_and_exit_code_passes_through") {
        return;
    }
    let w = world("basics-notty");
    let out = w.ssh(
        "alice",
        &["-T"],
        Some("echo notty-out-$((3+4)); exit 7"),
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "stdout {} stderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("notty-out-7"));
    let rec = w.recording("alice");
    assert!(
        rec.contains("notty-out-7"),
        "recording: {rec}\nsshd: {}",
        w.sshd_log()
    );
    // Group-selected user, too.
    let out = w.ssh("dora", &[], Some("echo dora-was-here; false"), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(w.recording("dora").contains("dora-was-here"));
    // close_session removed the hand-offs.
    assert!(
        w.handoffs().is_empty(),
        "hand-offs left: {:?}",
        w.handoffs()
    );
}

#[test]
fn each_decision_is_logged_to_authpriv_with_user_service_tty_rhost_and_rule() {
    if !require_root("each_decision_is_logged_to_authpriv_with_user_service_tty_rhost_and_rule") {
        return;
    }
    let w = world("basics-syslog");
    assert!(w.ssh("alice", &[], Some("true"), b"").status.success());
    assert!(w.ssh("bob", &[], Some("true"), b"").status.success());
    let lines = w.syslog();
    let ours: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("pam_tlog(sshd:session)"))
        .collect();
    let alice = ours
        .iter()
        .find(|l| l.contains("user=alice"))
        .unwrap_or_else(|| panic!("no alice decision: {lines:#?}"));
    let bob = ours
        .iter()
        .find(|l| l.contains("user=bob"))
        .unwrap_or_else(|| panic!("no bob decision: {lines:#?}"));
    for l in [alice, bob] {
        assert!(
            l.contains("service=sshd") && l.contains("tty=ssh") && l.contains("rhost=127.0.0.1"),
            "{l}"
        );
        // <PRI>: facility authpriv (10) -> PRI / 8 == 10.
        let pri: u32 = l[1..l.find('>').unwrap()].parse().unwrap();
        assert_eq!(pri / 8, 10, "not authpriv: {l}");
    }
    assert!(
        alice.contains("record=yes") && alice.contains("rule 'alice'"),
        "{alice}"
    );
    assert!(bob.contains("record=no"), "{bob}");
}
