//! utmp/wtmp (issue 13, part 5): a recorded session's inner pty shows in
//! `who` as the logged-in user with the ssh client's host, and in `last`
//! with a logout once the session ends; without /var/run/utmp the session
//! is recorded all the same.
//!
//! Hardened world (set-uid recorder): the entry is added by libutempter's
//! helper before the recorder drops the user's uid, and ended by pam_tlog's
//! close_session as root (rec/src/utmp.rs). utmp and wtmp are private to the
//! world: a tmpfs /run in its mount namespace, and a bind-mounted wtmp.

use std::process::Output;

use tlog_rs_tests::sshd::{file_settings, UserSpec, World, WorldConfig};
use tlog_rs_tests::{require_program, require_root};

fn seen(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn world(tag: &str, uid: u32) -> World {
    let mut cfg = WorldConfig::new(tag);
    cfg.users.push(UserSpec {
        name: "alice".into(),
        uid,
        groups: Vec::new(),
        shell: "/bin/bash".into(),
    });
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n[rule.settings]\n{}",
        file_settings("alice")
    ));
    cfg.hardened();
    World::start(cfg)
}

/// Give the world a utmp and a wtmp the helper (group utmp) can write.
fn private_login_records(w: &World) {
    let out = w.ns_sh(&format!(
        "install -m 664 -o root -g utmp /dev/null /var/run/utmp && \
         chgrp utmp {wtmp} && chmod 664 {wtmp}",
        wtmp = w.dir.join("wtmp").display()
    ));
    assert!(out.status.success(), "{}", seen(&out));
}

/// Log in with a terminal, print the inner pty, then `who` from inside.
fn login(w: &World, mark: &str) -> (String, String) {
    let out = w.ssh(
        "alice",
        &["-tt"],
        None,
        format!("echo {mark}-TTY=$(tty); who; exit\n").as_bytes(),
    );
    let client = seen(&out);
    let tty = client
        .rsplit(&format!("{mark}-TTY=/dev/"))
        .next()
        .and_then(|s| s.split_whitespace().next())
        .filter(|t| t.starts_with("pts/"))
        .unwrap_or_else(|| panic!("no inner tty in: {client}"))
        .to_string();
    (tty, client)
}

#[test]
fn the_inner_pty_is_in_who_and_last_as_the_user_with_the_clients_host() {
    // Asserts: inside a recorded ssh session, `who` lists alice on the
    // recorder's inner pty with host 127.0.0.1; after logout the entry is
    // gone from utmp, and `last -f wtmp` shows that pty for alice from
    // 127.0.0.1 with a logout (not "still logged in"). The recording holds
    // the session.
    if !require_root("the_inner_pty_is_in_who_and_last_as_the_user_with_the_clients_host") {
        return;
    }
    require_program("who", "coreutils");
    require_program("last", "util-linux");
    let w = world("h10-utmp", 3660);
    private_login_records(&w);
    let (tty, client) = login(&w, "utmp");
    let who_line = client
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(tty.as_str()))
        .unwrap_or_else(|| panic!("who inside the session does not list {tty}:\n{client}"));
    assert!(
        who_line.starts_with("alice ") && who_line.contains("(127.0.0.1)"),
        "{who_line}"
    );
    assert!(w.recording("alice").contains("utmp-TTY"), "not recorded");

    // sshd closes the PAM session after the client has gone; close_session
    // removes the hand-off last: wait for that (at most 20 s).
    for _ in 0..100 {
        if w.handoffs().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(w.handoffs().is_empty(), "close_session did not run");
    let who = seen(&w.ns_sh("who /var/run/utmp"));
    assert!(
        !who.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(tty.as_str())),
        "{tty} still in utmp after logout:\n{who}"
    );
    let last = seen(&w.ns_sh(&format!("last -w -f {}", w.dir.join("wtmp").display())));
    let line = last
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(tty.as_str()))
        .unwrap_or_else(|| panic!("last does not list {tty}:\n{last}"));
    assert!(
        line.starts_with("alice ") && line.contains("127.0.0.1"),
        "{line}"
    );
    assert!(!line.contains("still logged in"), "{line}\n{last}");
}

#[test]
fn without_a_utmp_file_the_session_is_recorded_all_the_same() {
    // Asserts: with no /var/run/utmp in the world, a recorded ssh session
    // with a terminal runs and is recorded; nothing about utmp reaches the
    // user.
    if !require_root("without_a_utmp_file_the_session_is_recorded_all_the_same") {
        return;
    }
    let w = world("h10-noutmp", 3670);
    let out = w.ns_sh("test ! -e /var/run/utmp");
    assert!(out.status.success(), "the world has a utmp file");
    let (_, client) = login(&w, "noutmp");
    assert!(!client.contains("utempter"), "{client}");
    assert!(w.recording("alice").contains("noutmp-TTY"), "not recorded");
}
