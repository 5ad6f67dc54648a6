//! End-to-end: login paths other than ssh, and service-specific rules.
//! `su - user` from root is recorded per policy; a rule restricted to one
//! PAM service is honoured both ways even though NSS (which swaps the shell)
//! cannot see the service: PAM hands the recorder a record=false decision.

use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{file_settings, World, WorldConfig};
use tlog_rs_tests::text;

/// alice: recorded on sshd only; frank: recorded on su/su-l only.
fn world(tag: &str) -> World {
    let mut cfg = WorldConfig::new(tag);
    cfg.user("alice", &[]).user("frank", &[]);
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice-ssh\"\nusers = [\"alice\"]\nservices = [\"sshd\"]\n[rule.settings]\n{}\
         [[rule]]\nname = \"frank-su\"\nusers = [\"frank\"]\nservices = [\"su\", \"su-l\"]\n[rule.settings]\n{}",
        file_settings("alice"),
        file_settings("frank")
    ));
    World::start(cfg)
}

#[test]
fn service_specific_rules_are_honoured_both_ways() {
    if !require_root("service_specific_rules_are_honoured_both_ways") {
        return;
    }
    let w = world("paths-svc");
    // NSS swaps both shells: some service may record each of them.
    let g = text(&w.ns_sh("getent passwd alice frank").stdout);
    assert_eq!(
        g.lines()
            .filter(|l| l.ends_with("/bin/tlog-rs-rec-session"))
            .count(),
        2,
        "{g}"
    );

    // alice over ssh: recorded.
    let out = w.ssh("alice", &[], Some("echo alice-ssh-mark"), b"");
    assert!(
        text(&out.stdout).contains("alice-ssh-mark"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        w.recording("alice").contains("alice-ssh-mark"),
        "alice over ssh not recorded"
    );

    // alice via su -: not recorded, but she gets her real shell.
    let out = w.ns_sh("su - alice -c 'echo alice-su-mark; echo shell=$0' </dev/null");
    let o = text(&out.stdout);
    assert!(
        out.status.success() && o.contains("alice-su-mark"),
        "{o} {}",
        text(&out.stderr)
    );
    assert!(
        o.contains("shell=-bash") || o.contains("shell=bash"),
        "real shell not run: {o}"
    );
    assert!(
        !w.recording("alice").contains("alice-su-mark"),
        "su session of alice was recorded"
    );

    // frank over ssh: not recorded; exit code still passes through.
    let out = w.ssh("frank", &[], Some("echo frank-ssh-mark; exit 3"), b"");
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stdout).contains("frank-ssh-mark"));
    assert!(
        !w.recording("frank").contains("frank-ssh-mark"),
        "frank over ssh was recorded"
    );

    // frank via su - (with a pty) and su without '-': recorded.
    let out = w.ns_sh("script -qec \"su - frank -c 'echo frank-su-l-mark'\" /dev/null </dev/null");
    assert!(
        text(&out.stdout).contains("frank-su-l-mark"),
        "{}",
        text(&out.stderr)
    );
    let out = w.ns_sh("su frank -c 'echo frank-su-mark' </dev/null");
    assert!(
        text(&out.stdout).contains("frank-su-mark"),
        "{}",
        text(&out.stderr)
    );
    let rec = w.recording("frank");
    assert!(
        rec.contains("frank-su-l-mark"),
        "su - frank not recorded: {rec}"
    );
    assert!(
        rec.contains("frank-su-mark"),
        "su frank (no dash) not recorded: {rec}"
    );
    assert!(
        w.handoffs().is_empty(),
        "hand-offs left: {:?}",
        w.handoffs()
    );

    // frank's file holds two sessions (tlog-play plays one recording per
    // input, so check the ids); alice's single session plays back.
    let mut recs: Vec<String> = rec
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["rec"].as_str().map(str::to_string))
        .collect();
    recs.dedup();
    assert_eq!(
        recs.len(),
        2,
        "expected two recorded sessions for frank: {rec}"
    );
    let p = w.play("alice");
    assert!(p.status.success(), "tlog-play alice: {}", text(&p.stderr));
    assert!(text(&p.stdout).contains("alice-ssh-mark"));
}

#[test]
fn pam_open_session_runs_in_an_ancestor_of_the_shell() {
    // Where the login programs run open_session relative to the shell: the
    // hand-off is bound to that process, which must be an ancestor of the
    // recorder. sshd: the privileged monitor ("sshd: alice [priv]"), parent of
    // the user's sshd, parent of the shell. su: su itself, parent of the shell.
    if !require_root("pam_open_session_runs_in_an_ancestor_of_the_shell") {
        return;
    }
    let w = world("paths-tree");
    let chain =
        "p=$$; while [ \"$p\" -gt 1 ]; do printf '%s:%s ' \"$p\" \"$(cat /proc/$p/comm)\"; \
                 p=$(awk '{print $4}' /proc/$p/stat); done; echo";
    let out = w.ssh("alice", &[], Some(chain), b"");
    let o = text(&out.stdout);
    // shell <- recorder <- sshd (user) <- sshd [priv] (PAM) ...
    assert!(
        o.contains(":tlog-rec-sessio") && o.matches(":sshd").count() >= 2,
        "ssh chain: {o}"
    );
    let out = w.ns_sh(&format!(
        "su frank -c '{}' </dev/null",
        chain.replace('\'', "'\\''")
    ));
    let o = text(&out.stdout);
    assert!(
        o.contains(":tlog-rec-sessio") && o.contains(":su"),
        "su chain: {o}"
    );
}

#[test]
fn console_login_and_multiplexed_ssh_channels_are_recorded() {
    if !require_root("console_login_and_multiplexed_ssh_channels_are_recorded") {
        return;
    }
    let mut cfg = WorldConfig::new("paths-login");
    cfg.user("gina", &[]);
    cfg.policy(&format!(
        "[[rule]]\nname = \"gina\"\nusers = [\"gina\"]\n[rule.settings]\n{}",
        file_settings("gina")
    ));
    let w = World::start(cfg);
    // login(1) on a pty (PAM service "login"), as getty would start it.
    let out = w.ns_sh(
        "printf 'echo console-login-mark-$((40+2)); exit\\n' | script -qec 'login -f gina' /dev/null",
    );
    assert!(
        text(&out.stdout).contains("console-login-mark-42"),
        "{} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        w.recording("gina").contains("console-login-mark-42"),
        "login session not recorded"
    );

    // ssh connection sharing: the PAM session (and its hand-off) is opened
    // once per connection; later channels start new shells under it.
    let cp = w.dir.join("cm-%r");
    let cp = cp.display().to_string();
    let master = w.ssh(
        "gina",
        &[
            "-o",
            "ControlMaster=yes",
            "-o",
            &format!("ControlPath={cp}"),
            "-o",
            "ControlPersist=20",
        ],
        Some("echo first-channel-mark"),
        b"",
    );
    assert!(
        text(&master.stdout).contains("first-channel-mark"),
        "{}",
        text(&master.stderr)
    );
    let second = w.ssh(
        "gina",
        &["-o", "ControlMaster=no", "-o", &format!("ControlPath={cp}")],
        Some("echo second-channel-mark"),
        b"",
    );
    assert!(
        text(&second.stdout).contains("second-channel-mark"),
        "{}",
        text(&second.stderr)
    );
    let rec = w.recording("gina");
    assert!(
        rec.contains("first-channel-mark") && rec.contains("second-channel-mark"),
        "{rec}"
    );
    let _ = w.ssh(
        "gina",
        &["-o", &format!("ControlPath={cp}"), "-O", "exit"],
        None,
        b"",
    );
}
