//! Issue 9, attacks 4 and 7: logs the recorded user cannot touch, and a file
//! writer that works for several users at once.

mod hardening_common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use hardening_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::World;

/// Tampering commands against the log `$L` and its sidecar `$E`; each prints
/// TAMPER-<name>-RC-<exit status>.
const TAMPER: &[(&str, &str)] = &[
    ("sed-log", "sed -i 's/orig/ORIG/g' \"$L\""),
    ("sed-events", "sed -i 's/start/START/g' \"$E\""),
    ("truncate-log", ": > \"$L\""),
    ("truncate-events", ": > \"$E\""),
    ("append-events", "echo '{\"event\":\"end\"}' >> \"$E\""),
    ("chmod-log", "chmod 666 \"$L\""),
    ("hardlink-log", "ln \"$L\" \"$HOME/log-link\""),
    ("mv-log", "mv \"$L\" \"$L.old\""),
    ("mv-events", "mv \"$E\" \"$E.old\""),
    ("symlink-log", "ln -sf /dev/null \"$L\""),
    ("rm-log", "rm -f \"$L\""),
    ("rm-events", "rm -f \"$E\""),
];

fn tamper_script(w: &World) -> String {
    let log = w.rec_path("alice");
    let mut s = format!("L='{}'; E=\"$L.events\"\n", log.display());
    for (name, cmd) in TAMPER {
        s.push_str(&format!(
            "{cmd} 2>/dev/null; echo \"TAMPER-{name}-RC-$?\"\n"
        ));
    }
    s.push_str("echo tamper-done-$((40+2))\n");
    s
}

/// Attack 4 in one way in. Asserts: after a recorded session, the user's
/// attempts to rewrite, truncate, re-mode, link, move or delete her log and
/// its sidecar all fail; the earlier recording and its entries are intact
/// (the files only grew) and the tampering session is recorded too.
fn tamper(tag: &str, base_uid: u32, way: Way) {
    let w = World::start(config(tag, base_uid, &["alice"], ""));
    let out = session(&w, "alice", way, Some("echo orig-$((40+2))-mark"), b"", &[]);
    assert!(seen(&out).contains("orig-42-mark"), "{}", seen(&out));
    let log0 = w.recording("alice");
    let ev0 = events(&w, "alice");
    assert!(
        log0.contains("orig-42-mark") && ev0.contains("\"event\":\"end\""),
        "{way:?}: first session not recorded:\n{log0}\n{ev0}"
    );
    let ino0 = fs::metadata(w.rec_path("alice")).unwrap().ino();

    let out = session(&w, "alice", way, Some(&tamper_script(&w)), b"", &[]);
    let client = seen(&out);
    assert!(
        client.contains("tamper-done-42"),
        "{way:?}: session did not run: {client}"
    );
    let succeeded: Vec<&str> = TAMPER
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| client.contains(&format!("TAMPER-{name}-RC-0")))
        .collect();
    let log1 = w.recording("alice");
    let ev1 = events(&w, "alice");
    assert!(
        succeeded.is_empty(),
        "{way:?}: the recorded user could {succeeded:?} her log/sidecar;\nclient saw: {client}\nlog now:\n{log1}\nevents now:\n{ev1}"
    );
    assert!(
        log1.starts_with(&log0) && ev1.starts_with(&ev0),
        "{way:?}: log or sidecar changed other than by appending;\nbefore:\n{log0}\n{ev0}\nafter:\n{log1}\n{ev1}"
    );
    assert_eq!(
        fs::metadata(w.rec_path("alice")).unwrap().ino(),
        ino0,
        "{way:?}: the log file was replaced"
    );
    assert!(
        field_text(&log1, "out_txt").contains("tamper-done-42"),
        "{way:?}: the tampering session is not recorded:\n{log1}"
    );
}

#[test]
fn user_cannot_tamper_with_her_log_ssh_tty() {
    // Asserts (see `tamper`): from ssh -tt, every change to the log and sidecar fails; both intact.
    if require_root("user_cannot_tamper_with_her_log_ssh_tty") {
        tamper("h9-tamper-tty", 2710, Way::SshTty);
    }
}

#[test]
fn user_cannot_tamper_with_her_log_ssh_no_tty() {
    // Asserts (see `tamper`): from ssh -T, every change to the log and sidecar fails; both intact.
    if require_root("user_cannot_tamper_with_her_log_ssh_no_tty") {
        tamper("h9-tamper-notty", 2720, Way::SshNoTty);
    }
}

