//! The graphical-session exception must not be claimable by a recorded user.
//!
//! A rule with `graphical = "skip"` leaves graphical logins to the desktop
//! recorder. Over ssh or su, the user claims a desktop session with every
//! variable she controls (XDG_SESSION_TYPE=x11, XDG_SESSION_CLASS=greeter,
//! DISPLAY) through ~/.pam_environment, ~/.ssh/environment, SetEnv, or a su
//! caller that keeps them (`su - -w`).
//!
//! Asserts, for ssh with and without a tty and `su -`: the session's
//! commands are recorded, with start and end entries.

mod hardening_common;

use hardening_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{file_settings, World};

const CLAIM: &[(&str, &str)] = &[
    ("XDG_SESSION_TYPE", "x11"),
    ("XDG_SESSION_CLASS", "greeter"),
    ("DISPLAY", ":0"),
];

#[test]
fn a_claimed_desktop_session_is_recorded() {
    if !require_root("a_claimed_desktop_session_is_recorded") {
        return;
    }
    let mut cfg = config("h9-graphical", 2840, &["alice"], "");
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\ngraphical = \"skip\"\n[rule.settings]\n{}",
        file_settings("alice")
    ));
    let w = World::start(cfg);
    let pam_env: String = CLAIM
        .iter()
        .map(|(k, v)| format!("{k} DEFAULT={v}\n"))
        .collect();
    home_file(&w, "alice", ".pam_environment", &pam_env, 0o644);
    let ssh_env: String = CLAIM.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    home_file(&w, "alice", ".ssh/environment", &ssh_env, 0o600);
    for (i, way) in ALL_WAYS.into_iter().enumerate() {
        let (s0, e0) = event_counts(&w, "alice");
        let out = session(
            &w,
            "alice",
            way,
            Some(&format!(
                "echo desktop-{i}-$((6*7))-mark XDG_SESSION_TYPE=$XDG_SESSION_TYPE"
            )),
            b"",
            CLAIM,
        );
        let client = seen(&out);
        let mark = format!("desktop-{i}-42-mark");
        assert!(
            client.contains(&mark),
            "{way:?}: the session did not run: {client}"
        );
        let rec = w.recording("alice");
        assert!(
            rec.contains(&mark),
            "{way:?}: a session claiming to be graphical ran unrecorded;\nclient saw: {client}\nrecording:\n{rec}"
        );
        let (s1, e1) = event_counts(&w, "alice");
        assert!(
            s1 > s0 && e1 > e0,
            "{way:?}: no start/end entry:\n{}",
            events(&w, "alice")
        );
    }
}
