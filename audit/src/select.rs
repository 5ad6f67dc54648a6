//! Who gets which audit level, as audit uids.
//!
//! The policy decides per login (user, groups, host, service); the kernel
//! only sees the login uid. So every user a record rule can select (named
//! users, members of named groups, users whose primary group is named) is
//! looked up and decided for this host with the service unknown (NSS's view:
//! a service-restricted rule counts, so the rules are a superset). Rules
//! that select everyone (`all_users`, sssd `scope = all`, a stale FreeIPA
//! cache, a broken policy) are detected with a probe login nobody names,
//! and then give one rule for every logged-in uid (`auid!=unset`), minus
//! the named users the policy decides otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CStr;

use tlog_rs_policy::{sys, AuditLevel, LoginFacts, Policy};

/// A login nobody names, to see what the policy does with "anyone".
const PROBE_USER: &str = "tlog-rs-audit-probe";
const PROBE_UID: u32 = u32::MAX - 2;
/// The kernel takes at most 64 fields per rule (AUDIT_MAX_FIELDS).
const MAX_EXCEPT: usize = 50;

/// The auids one rule set selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Uid(u32),
    /// Inclusive range of consecutive selected uids.
    Range(u32, u32),
    /// Every logged-in uid except these.
    Everyone {
        except: Vec<u32>,
    },
}

/// The audit levels the policy gives, resolved to uids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPlan {
    /// Session level: uid -> the user names with that uid.
    pub session: BTreeMap<u32, BTreeSet<String>>,
    /// Login level (no rules needed): user names.
    pub login: BTreeSet<String>,
    /// Level given to logins no rule names, when some source selects everyone.
    pub everyone: Option<AuditLevel>,
    /// What the rules select.
    pub selectors: Vec<Selector>,
    /// Things the admin should know (names that do not resolve, ...).
    pub notes: Vec<String>,
}

/// The account lookups `plan` needs (the system's, or canned in tests).
pub trait Directory {
    /// Facts of a login of `name` on `host`, service unknown.
    fn facts(&self, name: &str, host: &str) -> Result<Option<LoginFacts>, String>;
    /// The members the group database lists for `group`.
    fn members(&self, group: &str) -> Result<Vec<String>, String>;
    /// Users whose primary group is `group` (never listed as members).
    fn primary_members(&self, group: &str) -> Result<Vec<String>, String>;
    /// Every enumerable user (to find the exemptions when all users are
    /// audited; exempt rules name users that no record rule names).
    fn all_users(&self) -> Result<Vec<String>, String>;
}

/// The system's passwd and group databases (the passwd services after our
/// own NSS module, so shells are the real ones).
pub struct SystemDirectory;

impl Directory for SystemDirectory {
    fn facts(&self, name: &str, host: &str) -> Result<Option<LoginFacts>, String> {
        sys::login_facts(name, None, Some(host)).map_err(|e| e.to_string())
    }
    fn members(&self, group: &str) -> Result<Vec<String>, String> {
        sys::group_members(group).map_err(|e| e.to_string())
    }
    fn primary_members(&self, group: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for (name, gid) in passwd_entries() {
            if sys::group_name(gid).as_deref() == Some(group) {
                out.push(name);
            }
        }
        Ok(out)
    }
    fn all_users(&self) -> Result<Vec<String>, String> {
        Ok(passwd_entries().into_iter().map(|(n, _)| n).collect())
    }
}

/// (name, gid) of every enumerable passwd entry. getpwent is not reentrant;
/// the CLI is single-threaded and this is its only user.
fn passwd_entries() -> Vec<(String, u32)> {
    let mut out = Vec::new();
    // SAFETY: setpwent/getpwent/endpwent have no preconditions; each entry
    // is copied out before the next call overwrites it.
    unsafe { libc::setpwent() };
    loop {
        // SAFETY: see above.
        let p = unsafe { libc::getpwent() };
        if p.is_null() {
            break;
        }
        // SAFETY: a non-null getpwent result points to a valid passwd whose
        // pw_name is a NUL-terminated string (or null).
        let (name, gid) = unsafe {
            let pw = &*p;
            if pw.pw_name.is_null() {
                continue;
            }
            (
                CStr::from_ptr(pw.pw_name).to_string_lossy().into_owned(),
                pw.pw_gid,
            )
        };
        out.push((name, gid));
    }
    // SAFETY: see above.
    unsafe { libc::endpwent() };
    out
}

fn rank(l: AuditLevel) -> u8 {
    match l.as_str() {
        "session" => 2,
        "login" => 1,
        _ => 0,
    }
}

/// The audit level of a login under `policy` (None = not recorded): the
/// highest a login of these facts gets, over an unknown service
/// and every service the policy names: audit rules match the auid, so a
/// user audited for one service is audited for all.
fn level(policy: &Policy, facts: &LoginFacts, services: &[String]) -> Option<AuditLevel> {
    std::iter::once(None)
        .chain(services.iter().map(Some))
        .filter_map(|service| {
            let mut f = facts.clone();
            f.service = service.cloned();
            let d = policy.decide(&f);
            d.record.then_some(d.audit_level)
        })
        .max_by_key(|l| rank(*l))
}

