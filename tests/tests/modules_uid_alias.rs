//! End-to-end, issue 9 attack 8: an account that shares the uid of a
//! selected user (`useradd -o -u 2001 alias`) must not get an unrecorded
//! shell. Real sshd, su, NSS and PAM modules in a private namespace.
//!
//! * `alias` shares alice's uid; a user rule selects alice: NSS gives the
//!   alias the recorder, pam_tlog decides with alice's rule, and the session
//!   lands in alice's recording (ssh with and without a tty, `su -`).
//! * `dalias` shares dora's uid; only a group rule selects dora: NSS keeps
//!   the alias's shell, so pam_tlog refuses the session (fail=closed).

use tlog_rs_tests::sshd::{file_settings, World, WorldConfig};
use tlog_rs_tests::text;
use tlog_rs_tests::{artifact, require_root};

/// `hardened`: Debian's stock PAM stacks, the set-uid recorder and an sshd
/// that accepts any variable from the user (issue 9's acceptance setup).
fn world(tag: &str, hardened: bool) -> World {
    let mut cfg = WorldConfig::new(tag);
    cfg.capture_syslog = true;
    if hardened {
        cfg.hardened();
    }
    cfg.user("alice", &[])
        .user("bob", &[])
        .user("dora", &["dbas"])
        .group("dbas")
        .alias("alias", "alice")
        .alias("dalias", "dora");
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n[rule.settings]\n{}\
         [[rule]]\nname = \"dbas\"\ngroups = [\"dbas\"]\n[rule.settings]\n{}",
        file_settings("alice"),
        file_settings("dora")
    ));
    World::start(cfg)
}

/// pam_tlog's decision line for `user`.
fn decision(w: &World, user: &str) -> String {
    let lines = w.syslog();
    lines
        .iter()
        .find(|l| l.contains("pam_tlog(") && l.contains(&format!("user={user} ")))
        .cloned()
        .unwrap_or_else(|| panic!("no pam_tlog line for {user}: {lines:#?}"))
}

#[test]
fn alias_of_a_user_selected_by_name_is_recorded_with_and_without_tty() {
    if !require_root("alias_of_a_user_selected_by_name_is_recorded_with_and_without_tty") {
        return;
    }
    for hardened in [false, true] {
        alias_of_a_user_selected_by_name_is_recorded_with_and_without_tty_in(&world(
            &format!("uid-alias-ssh-{hardened}"),
            hardened,
        ));
    }
}

fn alias_of_a_user_selected_by_name_is_recorded_with_and_without_tty_in(w: &World) {
    let getent = text(&w.ns_sh("getent passwd alias bob").stdout);
    let alias_line = getent
        .lines()
        .find(|l| l.starts_with("alias:x:2001:"))
        .unwrap_or_else(|| panic!("{getent}"));
    assert!(
        alias_line.ends_with("/bin/tlog-rs-rec-session"),
        "NSS must give the alias the recorder: {alias_line}"
    );
    assert!(getent.contains(":/bin/bash"), "bob keeps bash: {getent}");

    let out = w.ssh(
        "alias",
        &["-tt"],
        Some("echo alias-tty-$((6*7)); id -u; tty"),
        b"",
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("alias-tty-42") && stdout.contains("/dev/pts/"),
        "ssh -tt output: {stdout}\nstderr: {}\nsshd: {}",
        text(&out.stderr),
        w.sshd_log()
    );
    // Recorded under alice's rule, into alice's recording.
    let rec = w.recording("alice");
    assert!(
        rec.contains("alias-tty-42"),
        "the alias's tty session is not in alice's recording: {rec:?}\nsshd: {}",
        w.sshd_log()
    );
    let play = w.play("alice");
    assert!(text(&play.stdout).contains("alias-tty-42"), "{play:?}");
    let d = decision(w, "alias");
    assert!(
        d.contains("record=yes")
            && d.contains("rule 'alice'")
            && d.contains("uid 2001 belongs to selected user alice"),
        "{d}"
    );

    let out = w.ssh(
        "alias",
        &["-T"],
        Some("echo alias-notty-$((3+4)); exit 5"),
        b"",
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("alias-notty-7"));
    assert!(
        w.recording("alice").contains("alias-notty-7"),
        "the alias's command without a tty is not recorded"
    );
    assert_eq!(w.recording("bob"), "");

    // `tlog-rs check` explains the match and shows what NSS answers.
    let check = w.ns_sh(&format!(
        "{} check alias --service sshd",
        artifact("tlog-rs").display()
    ));
    let c = text(&check.stdout);
    assert!(
        check.status.success()
            && c.contains("uid 2001 belongs to selected user alice")
            && c.contains("NSS shell: ")
            && c.lines()
                .any(|l| l.starts_with("NSS shell: ") && l.contains("tlog-rs-rec-session")),
        "{c}\n{}",
        text(&check.stderr)
    );
}

