//! The NSS policy snapshot (`tlog-rs validate` writes
//! /run/tlog-rs/policy.snapshot; libnss_tlog.so.2 reads it instead of
//! parsing policy.toml): with real glibc NSS in a world namespace, every
//! answer stays the policy's when the snapshot is missing, current, stale,
//! corrupt (fail secure: everyone gets the recorder) or not root-owned
//! (ignored). Each `getent` is a new process: its first lookup.

use tlog_rs_tests::sshd::{World, WorldConfig};
use tlog_rs_tests::{artifact, require_root, text};

const SNAPSHOT: &str = "/run/tlog-rs/policy.snapshot";

fn shells(w: &World) -> (String, String) {
    let shell = |u: &str| {
        let out = w.ns_sh(&format!("getent passwd {u} | cut -d: -f7"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    (shell("alice"), shell("bob"))
}

/// alice in group dbas, bob in staff; the policy records group dbas.
fn dbas_world(tag: &str) -> World {
    let mut cfg = WorldConfig::new(tag);
    cfg.user("alice", &["dbas"])
        .user("bob", &["staff"])
        .group("dbas")
        .group("staff");
    cfg.policy("[[rule]]\nname = \"dbas\"\ngroups = [\"dbas\"]\n");
    World::start(cfg)
}

fn validate(w: &World) {
    let out = w.ns_sh(&format!("{} validate", artifact("tlog-rs").display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NSS policy snapshot written"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Does a new process's first lookup (of alice) load the NSS fallback?
fn loads_fallback(w: &World) -> bool {
    let out = w.ns_sh("LD_DEBUG=libs getent passwd alice 2>&1 >/dev/null");
    let log = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(log.contains("libnss_tlog.so.2"), "{log}");
    log.lines()
        .any(|l| l.contains("calling init:") && l.contains("tlog-rs/libnss_tlog_fallback.so"))
}

#[test]
fn snapshot_missing_current_stale_corrupt_untrusted() {
    if !require_root("snapshot_missing_current_stale_corrupt_untrusted") {
        return;
    }
    let w = dbas_world("nss-snapshot");
    let rec = format!("{}/bin/tlog-rs-rec-session", w.dir.display());
    let by_group = (rec.clone(), "/bin/bash".to_string());
    let by_user = ("/bin/bash".to_string(), rec.clone());
    let everyone = (
        "/usr/bin/tlog-rs-rec-session".to_string(),
        "/usr/bin/tlog-rs-rec-session".to_string(),
    );

    // No snapshot: the policy is parsed.
    assert!(!w.ns_sh(&format!("test -e {SNAPSHOT}")).status.success());
    assert_eq!(shells(&w), by_group, "no snapshot");

    // Current snapshot.
    validate(&w);
    assert_eq!(shells(&w), by_group, "current snapshot");

    // Stale: policy.toml changed after the snapshot was written.
    let policy = w.ns_sh("cat /etc/tlog-rs/policy.toml").stdout;
    let policy =
        String::from_utf8_lossy(&policy).replace("groups = [\"dbas\"]", "users = [\"bob\"]");
    std::fs::write(w.dir.join("by-user.toml"), &policy).unwrap();
    w.ns_sh(&format!(
        "cat {}/by-user.toml > /etc/tlog-rs/policy.toml",
        w.dir.display()
    ));
    assert_eq!(shells(&w), by_user, "stale snapshot");
    validate(&w);
    assert_eq!(shells(&w), by_user, "current snapshot of the new policy");

    // Corrupt (a flipped byte, then truncated): like a broken policy, every
    // user gets the recorder.
    w.ns_sh(&format!(
        "printf 'X' | dd of={SNAPSHOT} bs=1 seek=40 conv=notrunc 2>/dev/null"
    ));
    assert_eq!(shells(&w), everyone, "flipped byte");
    w.ns_sh(&format!("truncate -s 10 {SNAPSHOT}"));
    assert_eq!(shells(&w), everyone, "truncated");

    // Not root-owned: ignored (the policy is parsed), even when corrupt.
    w.ns_sh(&format!("chown bob {SNAPSHOT}"));
    assert_eq!(shells(&w), by_user, "snapshot owned by bob");
}

/// One long-running process (perl's getpwnam is glibc's): it starts with a
/// current snapshot, sees policy.toml change (the snapshot goes stale, the
/// policy is parsed), and keeps answering from the policy after a new
/// snapshot or a corrupt one appears (its view is already current).
#[test]
fn snapshot_goes_stale_in_a_running_process() {
    if !require_root("snapshot_goes_stale_in_a_running_process") {
        return;
    }
    let w = dbas_world("nss-snapshot-live");
    validate(&w);
    let t = w.dir.display();
    let policy = String::from_utf8_lossy(&w.ns_sh("cat /etc/tlog-rs/policy.toml").stdout)
        .replace("groups = [\"dbas\"]", "users = [\"bob\"]");
    std::fs::write(w.dir.join("by-user.toml"), policy).unwrap();
    let tlog_rs = artifact("tlog-rs");
    let script = format!(
        "perl -e 'for (@ARGV) {{ if (s/^!//) {{ system($_) }} else {{ my @p = getpwnam($_); \
         print \"$_=\", ($p[8] // \"-\"), \"\\n\" }} }}' \
         alice bob '!cat {t}/by-user.toml > /etc/tlog-rs/policy.toml' alice bob \
         '!{} validate >/dev/null' alice bob \
         '!printf X | dd of={SNAPSHOT} bs=1 seek=40 conv=notrunc 2>/dev/null' alice bob",
        tlog_rs.display()
    );
    let out = w.ns_sh(&script);
    let rec = format!("{t}/bin/tlog-rs-rec-session");
    let expect = [
        ("alice", rec.as_str()),
        ("bob", "/bin/bash"),
        ("alice", "/bin/bash"),
        ("bob", rec.as_str()),
        ("alice", "/bin/bash"),
        ("bob", rec.as_str()),
        ("alice", "/bin/bash"),
        ("bob", rec.as_str()),
    ]
    .iter()
    .map(|(u, s)| format!("{u}={s}\n"))
    .collect::<String>();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expect,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// libnss_tlog.so.2 holds no policy parser: without a current snapshot it
/// hands the lookup to tlog-rs/libnss_tlog_fallback.so next to itself. With
/// one, the fallback is never loaded; when it cannot be loaded, the lookup
/// fails secure (every user gets the recorder), as with a broken policy.
#[test]
fn fallback_module_only_without_a_snapshot_and_fail_secure_without_it() {
    if !require_root("fallback_module_only_without_a_snapshot_and_fail_secure_without_it") {
        return;
    }
    let w = dbas_world("nss-fallback");
    let rec = format!("{}/bin/tlog-rs-rec-session", w.dir.display());
    let by_group = (rec.clone(), "/bin/bash".to_string());
    let everyone = (
        "/usr/bin/tlog-rs-rec-session".to_string(),
        "/usr/bin/tlog-rs-rec-session".to_string(),
    );
    let fallback = w.dir.join("lib/tlog-rs/libnss_tlog_fallback.so");
    assert!(fallback.exists(), "the world installs the fallback");
    assert!(
        loads_fallback(&w),
        "no snapshot: the fallback parses the policy"
    );
    assert_eq!(shells(&w), by_group, "no snapshot");
    validate(&w);
    assert!(!loads_fallback(&w), "current snapshot: no fallback");

    // The fallback gone: the snapshot still answers; without it, fail secure.
    let away = w.dir.join("fallback-away.so");
    std::fs::rename(&fallback, &away).unwrap();
    assert_eq!(shells(&w), by_group, "current snapshot, no fallback");
    w.ns_sh(&format!("rm {SNAPSHOT}"));
    assert_eq!(shells(&w), everyone, "no snapshot, no fallback");
    // A file that is not the fallback (no entry points): fail secure too.
    std::fs::copy(w.dir.join("lib/libnss_tlog.so.2"), &fallback).unwrap();
    assert_eq!(shells(&w), everyone, "a fallback without its entry points");
    std::fs::rename(&away, &fallback).unwrap();
    assert_eq!(shells(&w), by_group, "the fallback back");
}

/// pam_tlog writes the snapshot at a login when it is missing (after a
/// reboot: /run is a tmpfs) or stale (the policy was edited), from the
/// policy it loaded for that login.
#[test]
fn a_login_writes_a_missing_or_stale_snapshot() {
    if !require_root("a_login_writes_a_missing_or_stale_snapshot") {
        return;
    }
    let w = dbas_world("nss-snapshot-login");
    let rec = format!("{}/bin/tlog-rs-rec-session", w.dir.display());
    let login = |user: &str| {
        let out = w.ssh(user, &[], Some("true"), b"");
        assert!(out.status.success(), "ssh {user}: {}", w.sshd_log());
    };
    assert!(loads_fallback(&w), "no snapshot yet");
    login("bob");
    assert!(
        !loads_fallback(&w),
        "a login wrote the missing snapshot: {}",
        w.sshd_log()
    );
    assert_eq!(shells(&w), (rec.clone(), "/bin/bash".into()));

    let policy = String::from_utf8_lossy(&w.ns_sh("cat /etc/tlog-rs/policy.toml").stdout)
        .replace("groups = [\"dbas\"]", "users = [\"bob\"]");
    std::fs::write(w.dir.join("by-user.toml"), policy).unwrap();
    w.ns_sh(&format!(
        "cat {}/by-user.toml > /etc/tlog-rs/policy.toml",
        w.dir.display()
    ));
    assert!(loads_fallback(&w), "the edit made the snapshot stale");
    login("alice");
    assert!(!loads_fallback(&w), "a login rewrote the stale snapshot");
    assert_eq!(shells(&w), ("/bin/bash".into(), rec));
}

/// A policy with an sssd.conf source gets a snapshot too, as readable as
/// sssd.conf (0600): root's processes answer from it without the fallback;
/// an unprivileged process cannot read it and answers as before (sssd.conf
/// unreadable there: "not found", so the chain's own entry). Editing
/// sssd.conf makes it stale.
#[test]
fn sssd_source_snapshot_root_only() {
    if !require_root("sssd_source_snapshot_root_only") {
        return;
    }
    let mut cfg = WorldConfig::new("nss-snapshot-sssd");
    cfg.user("alice", &["dbas"]).user("bob", &["staff"]);
    cfg.group("dbas").group("staff");
    cfg.etc_file(
        "sssd/sssd.conf",
        "[sssd]\nservices = nss, pam\n\n[session_recording]\nscope = some\ngroups = dbas\n",
        0o600,
    );
    cfg.policy("[sssd]\nconf = \"/etc/sssd/sssd.conf\"\n");
    let w = World::start(cfg);
    let rec = format!("{}/bin/tlog-rs-rec-session", w.dir.display());
    validate(&w);
    let mode = w.ns_sh(&format!("stat -c %a {SNAPSHOT}"));
    assert_eq!(text(&mode.stdout).trim(), "600", "as readable as sssd.conf");
    assert!(!loads_fallback(&w), "root answers from the snapshot");
    assert_eq!(shells(&w), (rec.clone(), "/bin/bash".into()));
    let unprivileged = w.ns_sh("su -s /bin/sh nobody -c 'getent passwd alice' | cut -d: -f7");
    assert_eq!(
        text(&unprivileged.stdout).trim(),
        "/bin/bash",
        "an unprivileged process answers as before: {}",
        text(&unprivileged.stderr)
    );

    w.ns_sh(
        "printf '[sssd]\\nservices = nss\\n\\n[session_recording]\\nscope = some\\nusers = bob\\n' \
         > /etc/sssd/sssd.conf",
    );
    assert!(loads_fallback(&w), "the edit made the snapshot stale");
    assert_eq!(shells(&w), ("/bin/bash".into(), rec.clone()));
    validate(&w);
    assert!(!loads_fallback(&w));
    assert_eq!(shells(&w), ("/bin/bash".into(), rec));
}