/// Resolve the policy to audit uids for `host`.
pub fn plan(policy: &Policy, host: &str, dir: &dyn Directory) -> Result<AuditPlan, String> {
    let names = policy.selecting_names();
    let services = policy.named_services();
    // FreeIPA rules name groups; their members come from the sync's cache
    // (directory membership) as well as from NSS.
    let ipa = policy.freeipa_members();
    let mut candidates: BTreeSet<String> = names.users.iter().cloned().collect();
    candidates.extend(ipa.users.iter().cloned());
    let mut groups: BTreeSet<&String> = names.groups.iter().collect();
    groups.extend(ipa.groups.iter());
    for g in groups {
        candidates.extend(dir.members(g).map_err(|e| format!("group {g}: {e}"))?);
        candidates.extend(
            dir.primary_members(g)
                .map_err(|e| format!("group {g}: {e}"))?,
        );
    }
    let probe = LoginFacts {
        user: PROBE_USER.into(),
        uid: PROBE_UID,
        gid: PROBE_UID,
        host: host.into(),
        passwd_shell: "/bin/sh".into(),
        ..LoginFacts::default()
    };
    let mut out = AuditPlan {
        everyone: level(policy, &probe, &services),
        ..AuditPlan::default()
    };
    if out.everyone.is_some_and(|l| rank(l) == 2) {
        candidates.extend(dir.all_users()?);
    }
    // uid -> highest level over the names with that uid (the kernel cannot
    // tell them apart).
    let mut by_uid: BTreeMap<u32, (u8, BTreeSet<String>)> = BTreeMap::new();
    for name in &candidates {
        let Some(facts) = dir.facts(name, host)? else {
            if !names.users.contains(name) {
                continue;
            }
            out.notes.push(format!(
                "user {name:?} is named by the policy but does not exist here"
            ));
            continue;
        };
        let l = level(policy, &facts, &services);
        let e = by_uid.entry(facts.uid).or_default();
        e.0 = e.0.max(l.map(rank).unwrap_or(0));
        e.1.insert(name.clone());
        if l.is_some_and(|l| rank(l) == 1) {
            out.login.insert(name.clone());
        }
    }
    for (uid, (r, names)) in &by_uid {
        if *r == 2 {
            out.session.insert(*uid, names.clone());
            for n in names {
                out.login.remove(n);
            }
        }
    }
    if out.everyone.is_some_and(|l| rank(l) == 2) {
        let mut except: Vec<u32> = by_uid
            .iter()
            .filter(|(_, (r, _))| *r < 2)
            .map(|(u, _)| *u)
            .collect();
        if except.len() > MAX_EXCEPT {
            out.notes.push(format!(
                "{} users are exempt from the \"session\" level, more than one rule can list: \
                 they are audited too (filter them when reading)",
                except.len()
            ));
            except.clear();
        }
        out.selectors.push(Selector::Everyone { except });
    } else {
        out.selectors = ranges(out.session.keys().copied());
    }
    Ok(out)
}

/// Sorted uids as single uids and ranges of consecutive ones.
pub fn ranges(uids: impl IntoIterator<Item = u32>) -> Vec<Selector> {
    let mut out = Vec::new();
    let mut cur: Option<(u32, u32)> = None;
    for u in uids {
        cur = match cur {
            Some((a, b)) if b.checked_add(1) == Some(u) => Some((a, u)),
            Some(r) => {
                out.push(r);
                Some((u, u))
            }
            None => Some((u, u)),
        };
    }
    out.extend(cur);
    out.into_iter()
        .map(|(a, b)| {
            if a == b {
                Selector::Uid(a)
            } else {
                Selector::Range(a, b)
            }
        })
        .collect()
}

impl AuditPlan {
    /// One line per fact, for the rules file's header and the CLI.
    pub fn describe(&self) -> Vec<String> {
        let mut v = Vec::new();
        match self.everyone {
            Some(l) => v.push(format!(
                "Every login no rule names has audit level \"{l}\" (a rule selects all users)."
            )),
            None => v.push("Logins no rule names are not recorded.".into()),
        }
        for (uid, names) in &self.session {
            let n: Vec<&str> = names.iter().map(String::as_str).collect();
            v.push(format!("Level \"session\": {} (uid {uid})", n.join(", ")));
        }
        if !self.login.is_empty() {
            let n: Vec<&str> = self.login.iter().map(String::as_str).collect();
            v.push(format!("Level \"login\" (no rules): {}", n.join(", ")));
        }
        for sel in &self.selectors {
            if let Selector::Everyone { except } = sel {
                if !except.is_empty() {
                    let e: Vec<String> = except.iter().map(u32::to_string).collect();
                    v.push(format!(
                        "Not at level \"session\" although all users are: uid {}",
                        e.join(", ")
                    ));
                }
            }
        }
        v.extend(self.notes.iter().cloned());
        v
    }
}
