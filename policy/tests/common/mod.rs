//! Helpers for the policy crate's integration tests.

#![allow(dead_code)]

pub mod table;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use tlog_rs_policy::LoginFacts;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "tlog-rs-policy-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write `rel` (creating parent dirs), mode 0644; returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        self.write_mode(rel, text, 0o644)
    }

    /// Write `rel` with `mode`.
    pub fn write_mode(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Facts for `user` from passwd/group text the way glibc's files service
/// and getgrouplist see them: primary group by gid (if any group has it),
/// plus every group listing the user as a member.
pub fn facts_from_db(passwd: &str, group: &str, user: &str, service: Option<&str>) -> LoginFacts {
    let pw: Vec<&str> = passwd
        .lines()
        .map(|l| l.splitn(7, ':').collect::<Vec<_>>())
        .find(|f| f[0] == user)
        .unwrap_or_else(|| panic!("no user {user} in passwd"));
    let gid: u32 = pw[3].parse().unwrap();
    let groups: Vec<Vec<&str>> = group.lines().map(|l| l.splitn(4, ':').collect()).collect();
    let primary_group = groups
        .iter()
        .find(|g| g[2] == pw[3])
        .map(|g| g[0].to_string());
    let mut all: Vec<String> = primary_group.iter().cloned().collect();
    for g in &groups {
        if g[3].split(',').any(|m| m == user) && !all.iter().any(|a| a == g[0]) {
            all.push(g[0].to_string());
        }
    }
    LoginFacts {
        user: user.to_string(),
        uid: pw[2].parse().unwrap(),
        gid,
        primary_group,
        groups: all,
        host: "host1.example.test".into(),
        service: service.map(str::to_string),
        passwd_shell: pw[6].to_string(),
    }
}
