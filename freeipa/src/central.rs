//! `tlog-rs sync --central FILE`: FreeIPA's access and retention objects for
//! the central side (freeipa-schema/README.md, "Central side"). Each enabled
//! `ipaSessionRecordingAccess` becomes one `[[web.auditors]]` entry per
//! auditor group, each enabled `ipaSessionRecordingRetention` one
//! `[[retention.rule]]` per host group or user group, the forms central.toml
//! takes (its `freeipa_file` key reads the file; tlog-rs-central.toml(5)).
//! An invalid object is skipped and reported with its name and DN.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use ldap3::Scope;
use tlog_rs_index::config::MaxAge;

use crate::conn::Connection;
use crate::fetch::search;
use crate::resolve::{Entry, Layout};
use crate::{cachefile, config, conn, dn};

/// One `[[web.auditors]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auditors {
    /// The object it comes from: name and DN, written as a comment.
    pub from: (String, String),
    pub group: String,
    pub hostgroups: Vec<String>,
    pub usergroups: Vec<String>,
    pub purge: bool,
}

/// What a `[[retention.rule]]` applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionScope {
    HostGroup(String),
    UserGroup(String),
}

/// One `[[retention.rule]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    pub from: (String, String),
    pub scope: RetentionScope,
    pub max_age: MaxAge,
    /// False: purged without an archive. True (or absent in FreeIPA) is
    /// central.toml's default, so it is not written.
    pub archive: bool,
}

/// An enabled object that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub name: String,
    pub dn: String,
    /// "access" or "retention".
    pub kind: &'static str,
    pub why: String,
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} object {:?} skipped: {} [dn: {}]",
            self.kind, self.name, self.why, self.dn
        )
    }
}

/// The file's content and the objects that were skipped.
#[derive(Debug, Default)]
pub struct Central {
    pub auditors: Vec<Auditors>,
    pub retention: Vec<RetentionRule>,
    pub notices: Vec<Notice>,
}

/// DN → name for the directory's user groups and host groups.
struct Names {
    users: HashMap<String, String>,
    hosts: HashMap<String, String>,
}

impl Names {
    fn new(usergroups: &[Entry], hostgroups: &[Entry]) -> Names {
        let map = |v: &[Entry]| {
            v.iter()
                .filter_map(|e| e.one("cn").map(|n| (e.ndn(), n.to_string())))
                .collect()
        };
        Names {
            users: map(usergroups),
            hosts: map(hostgroups),
        }
    }

    fn usergroups(&self, e: &Entry, attr: &str, what: &str) -> Result<Vec<String>, String> {
        names(e.get(&attr.to_lowercase()), &self.users, attr, what)
    }

    fn hostgroups(&self, e: &Entry) -> Result<Vec<String>, String> {
        names(
            e.get("memberhost"),
            &self.hosts,
            "memberHost",
            "is not a host group (scopes are host groups; put the host in one)",
        )
    }
}

fn names(
    dns: &[String],
    known: &HashMap<String, String>,
    attr: &str,
    what: &str,
) -> Result<Vec<String>, String> {
    let mut out = BTreeSet::new();
    for d in dns {
        match known.get(&dn::normalize(d)) {
            Some(n) => out.insert(n.clone()),
            None => return Err(format!("{attr} {d:?} {what}")),
        };
    }
    Ok(out.into_iter().collect())
}

/// A BOOLEAN attribute; None when absent.
fn boolean(e: &Entry, attr: &str, name: &str) -> Result<Option<bool>, String> {
    match e.one(&attr.to_lowercase()) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("TRUE") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("FALSE") => Ok(Some(false)),
        Some(v) => Err(format!("{name} {v:?} is not TRUE or FALSE")),
    }
}

/// `*Category: all` has no central.toml form: say what to use instead.
fn no_categories(e: &Entry, instead: &str) -> Result<(), String> {
    for attr in ["userCategory", "hostCategory"] {
        if let Some(v) = e.one(&attr.to_lowercase()) {
            return Err(format!("{attr}: {v} is not supported ({instead})"));
        }
    }
    Ok(())
}

