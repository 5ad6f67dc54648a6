//! System-facing glue of the policy crate: [`LoginFacts`] and the accounts
//! behind our NSS module, gathered through the lookups of `tlog-rs-sys`
//! (re-exported here: the passwd and group lookups live there, with the rest
//! of the I/O the modules share).

pub use tlog_rs_sys::nss::*;

use crate::facts::LoginFacts;
use crate::nss_passwd::PwEntry;

/// The accounts behind our NSS module, for selection by uid (PAM, CLI).
pub struct SystemAccounts;

impl crate::uid_match::Accounts for SystemAccounts {
    fn by_name(&self, name: &str) -> Result<Option<crate::uid_match::Account>, LookupError> {
        Ok(underlying_getpwnam(name)?.map(account))
    }
    fn by_uid(&self, uid: u32) -> Result<Option<crate::uid_match::Account>, LookupError> {
        Ok(underlying_getpwuid(uid)?.map(account))
    }
    fn groups(&self, name: &str, gid: u32) -> (Option<String>, Vec<String>) {
        groups_of(name.as_bytes(), gid)
    }
    fn members(&self, group: &str) -> Result<Vec<String>, LookupError> {
        group_members(group)
    }
}

fn account(e: PwEntry) -> crate::uid_match::Account {
    crate::uid_match::Account {
        name: e.name_lossy(),
        uid: e.uid,
        gid: e.gid,
    }
}

/// Gather the facts for `user` from the system: the underlying passwd entry,
/// the primary group by gid, the supplementary groups, and the host name.
/// `Ok(None)` = no such user.
pub fn login_facts(
    user: &str,
    service: Option<&str>,
    host: Option<&str>,
) -> Result<Option<LoginFacts>, LookupError> {
    let Some(pw) = underlying_getpwnam(user)? else {
        return Ok(None);
    };
    Ok(Some(facts_for_entry(&pw, service, host)))
}

/// Facts for an already looked-up passwd entry.
pub fn facts_for_entry(pw: &PwEntry, service: Option<&str>, host: Option<&str>) -> LoginFacts {
    let primary_group = group_name(pw.gid);
    let mut groups = Vec::new();
    for id in group_ids(&pw.name, pw.gid) {
        if let Some(name) = group_name(id) {
            if !groups.contains(&name) {
                groups.push(name);
            }
        }
    }
    LoginFacts::of_entry(
        pw,
        (primary_group, groups),
        host.map(str::to_string).unwrap_or_else(host_name),
        service.map(str::to_string),
    )
}
