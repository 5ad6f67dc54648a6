//! Graphical logins (issue 13, part 1): detected at PAM time, the desktop is
//! not recorded, terminals inside it follow the rule's `graphical` choice,
//! and a text login cannot pass itself off as graphical.
//!
//! Every world is hardened (Debian's stock sshd/su stacks with pam_tlog
//! last, the set-uid recorder, sshd accepting user environment files).
//! alice's rule has the default `graphical = "skip"`, bob's
//! `graphical = "record-terminals"`. The display-manager logins are driven
//! by pamtester with services of their own; to run the recorder under a
//! graphical hand-off from a real PAM stack, one world declares `su-l` a
//! display manager (`display_managers` in policy.toml), so `su -` plays the
//! display manager that starts the user's login shell.

use std::process::Output;

use tlog_rs_tests::sshd::{file_settings, UserSpec, World, WorldConfig};
use tlog_rs_tests::text;
use tlog_rs_tests::{artifact, require_program, require_root};

fn seen(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// A minimal display-manager stack ending with pam_tlog.
const DM_PAM: &str = "auth sufficient pam_rootok.so\naccount required pam_unix.so\n\
    session required pam_unix.so\nsession required {T}/lib/pam_tlog.so\n";

/// Users get uids of their own (see hardening_common).
fn world(tag: &str, base_uid: u32, top: &str) -> World {
    let mut cfg = WorldConfig::new(tag);
    for (i, name) in ["alice", "bob"].iter().enumerate() {
        cfg.users.push(UserSpec {
            name: name.to_string(),
            uid: base_uid + i as u32,
            groups: Vec::new(),
            shell: "/bin/bash".into(),
        });
    }
    cfg.policy(&format!(
        "{top}[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n[rule.settings]\n{}\n\
         [[rule]]\nname = \"bob\"\nusers = [\"bob\"]\ngraphical = \"record-terminals\"\n\
         [rule.settings]\n{}\n",
        file_settings("alice"),
        file_settings("bob")
    ));
    cfg.hardened();
    cfg.capture_syslog = true;
    // Without any hand-off the recorder writes where the system config says.
    cfg.etc_file(
        "tlog-rs/rec-session.conf",
        r#"{"writer":"file","file":{"path":"{T}/rec/alice/session.log"}}"#,
        0o644,
    );
    for service in ["gdm-password", "text-console", "greeter-test"] {
        cfg.etc_file(&format!("pam.d/{service}"), DM_PAM, 0o644);
    }
    // A console service an admin changed to read the user's own
    // ~/.pam_environment before pam_tlog.
    cfg.etc_file(
        "pam.d/console-readenv",
        &format!("session required pam_env.so user_readenv=1\n{DM_PAM}"),
        0o644,
    );
    World::start(cfg)
}

fn pamtester(w: &World, opts: &str, service: &str, user: &str) {
    require_program("pamtester", "pamtester");
    let out = w.ns_sh(&format!(
        "pamtester {opts} {service} {user} open_session close_session </dev/null"
    ));
    assert!(
        out.status.success(),
        "pamtester {opts} {service} {user}: {}",
        seen(&out)
    );
}

/// The syslog lines pam_tlog wrote for `service`.
fn pam_lines(w: &World, service: &str) -> Vec<String> {
    let tag = format!("service={service} ");
    w.syslog()
        .into_iter()
        .filter(|l| l.contains(&tag))
        .collect()
}

fn not_recorded_evidence(lines: &[String]) -> bool {
    lines
        .iter()
        .any(|l| l.contains("selected session was not recorded"))
}

#[test]
fn display_manager_login_on_an_x_display_is_graphical_and_leaves_no_evidence() {
    // Asserts: pamtester, service gdm-password, PAM_TTY :0: pam_tlog logs the
    // login as graphical with alice's rule's choice (skip), and close_session
    // leaves no "not recorded" evidence (no recorder runs for a desktop).
    // Control: the same stack as the text service text-console on
    // /dev/tty3 is a selected text login that no recorder served, so it
    // does leave the evidence.
    if !require_root("display_manager_login_on_an_x_display_is_graphical_and_leaves_no_evidence") {
        return;
    }
    let w = world("h10-gdm", 3600, "");
    pamtester(&w, "-I tty=:0", "gdm-password", "alice");
    let lines = pam_lines(&w, "gdm-password");
    assert!(
        lines.iter().any(|l| l.contains("user=alice")
            && l.contains("tty=:0")
            && l.contains("graphical=\"service gdm-password is a display manager\"")
            && l.contains("terminals=skip")),
        "no graphical decision logged: {lines:#?}"
    );
    assert!(!not_recorded_evidence(&lines), "{lines:#?}");

    // An X display as PAM_TTY is enough on its own, and bob's choice shows.
    pamtester(&w, "-I tty=:1", "text-console", "bob");
    let lines = pam_lines(&w, "text-console");
    assert!(
        lines.iter().any(|l| l.contains("user=bob")
            && l.contains("graphical=\"PAM_TTY :1 is an X display\"")
            && l.contains("terminals=record-terminals")),
        "{lines:#?}"
    );
    assert!(!not_recorded_evidence(&lines), "{lines:#?}");

    pamtester(&w, "-I tty=/dev/tty3", "text-console", "alice");
    let lines: Vec<String> = pam_lines(&w, "text-console")
        .into_iter()
        .filter(|l| l.contains("tty=/dev/tty3"))
        .collect();
    assert!(
        !lines.iter().any(|l| l.contains("graphical=")),
        "{lines:#?}"
    );
    assert!(not_recorded_evidence(&lines), "{lines:#?}");
}

#[test]
fn wayland_session_type_on_a_local_console_is_graphical_but_not_from_a_remote_host() {
    // Asserts: XDG_SESSION_TYPE=wayland in the PAM environment (as a display
    // manager and pam_systemd set it) on the local console /dev/tty7 makes a
    // login of an unlisted service graphical; the same variable with a
    // remote host (PAM_RHOST) does not: that login is text, and with no
    // recorder run it leaves the "not recorded" evidence.
    if !require_root(
        "wayland_session_type_on_a_local_console_is_graphical_but_not_from_a_remote_host",
    ) {
        return;
    }
    let w = world("h10-wayland", 3610, "");
    pamtester(
        &w,
        "-I tty=/dev/tty7 -E XDG_SESSION_TYPE=wayland",
        "greeter-test",
        "alice",
    );
    let lines = pam_lines(&w, "greeter-test");
    assert!(
        lines.iter().any(|l| l.contains("tty=/dev/tty7")
            && l.contains("graphical=\"XDG_SESSION_TYPE=wayland on a local console\"")),
        "{lines:#?}"
    );
    assert!(!not_recorded_evidence(&lines), "{lines:#?}");

    pamtester(
        &w,
        "-I tty=/dev/tty7 -I rhost=192.0.2.9 -E XDG_SESSION_TYPE=wayland",
        "greeter-test",
        "alice",
    );
    let remote: Vec<String> = pam_lines(&w, "greeter-test")
        .into_iter()
        .filter(|l| l.contains("rhost=192.0.2.9"))
        .collect();
    assert!(
        !remote.iter().any(|l| l.contains("graphical=")),
        "{remote:#?}"
    );
    assert!(not_recorded_evidence(&remote), "{remote:#?}");
}

#[test]
fn a_console_login_whose_stack_reads_the_users_environment_cannot_claim_a_desktop() {
    // Asserts: with `pam_env user_readenv=1` in a console service's stack,
    // XDG_SESSION_TYPE=x11 from the user's own ~/.pam_environment on
    // /dev/tty1 does not make the login graphical: it stays a text login
    // (and, with no recorder run here, leaves the "not recorded" evidence).
    if !require_root(
        "a_console_login_whose_stack_reads_the_users_environment_cannot_claim_a_desktop",
    ) {
        return;
    }
    let w = world("h10-readenv", 3640, "");
    let home = w.dir.join("home/alice");
    std::fs::write(
        home.join(".pam_environment"),
        "XDG_SESSION_TYPE DEFAULT=x11\nXDG_SESSION_CLASS DEFAULT=greeter\n",
    )
    .unwrap();
    pamtester(&w, "-I tty=/dev/tty1", "console-readenv", "alice");
    let lines = pam_lines(&w, "console-readenv");
    assert!(
        lines.iter().any(|l| l.contains("record=yes")),
        "the login was decided: {lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("graphical=")),
        "a user-set XDG_SESSION_TYPE made a console login graphical: {lines:#?}"
    );
    assert!(not_recorded_evidence(&lines), "{lines:#?}");
}

/// `su - USER -c CMD`, on a pty (`script`) or not.
fn su(w: &World, user: &str, cmd: &str, tty: bool) -> String {
    let script = if tty {
        format!("timeout -k 5 60 script -qec \"su - {user} -c '{cmd}'\" /dev/null")
    } else {
        format!("timeout -k 5 60 su - {user} -c '{cmd}' </dev/null")
    };
    seen(&w.ns_sh(&script))
}

#[test]
fn the_recorder_follows_the_graphical_handoff_and_the_rules_choice() {
    // Asserts, with su-l declared a display manager: alice (skip) gets her
    // shell with nothing recorded, on a terminal or not; bob
    // (record-terminals) is recorded on a terminal and not without one (the
    // desktop's own shells). Control: alice over ssh (a text login) is
    // recorded in the same world.
    if !require_root("the_recorder_follows_the_graphical_handoff_and_the_rules_choice") {
        return;
    }
    let w = world(
        "h10-rec",
        3620,
        "display_managers = [\"su-l\", \"gdm-password\"]\n",
    );
    for tty in [true, false] {
        let out = su(&w, "alice", "echo alice-desk-$((6*7))", tty);
        assert!(out.contains("alice-desk-42"), "tty={tty}: {out}");
    }
    assert!(
        !w.recording("alice").contains("alice-desk"),
        "alice's desktop shell was recorded:\n{}",
        w.recording("alice")
    );
    let out = su(&w, "bob", "echo bob-pipe-$((6*7))", false);
    assert!(out.contains("bob-pipe-42"), "{out}");
    let out = su(&w, "bob", "echo bob-term-$((6*7))", true);
    assert!(out.contains("bob-term-42"), "{out}");
    let rec = w.recording("bob");
    assert!(
        rec.contains("bob-term-42"),
        "bob's terminal not recorded:\n{rec}"
    );
    assert!(
        !rec.contains("bob-pipe-42"),
        "bob's non-terminal shell recorded:\n{rec}"
    );

    let out = w.ssh("alice", &["-T"], Some("echo alice-ssh-$((6*7))"), b"");
    assert!(seen(&out).contains("alice-ssh-42"), "{}", seen(&out));
    assert!(
        w.recording("alice").contains("alice-ssh-42"),
        "alice's ssh login not recorded:\n{}",
        w.recording("alice")
    );
}

#[test]
fn a_text_login_claiming_to_be_graphical_through_the_users_environment_is_recorded() {
    // Asserts: alice sets XDG_SESSION_TYPE=x11, XDG_SESSION_CLASS=greeter and
    // DISPLAY=:0 in ~/.pam_environment (read by sshd's stock
    // `pam_env user_readenv=1`, before pam_tlog) and in ~/.ssh/environment
    // (PermitUserEnvironment yes): her ssh logins, with and without a tty,
    // are still recorded and pam_tlog does not call them graphical.
    if !require_root(
        "a_text_login_claiming_to_be_graphical_through_the_users_environment_is_recorded",
    ) {
        return;
    }
    let w = world("h10-bypass", 3630, "");
    let home = w.dir.join("home/alice");
    for (rel, content) in [
        (
            ".pam_environment",
            "XDG_SESSION_TYPE DEFAULT=x11\nXDG_SESSION_CLASS DEFAULT=greeter\nDISPLAY DEFAULT=:0\n",
        ),
        (
            ".ssh/environment",
            "XDG_SESSION_TYPE=x11\nXDG_SESSION_CLASS=greeter\nDISPLAY=:0\n",
        ),
    ] {
        let path = home.join(rel);
        std::fs::write(&path, content).unwrap();
        std::os::unix::fs::chown(&path, Some(3630), Some(3630)).unwrap();
    }
    for (opt, mark) in [("-tt", "claim-tty"), ("-T", "claim-pipe")] {
        let out = w.ssh(
            "alice",
            &[opt],
            Some(&format!("echo {mark}-$((6*7)) $XDG_SESSION_TYPE")),
            b"",
        );
        // The claim reached the session: the attack was really made.
        assert!(
            seen(&out).contains(&format!("{mark}-42 x11")),
            "{opt}: {}",
            seen(&out)
        );
        let rec = w.recording("alice");
        assert!(
            rec.contains(&format!("{mark}-42")),
            "{opt}: not recorded:\n{rec}"
        );
    }
    let lines = pam_lines(&w, "sshd");
    assert!(lines.iter().any(|l| l.contains("user=alice")), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("graphical=")),
        "{lines:#?}"
    );
}

