//! Issue 9, attack 1: LD_PRELOAD replaces the recorder.
//!
//! The attacker's library (tests/fixtures/evil_preload.c) execs bash in
//! place of `tlog-rs-rec-session` when it gets loaded into it. Delivered the
//! ways a user can set the recorder's environment on Debian: her
//! `~/.pam_environment` (stock sshd stack: `pam_env user_readenv=1`), her
//! `~/.ssh/environment` (`PermitUserEnvironment yes`), `ssh -o SetEnv`
//! (`AcceptEnv LD_*`), and for `su -` a caller who keeps LD_PRELOAD (`-w`).
//!
//! Each test asserts, for every way in: the session's commands are in the
//! recording, the sidecar gained a start and an end entry, and the library
//! never ran inside the recorder (the set-uid recorder runs with AT_SECURE,
//! so the loader ignores LD_PRELOAD there).

mod hardening_common;

use hardening_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::World;

/// Run a marked command as alice in each of `ways` with `env` sent by the
/// client, and check it was recorded with start/end entries and that the
/// evil library never ran in the recorder.
fn assert_recorded_despite_preload(
    w: &World,
    ways: &[Way],
    env: &[(&str, &str)],
    marker: &std::path::Path,
    what: &str,
) {
    for (i, way) in ways.iter().enumerate() {
        let (s0, e0) = event_counts(w, "alice");
        let n = 100 + i;
        let out = session(
            w,
            "alice",
            *way,
            Some(&format!("echo preload-{n}-$((6*7))-mark; id -un")),
            b"",
            env,
        );
        let mark = format!("preload-{n}-42-mark");
        let client = seen(&out);
        assert!(
            client.contains(&mark),
            "{what} {way:?}: the session did not run: {client}"
        );
        let rec = w.recording("alice");
        let evil = std::fs::read_to_string(marker).unwrap_or_default();
        assert!(
            rec.contains(&mark),
            "{what} {way:?}: the command is not in the recording (evil library in the recorder: {:?});\nclient saw: {client}\nrecording:\n{rec}",
            evil.trim()
        );
        let (s1, e1) = event_counts(w, "alice");
        assert!(
            s1 > s0 && e1 > e0,
            "{what} {way:?}: no start/end entry for the session (starts {s0}->{s1}, ends {e0}->{e1}):\n{}",
            events(w, "alice")
        );
        assert!(
            evil.is_empty(),
            "{what} {way:?}: the preloaded library ran inside the recorder: {evil}"
        );
    }
}

#[test]
fn ld_preload_from_pam_environment_is_ignored_by_the_recorder() {
    // Asserts: `LD_PRELOAD DEFAULT=~/evil.so` in ~/.pam_environment (read by
    // the stock sshd stack) neither replaces nor enters the recorder; ssh with
    // and without a tty, and an interactive login, are recorded (the commands
    // with start and end entries).
    if !require_root("ld_preload_from_pam_environment_is_ignored_by_the_recorder") {
        return;
    }
    let w = World::start(config("h9-preload-pamenv", 2610, &["alice"], ""));
    let (lib, marker) = build_evil(&w, "alice");
    home_file(
        &w,
        "alice",
        ".pam_environment",
        &format!("LD_PRELOAD DEFAULT={}\n", lib.display()),
        0o644,
    );
    assert_recorded_despite_preload(
        &w,
        &[Way::SshTty, Way::SshNoTty],
        &[],
        &marker,
        "~/.pam_environment",
    );
    // An interactive login: the recorder runs as `-tlog-rs-rec-session`.
    let out = session(
        &w,
        "alice",
        Way::SshTty,
        None,
        b"echo preload-login-$((6*7))-mark; exit\n",
        &[],
    );
    let client = seen(&out);
    let rec = w.recording("alice");
    assert!(
        client.contains("preload-login-42-mark") && rec.contains("preload-login-42-mark"),
        "interactive login with ~/.pam_environment preload not recorded;\nclient saw: {client}\nrecording:\n{rec}"
    );
    let evil = std::fs::read_to_string(&marker).unwrap_or_default();
    assert!(
        evil.is_empty(),
        "the preloaded library ran inside the login recorder"
    );
}

#[test]
fn ld_preload_from_ssh_environment_is_ignored_by_the_recorder() {
    // Asserts: `LD_PRELOAD=~/evil.so` in ~/.ssh/environment (PermitUserEnvironment
    // yes) neither replaces nor enters the recorder; ssh with and without a
    // tty are recorded with start and end entries.
    if !require_root("ld_preload_from_ssh_environment_is_ignored_by_the_recorder") {
        return;
    }
    let w = World::start(config("h9-preload-sshenv", 2620, &["alice"], ""));
    let (lib, marker) = build_evil(&w, "alice");
    home_file(
        &w,
        "alice",
        ".ssh/environment",
        &format!("LD_PRELOAD={}\n", lib.display()),
        0o600,
    );
    assert_recorded_despite_preload(
        &w,
        &[Way::SshTty, Way::SshNoTty],
        &[],
        &marker,
        "~/.ssh/environment",
    );
}

#[test]
fn ld_preload_from_setenv_is_ignored_by_the_recorder() {
    // Asserts: `ssh -o SetEnv=LD_PRELOAD=~/evil.so` (AcceptEnv LD_*) neither
    // replaces nor enters the recorder; ssh with and without a tty are
    // recorded with start and end entries.
    if !require_root("ld_preload_from_setenv_is_ignored_by_the_recorder") {
        return;
    }
    let w = World::start(config("h9-preload-setenv", 2630, &["alice"], ""));
    let (lib, marker) = build_evil(&w, "alice");
    let lib = lib.display().to_string();
    assert_recorded_despite_preload(
        &w,
        &[Way::SshTty, Way::SshNoTty],
        &[("LD_PRELOAD", &lib)],
        &marker,
        "SetEnv",
    );
}

#[test]
fn ld_preload_kept_by_su_is_ignored_by_the_recorder() {
    // Asserts: `su - -w LD_PRELOAD alice` (Debian's su stack reads no user
    // environment file, so the preload comes from the caller and is kept)
    // neither replaces nor enters the recorder; recorded with start and end.
    if !require_root("ld_preload_kept_by_su_is_ignored_by_the_recorder") {
        return;
    }
    let w = World::start(config("h9-preload-su", 2640, &["alice"], ""));
    let (lib, marker) = build_evil(&w, "alice");
    let lib = lib.display().to_string();
    assert_recorded_despite_preload(
        &w,
        &[Way::SuLogin],
        &[("LD_PRELOAD", &lib)],
        &marker,
        "su -w LD_PRELOAD",
    );
}