#[test]
fn su_to_an_alias_of_a_selected_user_is_recorded() {
    if !require_root("su_to_an_alias_of_a_selected_user_is_recorded") {
        return;
    }
    for hardened in [false, true] {
        su_to_an_alias_of_a_selected_user_is_recorded_in(&world(
            &format!("uid-alias-su-{hardened}"),
            hardened,
        ));
    }
}

fn su_to_an_alias_of_a_selected_user_is_recorded_in(w: &World) {
    let out = w.ns_sh("su - alias -c 'echo su-alias-$((5*5)); id -u'");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("su-alias-25") && stdout.contains("2001"),
        "su - alias: {stdout}\nstderr: {}",
        text(&out.stderr)
    );
    assert!(
        w.recording("alice").contains("su-alias-25"),
        "su - alias is not in alice's recording: {:?}",
        w.recording("alice")
    );
    let d = decision(w, "alias");
    assert!(
        d.contains("record=yes") && d.contains("uid 2001 belongs to selected user alice"),
        "{d}"
    );
}

#[test]
fn alias_of_a_user_selected_only_by_group_is_refused_never_unrecorded() {
    if !require_root("alias_of_a_user_selected_only_by_group_is_refused_never_unrecorded") {
        return;
    }
    for hardened in [false, true] {
        alias_of_a_user_selected_only_by_group_is_refused_never_unrecorded_in(&world(
            &format!("uid-alias-group-{hardened}"),
            hardened,
        ));
    }
}

fn alias_of_a_user_selected_only_by_group_is_refused_never_unrecorded_in(w: &World) {
    for (way, out) in [
        (
            "ssh -tt",
            w.ssh("dalias", &["-tt"], Some("echo dalias-$((2*21))"), b""),
        ),
        (
            "ssh",
            w.ssh("dalias", &["-T"], Some("echo dalias-$((2*21))"), b""),
        ),
        ("su -", w.ns_sh("su - dalias -c 'echo dalias-$((2*21))'")),
    ] {
        let stdout = text(&out.stdout);
        // Recorded (dora's rule) or refused; an unrecorded shell fails here.
        assert!(
            !stdout.contains("dalias-42") || w.recording("dora").contains("dalias-42"),
            "{way}: dalias ran a command unrecorded: {stdout}"
        );
        // With only a group rule, NSS keeps the shell, so pam_tlog refuses.
        assert!(
            !out.status.success() && !stdout.contains("dalias-42"),
            "{way}: expected a refusal: {stdout}\nstderr: {}",
            text(&out.stderr)
        );
    }
    let refused: Vec<String> = w
        .syslog()
        .into_iter()
        .filter(|l| l.contains("user=dalias") && l.contains("session refused (fail=closed)"))
        .collect();
    assert_eq!(refused.len(), 3, "{:#?}", w.syslog());
    assert!(
        refused
            .iter()
            .all(|l| l.contains("dalias must be recorded") && l.contains("'dbas'")),
        "{refused:#?}"
    );
    // dora herself is recorded as before.
    let out = w.ssh("dora", &["-T"], Some("echo dora-$((1+1))"), b"");
    assert!(text(&out.stdout).contains("dora-2"));
    assert!(w.recording("dora").contains("dora-2"));
}