#[test]
fn check_explains_the_graphical_decision() {
    // Asserts: `tlog-rs check alice --service gdm-password` says the login is
    // graphical, why, and that terminals are not recorded (skip); for bob
    // that they are (record-terminals); for sshd that it is a text login.
    if !require_root("check_explains_the_graphical_decision") {
        return;
    }
    let w = world("h10-check", 3640, "");
    let cli = artifact("tlog-rs");
    let check = |args: &str| {
        seen(&w.ns_sh(&format!(
            "{} check {args} --policy /etc/tlog-rs/policy.toml",
            cli.display()
        )))
    };
    let out = check("alice --service gdm-password");
    assert!(
        out.contains("graphical: yes (service gdm-password is a display manager)")
            && out.contains("terminals: not recorded (graphical = \"skip\")"),
        "{out}"
    );
    let out = check("bob --service gdm-password");
    assert!(
        out.contains("terminals: recorded (graphical = \"record-terminals\")"),
        "{out}"
    );
    let out = check("alice --service sshd");
    assert!(out.contains("graphical: no (a text login)"), "{out}");
    let out = check("alice --service xdm --tty :0 --json");
    let v: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        v["graphical"]["signal"], "PAM_TTY :0 is an X display",
        "{out}"
    );
    assert_eq!(v["graphical"]["terminals"], "skip", "{out}");
}

