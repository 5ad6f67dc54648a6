//! Helpers for the policy crate's integration tests.

#![allow(dead_code)]

pub use tlog_rs_tests::TempDir;

use tlog_rs_policy::LoginFacts;

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
