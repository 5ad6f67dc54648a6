//! End-to-end: what happens when something is broken or missing.
//! - no policy file / a malformed one: every login is recorded (the policy
//!   crate's fail-secure decision), and root can still log in on the console
//!   path (`su -`, and the `login` service driven by pamtester); with the
//!   production install (set-uid recorder, log directory of the recorder
//!   account) both land in one shared log the users cannot write;
//! - the policy selects a user but NSS did not swap the shell (nsswitch line
//!   missing): fail=closed refuses the session with a message to the user;
//!   fail=open lets it through (documented trade-off).

use tlog_rs_tests::sshd::{World, WorldConfig};
use tlog_rs_tests::text;
use tlog_rs_tests::{require_program, require_root};

/// Without a trusted policy the recorder's own config decides where to
/// write: one shared log for every session, as in production.
fn shared_recording(cfg: &mut WorldConfig) {
    cfg.setuid_recorder = true;
    cfg.etc_file(
        "tlog-rs/rec-session.conf",
        r#"{"writer":"file","file":{"path":"{T}/rec/shared/session.log"}}"#,
        0o644,
    );
}

/// The production layout (`make install`): the log directory belongs to the
/// recorder account and nobody else can write it; the recorder creates the
/// log and its sidecar itself.
fn open_shared(w: &World) -> std::path::PathBuf {
    let dir = w.dir.join("rec/shared");
    let a = w.recorder_account.expect("a setuid_recorder world");
    let out = w.ns_sh(&format!(
        "mkdir -p {d} && chown {u}:{g} {d} && chmod 750 {d}",
        d = dir.display(),
        u = a.uid,
        g = a.gid
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir.join("session.log")
}

/// Both files of the shared log were created by the recorder account, 0600.
fn check_log_owned_by_recorder(w: &World, log: &std::path::Path, what: &str) {
    use std::os::unix::fs::MetadataExt;
    let a = w.recorder_account.expect("a setuid_recorder world");
    let mut events = log.as_os_str().to_owned();
    events.push(".events");
    for f in [log, std::path::Path::new(&events)] {
        let m = std::fs::metadata(f).unwrap_or_else(|e| panic!("{what}: {}: {e}", f.display()));
        assert_eq!(
            (m.uid(), m.mode() & 0o7777),
            (a.uid, 0o600),
            "{what}: {}",
            f.display()
        );
    }
}

fn check_everyone_recorded(w: &World, what: &str) {
    let log = open_shared(w);
    let out = w.ssh("bob", &[], Some("echo bob-failsafe-mark"), b"");
    assert!(
        text(&out.stdout).contains("bob-failsafe-mark"),
        "{what}: bob could not log in: {}",
        text(&out.stderr)
    );
    // Root, console path: su - (service su-l) ...
    let out = w.ns_sh("su - -c 'echo root-failsafe-mark; id -u' </dev/null");
    let o = text(&out.stdout);
    assert!(
        o.contains("root-failsafe-mark") && o.contains('0'),
        "{what}: root su - failed: {o} {}",
        text(&out.stderr)
    );
    // ... and the login service (what login(1) runs), through pamtester.
    require_program("pamtester", "pamtester");
    let out = w.ns_sh("pamtester login root open_session close_session </dev/null");
    assert!(
        out.status.success(),
        "{what}: pamtester login root: {} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let rec = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        rec.contains("bob-failsafe-mark"),
        "{what}: bob not recorded: {rec}"
    );
    assert!(
        rec.contains("root-failsafe-mark"),
        "{what}: root's su - not recorded: {rec}"
    );
    check_log_owned_by_recorder(w, &log, what);
    // One log, both sessions complete (start and end entries).
    let mut events = log.as_os_str().to_owned();
    events.push(".events");
    let ev = std::fs::read_to_string(&events).unwrap_or_default();
    for user in ["bob", "root"] {
        for kind in ["start", "end"] {
            let entry = format!("{{\"event\":\"{kind}\",");
            let who = format!("\"user\":\"{user}\",");
            assert!(
                ev.lines()
                    .any(|l| l.starts_with(&entry) && l.contains(&who)),
                "{what}: no {kind} entry for {user}: {ev}"
            );
        }
    }
    // NSS agrees: everyone's shell is the recorder.
    let g = text(&w.ns_sh("getent passwd root bob").stdout);
    assert_eq!(
        g.lines()
            .filter(|l| l.ends_with("tlog-rs-rec-session"))
            .count(),
        2,
        "{what}: {g}"
    );
}

#[test]
fn missing_policy_records_everyone_and_root_still_logs_in() {
    if !require_root("missing_policy_records_everyone_and_root_still_logs_in") {
        return;
    }
    let mut cfg = WorldConfig::new("failsafe-missing");
    cfg.user("bob", &[]);
    // Without a policy the default recorder path is used: install ours there.
    cfg.policy = None;
    cfg.default_recorder = true;
    shared_recording(&mut cfg);
    let w = World::start(cfg);
    check_everyone_recorded(&w, "missing policy");
}

#[test]
fn malformed_policy_records_everyone_and_root_still_logs_in() {
    if !require_root("malformed_policy_records_everyone_and_root_still_logs_in") {
        return;
    }
    let mut cfg = WorldConfig::new("failsafe-broken");
    cfg.user("bob", &[]);
    cfg.policy = None;
    cfg.default_recorder = true;
    cfg.etc_file(
        "tlog-rs/policy.toml",
        "[[rule]]\nname = \"x\"\nusers = [\"nobody\"\naction = \"exempt\"\n",
        0o644,
    );
    shared_recording(&mut cfg);
    let w = World::start(cfg);
    check_everyone_recorded(&w, "malformed policy");
}

fn world_without_nss(tag: &str, pam_args: &str) -> World {
    let mut cfg = WorldConfig::new(tag);
    cfg.user("alice", &[]);
    cfg.nss_passwd = "files".into();
    cfg.pam_tlog_args = Some(pam_args.into());
    cfg.policy("[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n");
    World::start(cfg)
}

#[test]
fn selected_user_without_shell_swap_is_refused_when_fail_closed() {
    if !require_root("selected_user_without_shell_swap_is_refused_when_fail_closed") {
        return;
    }
    let w = world_without_nss("failsafe-closed", "");
    let out = w.ssh("alice", &[], Some("echo must-not-run"), b"");
    assert!(
        !text(&out.stdout).contains("must-not-run"),
        "session ran unrecorded: {}",
        text(&out.stdout)
    );
    assert!(!out.status.success());
    let out = w.ns_sh("su - alice -c 'echo must-not-run-su' 2>&1 </dev/null");
    let o = text(&out.stdout);
    assert!(
        !o.contains("must-not-run-su"),
        "su session ran unrecorded: {o}"
    );
    assert!(
        o.contains("Session recording could not be set up"),
        "no message to the user: {o}"
    );
}

#[test]
fn selected_user_without_shell_swap_gets_through_when_fail_open() {
    if !require_root("selected_user_without_shell_swap_gets_through_when_fail_open") {
        return;
    }
    let w = world_without_nss("failsafe-open", "fail=open");
    let out = w.ssh("alice", &[], Some("echo runs-unrecorded"), b"");
    assert!(
        text(&out.stdout).contains("runs-unrecorded"),
        "{}",
        text(&out.stderr)
    );
}
