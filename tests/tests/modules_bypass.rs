//! End-to-end bypass attempts by a selected user: all must fail (the session
//! is recorded, output included). sshd accepts every TLOG_* variable here
//! (AcceptEnv), the worst case an admin could configure.

use std::process::Command;

use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{file_settings, run_with_stdin, World, WorldConfig};
use tlog_rs_tests::text;

fn world(tag: &str) -> World {
    let mut cfg = WorldConfig::new(tag);
    cfg.user("alice", &[]).user("bob", &[]);
    cfg.sshd_extra = "AcceptEnv TLOG_* LANG".into();
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n[rule.settings]\n{}",
        file_settings("alice")
    ));
    World::start(cfg)
}

/// ssh as alice with `vars` in the client's environment and SendEnv for each.
fn ssh_with_env(w: &World, vars: &[(&str, &str)], cmd: &str) -> std::process::Output {
    let opts: Vec<String> = vars.iter().map(|(k, _)| format!("SendEnv={k}")).collect();
    let opt_refs: Vec<&str> = opts.iter().flat_map(|o| ["-o", o.as_str()]).collect();
    let mut c: Command = w.ssh_cmd("alice", &opt_refs);
    for (k, v) in vars {
        c.env(k, v);
    }
    c.arg(cmd);
    run_with_stdin(c, b"")
}

