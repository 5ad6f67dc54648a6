//! Shared pieces of the hardening tests (issue 9): worlds in the acceptance
//! setup (`WorldConfig::hardened`: Debian's stock PAM, the set-uid recorder,
//! sshd accepting LD_* and TLOG_* and user environment files), the three ways
//! in (ssh with a tty, ssh without, `su -` on a pty), and readers for the
//! recording and its `.events` sidecar.
//!
//! Users get uids of their own (not the harness's 2001...): the terminal
//! attacks write to every /dev/pts/N the user can open, and must never reach
//! the sessions of other tests running at the same time.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use tlog_rs_tests::sshd::{file_settings, UserSpec, World, WorldConfig};

pub use tlog_rs_tests::text;

/// Everything the client saw (stdout and stderr).
pub fn seen(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// A hardened world whose `users` get uids `base_uid`, `base_uid + 1`, ...,
/// each selected by a rule of its own that records to
/// `{T}/rec/<user>/session.log` with `extra_settings` added.
pub fn config(tag: &str, base_uid: u32, users: &[&str], extra_settings: &str) -> WorldConfig {
    let mut cfg = WorldConfig::new(tag);
    let mut policy = String::new();
    for (i, name) in users.iter().enumerate() {
        cfg.users.push(UserSpec {
            name: name.to_string(),
            uid: base_uid + i as u32,
            groups: Vec::new(),
            shell: "/bin/bash".into(),
        });
        policy.push_str(&format!(
            "[[rule]]\nname = \"{name}\"\nusers = [\"{name}\"]\n[rule.settings]\n{}{extra_settings}\n",
            file_settings(name)
        ));
    }
    cfg.policy(&policy);
    cfg.hardened();
    cfg
}

/// The three ways a selected user's session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// `ssh -tt`: PTY mode, the outer terminal is sshd's /dev/pts/N, owned by the user.
    SshTty,
    /// `ssh -T`: pipe mode.
    SshNoTty,
    /// `script -qec "su - user -c ..."` run by root inside the namespace.
    SuLogin,
}

pub const ALL_WAYS: [Way; 3] = [Way::SshTty, Way::SshNoTty, Way::SuLogin];

/// Run `cmd` in a session of `user` (a login shell for `None`, fed `stdin`;
/// `su` always gets a command: `true` for `None`). `env` is set for the
/// client (ssh: sent with SetEnv; su: in the caller's environment, kept
/// with `su -w`). Returns what the client saw.
pub fn session(
    w: &World,
    user: &str,
    way: Way,
    cmd: Option<&str>,
    stdin: &[u8],
    env: &[(&str, &str)],
) -> Output {
    match way {
        Way::SshTty | Way::SshNoTty => {
            let mut opts: Vec<String> = vec![if way == Way::SshTty { "-tt" } else { "-T" }.into()];
            for (k, v) in env {
                opts.push("-o".into());
                opts.push(format!("SetEnv={k}={v}"));
            }
            let refs: Vec<&str> = opts.iter().map(String::as_str).collect();
            w.ssh(user, &refs, cmd, stdin)
        }
        Way::SuLogin => {
            // The command goes through a file: no quoting across four shells.
            let n = unique();
            let file = w.dir.join(format!("su-cmd-{n}.sh"));
            fs::write(&file, cmd.unwrap_or("true")).unwrap();
            fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
            let keep: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
            let keep = if keep.is_empty() {
                String::new()
            } else {
                format!("-w {}", keep.join(","))
            };
            let assigns: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
            // `timeout`: a stopped recorder also stops su (it mirrors its
            // child's stops), which would hang the test instead of failing it.
            w.ns_sh(&format!(
                "{assigns}timeout -k 5 60 script -qec \"su - {keep} {user} -c '. {}'\" /dev/null",
                file.display()
            ))
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Write a file in the user's home, owned by the user.
pub fn home_file(w: &World, user: &str, rel: &str, content: &str, mode: u32) -> PathBuf {
    let u = w.users.iter().find(|u| u.name == user).expect("user");
    let path = w.dir.join("home").join(user).join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(&path, Some(u.uid), Some(u.uid)).unwrap();
    path
}

/// The user's `.events` sidecar text.
pub fn events(w: &World, user: &str) -> String {
    let mut p = w.rec_path(user).into_os_string();
    p.push(".events");
    fs::read_to_string(p).unwrap_or_default()
}

/// (start entries, end entries) in the user's sidecar.
pub fn event_counts(w: &World, user: &str) -> (usize, usize) {
    let ev = events(w, user);
    (
        ev.matches("\"event\":\"start\"").count(),
        ev.matches("\"event\":\"end\"").count(),
    )
}

/// The concatenated `field` ("in_txt", "out_txt") of every message of a
/// recording.
pub fn field_text(rec: &str, field: &str) -> String {
    rec.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get(field).and_then(|t| t.as_str()).map(str::to_string))
        .collect()
}

/// Every token `<prefix><anything but whitespace>-MARK` in `s`.
pub fn tokens(s: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(prefix) {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\\')
            .unwrap_or(tail.len());
        let tok = &tail[..end];
        if tok.ends_with("-MARK") {
            found.push(tok.to_string());
        }
        rest = &rest[i + prefix.len()..];
    }
    found
}

/// Compile the attacker's preload library into the world (owned by `user`,
/// in her home); it marks `{T}/evil.log` when it runs in the recorder.
/// Returns (library path, marker path).
pub fn build_evil(w: &World, user: &str) -> (PathBuf, PathBuf) {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/evil_preload.c");
    let marker = w.dir.join("evil.log");
    fs::write(&marker, "").unwrap();
    fs::set_permissions(&marker, fs::Permissions::from_mode(0o666)).unwrap();
    let lib = w.dir.join("home").join(user).join("evil.so");
    let out = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(format!("-DEVIL_MARKER=\"{}\"", marker.display()))
        .arg(src)
        .output()
        .expect("gcc");
    assert!(out.status.success(), "gcc evil_preload.c: {}", seen(&out));
    fs::set_permissions(&lib, fs::Permissions::from_mode(0o755)).unwrap();
    (lib, marker)
}
