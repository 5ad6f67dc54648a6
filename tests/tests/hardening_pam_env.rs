//! Issue 9, attack 5: the PAM order defeats the hand-off.
//!
//! pam_tlog sits in common-session (the README's placement), so sshd's later
//! `pam_env user_readenv=1` applies ~/.pam_environment after it: the user
//! sets a garbage TLOG_RS_HANDOFF, recorder settings with input logging off
//! and /bin/sh as the real shell. The policy says `log_input = true`.
//!
//! Asserts, for ssh with and without a tty and `su -` (where the caller keeps
//! the same variables with `su -w`): what the user typed IS in the
//! recording (`in_txt`), and the shell is the passwd one (bash), not the
//! environment's /bin/sh.

mod hardening_common;

use hardening_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::World;

const INPUT_OFF: &str = r#"{"log":{"input":false}}"#;

/// (name, value) the attacker sets.
fn attack_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TLOG_RS_HANDOFF", "0123456789abcdef0123456789abcdef"),
        ("TLOG_REC_SESSION_CONF_TEXT", INPUT_OFF),
        ("TLOG_REC_CONF_TEXT", INPUT_OFF),
        ("TLOG_REC_SESSION_SHELL", "/bin/sh"),
        ("TLOG_REC_SHELL", "/bin/sh"),
    ]
}

fn world(tag: &str, base_uid: u32) -> World {
    let mut cfg = config(tag, base_uid, &["alice"], "log_input = true\n");
    cfg.pam_in_common_session = true;
    // The admin's system config records to the same file: a recorder that
    // distrusts the hand-off still records somewhere the test can read.
    cfg.etc_file(
        "tlog-rs/rec-session.conf",
        r#"{"writer":"file","file":{"path":"{T}/rec/alice/session.log"}}"#,
        0o644,
    );
    let w = World::start(cfg);
    let pam_env: String = attack_vars()
        .iter()
        .map(|(k, v)| format!("{k} DEFAULT={v}\n"))
        .collect();
    home_file(&w, "alice", ".pam_environment", &pam_env, 0o644);
    w
}

fn check(w: &World, way: impl std::fmt::Debug, client: &str, typed: &str) {
    let rec = w.recording("alice");
    let input = field_text(&rec, "in_txt");
    assert!(
        client.contains("EXE=") && client.contains("typed-42-mark"),
        "{way:?}: the session did not run: {client}"
    );
    assert!(
        input.contains(typed),
        "{way:?}: the input {typed:?} is not recorded (log_input = true lost);\nclient saw: {client}\nrecording:\n{rec}"
    );
    // The last EXE=: the first may be the terminal's echo of the typed line.
    let exe = client
        .rsplit("EXE=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("");
    assert!(
        exe.ends_with("/bash"),
        "{way:?}: the shell is {exe:?}, not alice's passwd shell /bin/bash;\nclient saw: {client}"
    );
}

/// Typed line: the shell reads it from the terminal or the pipe.
const TYPED: &str = "echo typed-$((6*7))-mark; echo EXE=$(readlink /proc/$$/exe); exit\n";

#[test]
fn pam_environment_after_common_session_cannot_weaken_ssh_tty() {
    // Asserts: ssh -tt, pam_tlog in common-session, ~/.pam_environment sets TLOG_*:
    // the typed input is recorded (log_input = true) and the shell is bash.
    if !require_root("pam_environment_after_common_session_cannot_weaken_ssh_tty") {
        return;
    }
    let w = world("h9-pamorder-tty", 2750);
    let out = session(&w, "alice", Way::SshTty, None, TYPED.as_bytes(), &[]);
    check(&w, Way::SshTty, &seen(&out), "typed-$((6*7))-mark");
}

#[test]
fn pam_environment_after_common_session_cannot_weaken_ssh_no_tty() {
    // Asserts: ssh -T, pam_tlog in common-session, ~/.pam_environment sets TLOG_*:
    // the input is recorded (log_input = true) and the shell is bash.
    if !require_root("pam_environment_after_common_session_cannot_weaken_ssh_no_tty") {
        return;
    }
    let w = world("h9-pamorder-notty", 2760);
    let out = session(&w, "alice", Way::SshNoTty, None, TYPED.as_bytes(), &[]);
    check(&w, Way::SshNoTty, &seen(&out), "typed-$((6*7))-mark");
}

#[test]
fn environment_kept_by_su_cannot_weaken() {
    // Asserts: su - keeping the same TLOG_* variables from its caller (`su -
    // -w`; su reads no user environment file on Debian): the typed input is
    // recorded and the shell is bash.
    if !require_root("environment_kept_by_su_cannot_weaken") {
        return;
    }
    let w = world("h9-pamorder-su", 2770);
    let vars = attack_vars();
    // The typed line goes through `script`'s stdin to the session's terminal.
    let out = w.ns_sh(&format!(
        "printf '%s' '{}' | {}",
        TYPED.replace('\'', "'\\''"),
        su_with_env_cmd(&w, &vars, "read -r line; eval \"$line\"")
    ));
    check(&w, Way::SuLogin, &seen(&out), "typed-$((6*7))-mark");
}

/// `script -qec "su - -w VARS alice -c CMD"` with VARS set, as a shell line.
fn su_with_env_cmd(w: &World, vars: &[(&str, &str)], cmd: &str) -> String {
    let file = w.dir.join("su-typed.sh");
    std::fs::write(&file, cmd).unwrap();
    let keep: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
    let assigns: String = vars.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    format!(
        "{assigns}script -qec \"su - -w {} alice -c '. {}'\" /dev/null",
        keep.join(","),
        file.display()
    )
}

#[test]
fn recorder_without_handoff_takes_passwd_shell_and_strictest_settings() {
    // Asserts: alice starts the recorder herself, outside any PAM login (no
    // hand-off at all), with every TLOG_* variable set to weaken it: her
    // input, output and the passwd shell (bash, not the environment's
    // /bin/sh) are recorded all the same.
    if !require_root("recorder_without_handoff_takes_passwd_shell_and_strictest_settings") {
        return;
    }
    let w = world("h9-nohandoff", 2810);
    let off = r#"{"log":{"input":false,"output":false,"window":false}}"#;
    let vars: String = attack_vars()
        .iter()
        .map(|(k, v)| {
            let v = if v.starts_with('{') { off } else { v };
            format!("{k}='{v}' ")
        })
        .collect();
    let home = w.dir.join("home/alice");
    let out = w.ns_sh(&format!(
        "cd {home} && printf '%s' '{typed}' | setpriv --reuid=2810 --regid=2810 --clear-groups \
         env -i HOME={home} USER=alice LOGNAME=alice PATH=/usr/bin:/bin {vars}\
         {rec} -c 'read -r line; eval \"$line\"'",
        home = home.display(),
        typed = TYPED.replace('\'', "'\\''"),
        rec = w.dir.join("bin/tlog-rs-rec-session").display(),
    ));
    let client = seen(&out);
    check(&w, "direct start", &client, "typed-$((6*7))-mark");
    let rec = w.recording("alice");
    assert!(
        field_text(&rec, "out_txt").contains("typed-42-mark"),
        "output not recorded:\n{client}\n{rec}"
    );
}