#[test]
fn environment_cannot_switch_recording_off() {
    if !require_root("environment_cannot_switch_recording_off") {
        return;
    }
    let w = world("bypass-env");
    // A live recorder-like marker to point at: pid 1 and its real start time.
    let start1 = std::fs::read_to_string("/proc/1/stat")
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(19))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "1".into());
    let marker = format!("1:{start1}");
    let attempts: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "conf-output-off",
            vec![("TLOG_REC_CONF_TEXT", r#"{"log":{"output":false}}"#)],
        ),
        (
            "session-conf-output-off",
            vec![("TLOG_REC_SESSION_CONF_TEXT", r#"{"log":{"output":false}}"#)],
        ),
        (
            "real-shell",
            vec![
                ("TLOG_REC_SHELL", "/bin/bash"),
                ("TLOG_REC_SESSION_SHELL", "/bin/bash"),
            ],
        ),
        (
            "already-recorded",
            vec![("TLOG_RS_RECORDER", marker.as_str())],
        ),
        (
            "forged-handoff",
            vec![("TLOG_RS_HANDOFF", "0123456789abcdef0123456789abcdef")],
        ),
        (
            "conf-file",
            vec![
                ("TLOG_REC_CONF_FILE", "/dev/null"),
                ("TLOG_REC_SESSION_CONF_FILE", "/dev/null"),
            ],
        ),
    ];
    for (name, vars) in &attempts {
        let mark = format!("bypass-{name}-{}", 1000 + name.len());
        let out = ssh_with_env(&w, vars, &format!("echo {mark}"));
        assert!(
            text(&out.stdout).contains(&mark),
            "{name}: session did not run: {} {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let rec = w.recording("alice");
        assert!(
            rec.contains(&mark),
            "{name}: output not recorded; recording:\n{rec}"
        );
    }
}

#[test]
fn replayed_handoff_token_from_another_login_is_useless() {
    if !require_root("replayed_handoff_token_from_another_login_is_useless") {
        return;
    }
    let mut cfg = WorldConfig::new("bypass-replay");
    cfg.user("alice", &[]);
    cfg.sshd_extra = "AcceptEnv TLOG_*".into();
    // Recorded on sshd, NOT on su: su sessions get a record=false hand-off.
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice-ssh\"\nusers = [\"alice\"]\nservices = [\"sshd\"]\n[rule.settings]\n{}",
        file_settings("alice")
    ));
    // Without a trusted hand-off the recorder uses its system config.
    cfg.etc_file(
        "tlog-rs/rec-session.conf",
        r#"{"writer":"file","file":{"path":"{T}/rec/alice/session.log"}}"#,
        0o644,
    );
    let w = World::start(cfg);
    // Keep an unrecorded su session alive and steal its hand-off's name (root
    // can list the hand-off directory; nothing of it is in the environment).
    let bg = w
        .ns_sh("(su - alice -c 'echo su-alive; sleep 4' </dev/null >/dev/null 2>&1 &) ; sleep 0.1");
    assert!(bg.status.success());
    let mut token = String::new();
    for _ in 0..100 {
        if let Some(t) = w.handoffs().into_iter().next() {
            token = t;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        token.split('-').count() == 3 && token.bytes().all(|b| b.is_ascii_digit() || b == b'-'),
        "no hand-off for the su session ({token:?})"
    );
    // ...but presented in an ssh login it is not trusted: recorded.
    let out = ssh_with_env(
        &w,
        &[("TLOG_RS_HANDOFF", token.as_str())],
        "echo replay-mark-77",
    );
    assert!(
        text(&out.stdout).contains("replay-mark-77"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        w.recording("alice").contains("replay-mark-77"),
        "replayed token gave an unrecorded session"
    );
    // Presented directly to the recorder by alice from outside that su
    // session (sshd puts PAM's own token last, so this is the real attack):
    // the hand-off verifies uid and file but its PAM process is not an
    // ancestor, so the recorder records.
    let out = w.ns_sh(&format!(
        "cd / && setpriv --reuid=2001 --regid=2001 --clear-groups env HOME=/ TLOG_RS_HANDOFF={token} \
         {}/bin/tlog-rs-rec-session -c 'echo direct-replay-mark-88' </dev/null",
        w.dir.display()
    ));
    assert!(
        text(&out.stdout).contains("direct-replay-mark-88"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        w.recording("alice").contains("direct-replay-mark-88"),
        "stolen hand-off made the recorder skip recording"
    );
}

#[test]
fn su_without_dash_and_root_environment_still_records() {
    if !require_root("su_without_dash_and_root_environment_still_records") {
        return;
    }
    let w = world("bypass-su");
    let out = w.ns_sh(
        "TLOG_REC_CONF_TEXT='{\"log\":{\"output\":false}}' TLOG_REC_SHELL=/bin/bash \
         TLOG_RS_HANDOFF=0123456789abcdef0123456789abcdef su alice -c 'echo su-nodash-mark-5' </dev/null",
    );
    assert!(
        text(&out.stdout).contains("su-nodash-mark-5"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        w.recording("alice").contains("su-nodash-mark-5"),
        "su without - was not recorded"
    );
}

#[test]
fn unselected_user_cannot_get_recorder_variables() {
    if !require_root("unselected_user_cannot_get_recorder_variables") {
        return;
    }
    let w = world("bypass-bob");
    // bob is not recorded: PAM removes every controlled variable it could
    // have got from the PAM environment (pam_env user files, other modules).
    let out = w.ns_sh("su - bob -c 'env | grep ^TLOG_ | wc -l' </dev/null");
    assert_eq!(text(&out.stdout).trim(), "0", "{}", text(&out.stderr));
}

#[test]
fn forced_command_in_own_authorized_keys_is_still_recorded() {
    // authorized_keys is the user's file: a `command="..."` there (or
    // `ssh host /bin/bash`) still runs through the login shell, the recorder.
    if !require_root("forced_command_in_own_authorized_keys_is_still_recorded") {
        return;
    }
    let w = world("bypass-forced");
    let ak = w.dir.join("home/alice/.ssh/authorized_keys");
    let key = std::fs::read_to_string(&ak).unwrap();
    std::fs::write(
        &ak,
        format!("command=\"echo forced-cmd-mark-$((5*5))\" {key}"),
    )
    .unwrap();
    let out = w.ssh("alice", &[], Some("echo ignored"), b"");
    assert!(
        text(&out.stdout).contains("forced-cmd-mark-25"),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        w.recording("alice").contains("forced-cmd-mark-25"),
        "forced command ran unrecorded"
    );
    std::fs::write(&ak, key).unwrap();
    let out = w.ssh(
        "alice",
        &[],
        Some("/bin/bash -c 'echo direct-bash-mark-9'"),
        b"",
    );
    assert!(text(&out.stdout).contains("direct-bash-mark-9"));
    assert!(
        w.recording("alice").contains("direct-bash-mark-9"),
        "ssh host /bin/bash ran unrecorded"
    );
}