/// The hand-off of `uid`'s login, once it is written (at most 20 s).
fn wait_handoff(w: &World, uid: u32) -> String {
    let suffix = format!("-{uid}");
    for _ in 0..100 {
        if let Some(h) = w.handoffs().into_iter().find(|h| h.ends_with(&suffix)) {
            return h;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("no hand-off for uid {uid}: {:?}", w.handoffs());
}

/// Run the set-uid recorder as `uid` from root's shell: its ancestors hold
/// no login of the user, like a terminal started by systemd --user.
fn detached_recorder(w: &World, user: &str, uid: u32, cmd: &str) -> String {
    let home = w.dir.join("home").join(user);
    seen(&w.ns_sh(&format!(
        "cd {home} && timeout -k 5 60 script -qec \"setpriv --reuid={uid} --regid={uid} --clear-groups \
         env -i HOME={home} USER={user} PATH=/usr/bin:/bin {rec} -c '{cmd}'\" /dev/null",
        home = home.display(),
        rec = w.dir.join("bin/tlog-rs-rec-session").display(),
    )))
}

#[test]
fn a_terminal_outside_the_display_managers_tree_follows_the_live_desktop() {
    // Asserts: while alice (skip) has a live graphical login, a recorder
    // started for her outside that login's process tree (no ancestor
    // hand-off, as under systemd --user) runs her shell unrecorded; once the
    // desktop has ended, the same start is recorded. Same for bob
    // (record-terminals): his terminal is recorded either way.
    if !require_root("a_terminal_outside_the_display_managers_tree_follows_the_live_desktop") {
        return;
    }
    let w = world(
        "h10-fallback",
        3650,
        "display_managers = [\"su-l\", \"gdm-password\"]\n",
    );
    // The "desktop": a graphical login that lasts until we end it.
    let out = w.ns_sh(
        "setsid -f su - alice -c 'sleep 60' </dev/null >/dev/null 2>&1; \
         setsid -f su - bob -c 'sleep 60' </dev/null >/dev/null 2>&1",
    );
    assert!(out.status.success(), "{}", seen(&out));
    let desk_alice = wait_handoff(&w, 3650);
    let desk_bob = wait_handoff(&w, 3651);

    let out = detached_recorder(&w, "alice", 3650, "echo alice-desk-$((6*7))");
    assert!(out.contains("alice-desk-42"), "{out}");
    assert!(
        !w.recording("alice").contains("alice-desk-42"),
        "recorded although alice's desktop says skip:\n{}",
        w.recording("alice")
    );
    let out = detached_recorder(&w, "bob", 3651, "echo bob-desk-$((6*7))");
    assert!(out.contains("bob-desk-42"), "{out}");
    assert!(w.recording("bob").contains("bob-desk-42"), "{out}");

    // End the desktops: the process groups of the su processes (setsid
    // made each a group leader) named by the hand-offs.
    for key in [&desk_alice, &desk_bob] {
        let pid = key.split('-').next().unwrap();
        let out = w.ns_sh(&format!("/bin/kill -TERM -- -{pid}"));
        assert!(out.status.success(), "{}", seen(&out));
    }
    for _ in 0..100 {
        let left = w.handoffs();
        if !left.contains(&desk_alice) && !left.contains(&desk_bob) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = detached_recorder(&w, "alice", 3650, "echo alice-late-$((6*7))");
    assert!(out.contains("alice-late-42"), "{out}");
    // No desktop: recorded, with the system configuration's writer.
    assert!(
        w.recording("alice").contains("alice-late-42"),
        "not recorded after the desktop ended: {out}\n{}",
        w.recording("alice")
    );
}