fn access(e: &Entry, names: &Names) -> Result<Vec<Auditors>, String> {
    no_categories(
        e,
        "for every recording use web.auditors_group in central.toml",
    )?;
    let groups = names.usergroups(
        e,
        "memberUser",
        "is not a user group (auditors are user groups; put the user in one)",
    )?;
    if groups.is_empty() {
        return Err("no auditors: memberUser names no user group".into());
    }
    let hostgroups = names.hostgroups(e)?;
    let usergroups =
        names.usergroups(e, "ipaSessionRecordingAuditedGroup", "is not a user group")?;
    if hostgroups.is_empty() && usergroups.is_empty() {
        return Err(
            "no scope: give memberHost host groups or ipaSessionRecordingAuditedGroup user groups"
                .into(),
        );
    }
    let purge = boolean(e, "ipaSessionRecordingPurge", "ipaSessionRecordingPurge")?;
    let from = (e.one("cn").unwrap_or("").to_string(), e.dn.clone());
    Ok(groups
        .into_iter()
        .map(|group| Auditors {
            from: from.clone(),
            group,
            hostgroups: hostgroups.clone(),
            usergroups: usergroups.clone(),
            purge: purge.unwrap_or(false),
        })
        .collect())
}

fn retention(e: &Entry, names: &Names) -> Result<Vec<RetentionRule>, String> {
    no_categories(
        e,
        "for every recording use retention.default_max_age in central.toml",
    )?;
    let hostgroups = names.hostgroups(e)?;
    let usergroups = names.usergroups(e, "memberUser", "is not a user group")?;
    if hostgroups.is_empty() && usergroups.is_empty() {
        return Err("no scope: give memberHost host groups or memberUser user groups".into());
    }
    let max_age: MaxAge = e
        .one("ipasessionrecordingmaxage")
        .ok_or("no ipaSessionRecordingMaxAge")?
        .parse()
        .map_err(|m| format!("ipaSessionRecordingMaxAge {m}"))?;
    let archive = boolean(
        e,
        "ipaSessionRecordingArchive",
        "ipaSessionRecordingArchive",
    )?;
    let from = (e.one("cn").unwrap_or("").to_string(), e.dn.clone());
    let scopes = hostgroups
        .into_iter()
        .map(RetentionScope::HostGroup)
        .chain(usergroups.into_iter().map(RetentionScope::UserGroup));
    Ok(scopes
        .map(|scope| RetentionRule {
            from: from.clone(),
            scope,
            max_age,
            archive: archive.unwrap_or(true),
        })
        .collect())
}

/// Check and convert the enabled objects (in name order, for a stable file).
pub fn build(
    access_objs: &[Entry],
    retention_objs: &[Entry],
    usergroups: &[Entry],
    hostgroups: &[Entry],
) -> Central {
    let names = Names::new(usergroups, hostgroups);
    let mut out = Central::default();
    let sorted = |v: &[Entry]| {
        let mut v: Vec<Entry> = v.to_vec();
        v.sort_by(|a, b| (a.one("cn"), a.ndn()).cmp(&(b.one("cn"), b.ndn())));
        v
    };
    let notice = |e: &Entry, kind: &'static str, why: String| Notice {
        name: e.one("cn").unwrap_or(&e.dn).to_string(),
        dn: e.dn.clone(),
        kind,
        why,
    };
    for e in sorted(access_objs) {
        match access(&e, &names) {
            Ok(v) => out.auditors.extend(v),
            Err(why) => out.notices.push(notice(&e, "access", why)),
        }
    }
    for e in sorted(retention_objs) {
        match retention(&e, &names) {
            Ok(v) => out.retention.extend(v),
            Err(why) => out.notices.push(notice(&e, "retention", why)),
        }
    }
    out
}

/// A TOML basic string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| q(s)).collect();
    format!("[{}]", items.join(", "))
}