#[test]
fn user_cannot_tamper_with_her_log_su() {
    // Asserts (see `tamper`): from su -, every change to the log and sidecar fails; both intact.
    if require_root("user_cannot_tamper_with_her_log_su") {
        tamper("h9-tamper-su", 2730, Way::SuLogin);
    }
}

/// Attack 7: three recorded users at once in a shared log whose directory
/// is the recorder account's, with `dir_mode` and group `group` (None: the
/// account's group); the files must get `file_mode`.
fn shared_log(tag: &str, base_uid: u32, dir_mode: u32, group: Option<u32>, file_mode: u32) {
    let users = ["ann", "ben", "cat"];
    let mut cfg = config(tag, base_uid, &[], "");
    for (i, u) in users.iter().enumerate() {
        cfg.users.push(tlog_rs_tests::sshd::UserSpec {
            name: u.to_string(),
            uid: base_uid + i as u32,
            groups: Vec::new(),
            shell: "/bin/bash".into(),
        });
    }
    cfg.policy(
        "[[rule]]\nname = \"all\"\nusers = [\"ann\", \"ben\", \"cat\"]\n[rule.settings]\n\
         writer = \"file\"\nfile_path = \"{T}/shared/rec.log\"\n",
    );
    let w = World::start(cfg);
    let dir = w.dir.join("shared");
    fs::create_dir(&dir).unwrap();
    // Without the account (the code before issue 9) the dir stays root's.
    if let Some(acct) = w.recorder_account {
        std::os::unix::fs::chown(&dir, Some(acct.uid), Some(group.unwrap_or(acct.gid))).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(dir_mode)).unwrap();
    }

    let ways = [Way::SshTty, Way::SshNoTty, Way::SuLogin];
    let outs: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = users
            .iter()
            .zip(ways)
            .enumerate()
            .map(|(i, (u, way))| {
                let w = &w;
                s.spawn(move || {
                    let cmd =
                        format!("echo shared-{i}-$((40+2))-mark; sleep 1; echo shared-{i}-end");
                    seen(&session(w, u, way, Some(&cmd), b"", &[]))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let log_path = dir.join("rec.log");
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    let ev = fs::read_to_string(dir.join("rec.log.events")).unwrap_or_default();
    for (i, out) in outs.iter().enumerate() {
        let mark = format!("shared-{i}-42-mark");
        assert!(
            out.contains(&mark),
            "{}: session refused or failed: {out}",
            users[i]
        );
        assert!(
            log.contains(&mark),
            "{}: not in the shared log:\n{log}",
            users[i]
        );
        assert!(
            ev.contains(&format!("\"user\":\"{}\"", users[i])),
            "{}: no entry in the shared sidecar:\n{ev}",
            users[i]
        );
    }
    let acct = w
        .recorder_account
        .expect("hardened world has a recorder account");
    for p in [log_path.clone(), dir.join("rec.log.events")] {
        let m = fs::metadata(&p).unwrap();
        assert_eq!(
            (m.uid(), m.mode() & 0o7777),
            (acct.uid, file_mode),
            "{}: owner/mode (directory mode {dir_mode:o})",
            p.display()
        );
        if let Some(g) = group {
            assert_eq!(m.gid(), g, "{}: group of a set-gid dir", p.display());
        }
    }
}

#[test]
fn several_users_share_one_log_in_the_recorder_accounts_dir() {
    // Attack 7. Asserts: three recorded users log in at the same time (ssh
    // with a tty, without, and su -), all recording to one file_path in a
    // directory owned by the recorder account, mode 0750: every session is
    // admitted and recorded, and the log and its sidecar are owned by the
    // recorder account with mode 0600.
    if require_root("several_users_share_one_log_in_the_recorder_accounts_dir") {
        shared_log("h9-shared", 2740, 0o750, None, 0o600);
    }
}

#[test]
fn several_users_share_one_log_in_the_installed_layout() {
    // Attack 7, the layout `make install` creates (/var/log/tlog-rs owned by
    // tlog-rs:adm, mode 2750). Asserts: as above, with the files mode 0640 and
    // group adm, so auditors in adm can read them.
    if require_root("several_users_share_one_log_in_the_installed_layout") {
        shared_log("h9-shared-adm", 2820, 0o2750, Some(adm_gid()), 0o640);
    }
}

/// gid of the `adm` group (Debian: 4), from the host's group file.
fn adm_gid() -> u32 {
    fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"adm")).then(|| f[2].parse().unwrap())
        })
        .expect("group adm")
}