/// The file: a header naming the source, then the entries, each after a
/// comment naming its FreeIPA object.
pub fn to_toml(c: &Central, source: &str) -> String {
    let mut o = format!(
        "# Written by `tlog-rs sync --central` from {source}; do not edit\n# (the next sync replaces it). Read through freeipa_file in central.toml.\n"
    );
    // TOML comments may not hold control characters.
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let from = |(name, dn): &(String, String)| format!("# {} ({})\n", clean(name), clean(dn));
    for a in &c.auditors {
        o.push('\n');
        o.push_str(&from(&a.from));
        o.push_str("[[web.auditors]]\n");
        o.push_str(&format!("group = {}\n", q(&a.group)));
        if !a.hostgroups.is_empty() {
            o.push_str(&format!("hostgroups = {}\n", list(&a.hostgroups)));
        }
        if !a.usergroups.is_empty() {
            o.push_str(&format!("usergroups = {}\n", list(&a.usergroups)));
        }
        o.push_str(&format!("purge = {}\n", a.purge));
    }
    for r in &c.retention {
        o.push('\n');
        o.push_str(&from(&r.from));
        o.push_str("[[retention.rule]]\n");
        match &r.scope {
            RetentionScope::HostGroup(g) => o.push_str(&format!("hostgroup = {}\n", q(g))),
            RetentionScope::UserGroup(g) => o.push_str(&format!("usergroup = {}\n", q(g))),
        }
        o.push_str(&format!("max_age = {}\n", q(&r.max_age.to_string())));
        if !r.archive {
            o.push_str("archive = false\n");
        }
    }
    o
}

fn container(c: &mut Connection, base: &str, class: &str) -> Result<Vec<Entry>, String> {
    let filter = format!("(&(objectClass={class})(ipaEnabledFlag=TRUE))");
    search(c, base, Scope::OneLevel, &filter, &["*"]).map_err(|e| {
        if e.code() == Some(crate::ldaperr::ResultCode::NoSuchObject) {
            format!("{base}: the container does not exist: load freeipa-schema/containers.ldif")
        } else {
            e.into()
        }
    })
}

fn fetch(c: &mut Connection) -> Result<Central, String> {
    let layout = Layout::new(&c.cfg.base_dn.clone());
    let access_objs = container(
        c,
        &format!("cn=access,{}", layout.rules),
        "ipaSessionRecordingAccess",
    )?;
    let retention_objs = container(
        c,
        &format!("cn=retention,{}", layout.rules),
        "ipaSessionRecordingRetention",
    )?;
    let groups = |c: &mut Connection, base: &str| {
        search(
            c,
            base,
            Scope::OneLevel,
            "(objectClass=groupOfNames)",
            &["cn"],
        )
    };
    let usergroups = groups(c, &layout.groups)?;
    let hostgroups = groups(c, &layout.hostgroups)?;
    Ok(build(
        &access_objs,
        &retention_objs,
        &usergroups,
        &hostgroups,
    ))
}

/// What a sync did.
pub struct Report {
    pub summary: String,
    /// Skipped objects, each with its name and DN.
    pub notices: Vec<Notice>,
}

/// Connect, read, check, write `out` atomically (the old file stays on any
/// failure).
pub fn sync(cfg: &config::SyncConfig, out: &Path) -> Result<Report, String> {
    let mut c = conn::connect(&cfg.ldap)?;
    // ldap3 panics on a malformed server response: report it as a failure.
    let central = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fetch(&mut c)))
        .map_err(|_| format!("{}: malformed answer from the server", c.uri))??;
    let _ = c.ldap.unbind();
    cachefile::write_atomic(out, &to_toml(&central, &c.uri))?;
    let mut summary = format!(
        "synced {} [[web.auditors]] and {} [[retention.rule]] entries from {} into {}",
        central.auditors.len(),
        central.retention.len(),
        c.uri,
        out.display()
    );
    if !central.notices.is_empty() {
        summary.push_str(&format!(
            "; {} object(s) skipped (see the warnings)",
            central.notices.len()
        ));
    }
    Ok(Report {
        summary,
        notices: central.notices,
    })
}

#[cfg(test)]
mod tests;
