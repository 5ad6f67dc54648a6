//! Planning and executing a `tlog-rs rules` verb against a [`Directory`]:
//! what to write is computed and checked against the directory first.

use std::collections::{BTreeMap, HashMap, HashSet};

use ldap3::{dn_escape, ldap_escape, Mod, Scope};

use super::args::{Spec, Verb, Who};
use super::directory::Directory;
use super::view::View;
use crate::ldaperr::{LdapFailure, OpError, ResultCode};
use crate::resolve::{Entry, Layout};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Input that is wrong given what is in the directory (exit 2).
    Invalid(String),
    /// The server refused or failed (exit 1).
    Server(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Server(s)
    }
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Failure {
        Failure::Server(e.to_string())
    }
}

pub(super) const ATTRS_SETTINGS: [&str; 9] = [
    "ipaSessionRecordingPriority",
    "ipaSessionRecordingMode",
    "ipaSessionRecordingAuditLevel",
    "ipaSessionRecordingLogInput",
    "ipaSessionRecordingLogOutput",
    "ipaSessionRecordingLogWindow",
    "ipaSessionRecordingRateLimit",
    "ipaSessionRecordingBurstLimit",
    "ipaSessionRecordingLimitAction",
];

pub fn execute(c: &mut dyn Directory, verb: &Verb) -> Result<String, Failure> {
    let layout = Layout::new(c.base_dn());
    match verb {
        Verb::List => {
            let mut rules = c.search(
                &layout.rules,
                Scope::OneLevel,
                "(objectClass=ipaSessionRecordingRule)",
                &["*"],
            )?;
            rules.sort_by_key(|e| e.one("cn").unwrap_or("").to_lowercase());
            let hbac = hbac_rules(c, &layout)?;
            let mut out = View::header();
            for r in &rules {
                out.push('\n');
                out.push_str(&View::new(r, &layout, &hbac).row());
            }
            Ok(out)
        }
        Verb::Show(name) => {
            let r = find(c, &layout, name)?;
            let hbac = hbac_rules(c, &layout)?;
            Ok(View::new(&r, &layout, &hbac).full())
        }
        Verb::Del(name) => {
            let r = find(c, &layout, name)?;
            check(c.delete(&r.dn), "delete")?;
            Ok(format!("deleted rule {name}"))
        }
        Verb::Enable(name) | Verb::Disable(name) => {
            let r = find(c, &layout, name)?;
            let on = matches!(verb, Verb::Enable(_));
            let flag = if on { "TRUE" } else { "FALSE" };
            check(
                c.modify(
                    &r.dn,
                    vec![Mod::Replace("ipaEnabledFlag".to_string(), set([flag]))],
                ),
                "modify",
            )?;
            Ok(format!(
                "{} rule {name}",
                if on { "enabled" } else { "disabled" }
            ))
        }
        Verb::Add(name, spec) => {
            let existing = named(c, &layout.rules, RULE_CLASS, name, &["cn"])?;
            if !existing.is_empty() {
                return Err(Failure::Invalid(format!(
                    "rule {name} already exists (use mod)"
                )));
            }
            let target = plan(c, &layout, spec, None)?;
            let id = uuid4().map_err(Failure::Server)?;
            let dn = format!("ipaUniqueID={id},{}", layout.rules);
            let mut attrs: Vec<(String, HashSet<String>)> = vec![
                (
                    "objectClass".into(),
                    set(["ipaAssociation", "ipaSessionRecordingRule"]),
                ),
                ("cn".into(), set([name.as_str()])),
                ("ipaUniqueID".into(), set([id.as_str()])),
                (
                    "ipaEnabledFlag".into(),
                    set([if spec.disabled { "FALSE" } else { "TRUE" }]),
                ),
            ];
            for (a, v) in target {
                if !v.is_empty() {
                    attrs.push((a, v.into_iter().collect()));
                }
            }
            check(c.add(&dn, attrs), "add")?;
            Ok(format!("added rule {name} ({dn})"))
        }
        Verb::Mod(name, spec) => {
            let r = find(c, &layout, name)?;
            let target = plan(c, &layout, spec, Some(&r))?;
            let mods: Vec<Mod<String>> = target
                .into_iter()
                .map(|(a, v)| Mod::Replace(a, v.into_iter().collect()))
                .collect();
            check(c.modify(&r.dn, mods), "modify")?;
            Ok(format!("modified rule {name}"))
        }
    }
}

/// HBAC rules by normalized DN: their name and time limit (for seeAlso).
fn hbac_rules(c: &mut dyn Directory, layout: &Layout) -> Result<HashMap<String, Entry>, Failure> {
    let found = c.search(
        &layout.hbac,
        Scope::OneLevel,
        "(objectClass=ipaHBACRule)",
        &["cn", "accessTime"],
    )?;
    Ok(found.into_iter().map(|e| (e.ndn(), e)).collect())
}

fn set<const N: usize>(v: [&str; N]) -> HashSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn check(r: Result<(), LdapFailure>, what: &str) -> Result<(), Failure> {
    r.map_err(|e| {
        Failure::Server(match e {
            LdapFailure::Result(r) => format!("{what} refused by the server: {r}"),
            LdapFailure::Transport(t) => format!("{what} failed: {t}"),
        })
    })
}

const RULE_CLASS: &str = "ipaSessionRecordingRule";

/// The entries of `class` named `name` (cn) directly under `container`.
fn named(
    c: &mut dyn Directory,
    container: &str,
    class: &str,
    name: &str,
    attrs: &[&str],
) -> Result<Vec<Entry>, OpError> {
    let filter = format!("(&(objectClass={class})(cn={}))", ldap_escape(name));
    c.search(container, Scope::OneLevel, &filter, attrs)
}

fn find(c: &mut dyn Directory, layout: &Layout, name: &str) -> Result<Entry, Failure> {
    let mut found = named(c, &layout.rules, RULE_CLASS, name, &["*"])?;
    match found.len() {
        0 => Err(Failure::Invalid(format!(
            "no rule named {name} under {}",
            layout.rules
        ))),
        1 => Ok(found.remove(0)),
        n => Err(Failure::Server(format!(
            "{n} rules are named {name}: fix the directory (names must be unique)"
        ))),
    }
}

/// The attributes the command sets (empty = delete), merged with `current`
/// for `mod`, validated against the directory (referenced names exist;
/// category all excludes members; seeAlso excludes selectors).
fn plan(
    c: &mut dyn Directory,
    layout: &Layout,
    spec: &Spec,
    current: Option<&Entry>,
) -> Result<BTreeMap<String, Vec<String>>, Failure> {
    let mut t: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let cur = |a: &str| current.map(|e| e.get(a).to_vec()).unwrap_or_default();
    let under = |dns: &[String], parent: &str| -> Vec<String> {
        dns.iter()
            .filter(|d| crate::dn::parent(&crate::dn::normalize(d)) == parent)
            .cloned()
            .collect()
    };
    let mut new_refs: Vec<(String, String)> = Vec::new(); // (what, dn) to verify
    let mut dimension = |t: &mut BTreeMap<String, Vec<String>>,
                         who: &Option<Who>,
                         groups: &Option<Vec<String>>,
                         (cat, member): (&str, &str),
                         (rdn, container, kind): (&str, &str, &str),
                         (grdn, gcontainer, gkind): (&str, &str, &str)| {
        if who.is_none() && groups.is_none() {
            return;
        }
        let existing = cur(&member.to_lowercase());
        let mut names_part = match who {
            Some(Who::Names(n)) => n
                .iter()
                .map(|x| {
                    let dn = format!("{rdn}={},{container}", dn_escape(x.as_str()));
                    new_refs.push((format!("{kind} {x}"), dn.clone()));
                    dn
                })
                .collect(),
            Some(Who::All) => vec![],
            None => under(&existing, container),
        };
        let groups_part: Vec<String> = match groups {
            Some(g) => g
                .iter()
                .map(|x| {
                    let dn = format!("{grdn}={},{gcontainer}", dn_escape(x.as_str()));
                    new_refs.push((format!("{gkind} {x}"), dn.clone()));
                    dn
                })
                .collect(),
            None => under(&existing, gcontainer),
        };
        names_part.extend(groups_part);
        names_part.sort();
        names_part.dedup();
        t.insert(member.to_string(), names_part);
        match who {
            Some(Who::All) => {
                t.insert(cat.to_string(), vec!["all".into()]);
            }
            Some(Who::Names(_)) => {
                t.insert(cat.to_string(), vec![]);
            }
            None => {}
        }
    };
    let l = layout;
    // (selector, group selector, category/member attributes, member RDN,
    // container and kind, group RDN, container and kind)
    #[rustfmt::skip]
    let dimensions = [
        (&spec.users, &spec.groups, ("userCategory", "memberUser"), ("uid", l.users.as_str(), "user"), ("cn", l.groups.as_str(), "group")),
        (&spec.hosts, &spec.hostgroups, ("hostCategory", "memberHost"), ("fqdn", l.hosts.as_str(), "host"), ("cn", l.hostgroups.as_str(), "hostgroup")),
        (&spec.services, &spec.servicegroups, ("serviceCategory", "memberService"), ("cn", l.services.as_str(), "HBAC service"), ("cn", l.servicegroups.as_str(), "HBAC service group")),
    ];
    for (who, groups, attrs, member, group) in dimensions {
        dimension(&mut t, who, groups, attrs, member, group);
    }
    if let Some(h) = &spec.hbac_rule {
        let v = match h {
            None => vec![],
            Some(name) => {
                let found = named(c, &layout.hbac, "ipaHBACRule", name, &["cn"])?;
                match found.as_slice() {
                    [one] => vec![one.dn.clone()],
                    [] => {
                        return Err(Failure::Invalid(format!(
                            "--hbac-rule: no HBAC rule named {name} under {}",
                            layout.hbac
                        )))
                    }
                    _ => {
                        return Err(Failure::Invalid(format!(
                            "--hbac-rule: several HBAC rules are named {name}"
                        )))
                    }
                }
            }
        };
        t.insert("seeAlso".into(), v);
    }
    let opt = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
    fn word<T: ToString>(v: &Option<T>) -> Vec<String> {
        v.iter().map(T::to_string).collect()
    }
    let boolean = |b: &Option<bool>| {
        b.map(|b| if b { "TRUE" } else { "FALSE" }.to_string())
            .into_iter()
            .collect::<Vec<_>>()
    };
    let num = |n: &Option<u64>| n.map(|n| n.to_string()).into_iter().collect::<Vec<_>>();
    let pairs: [(&str, Option<Vec<String>>); 10] = [
        (
            ATTRS_SETTINGS[0],
            spec.priority
                .as_ref()
                .map(|p| p.map(|p| p.to_string()).into_iter().collect()),
        ),
        (ATTRS_SETTINGS[1], spec.mode.map(|m| vec![m.to_string()])),
        (ATTRS_SETTINGS[2], spec.audit.as_ref().map(word)),
        (ATTRS_SETTINGS[3], spec.log_input.as_ref().map(boolean)),
        (ATTRS_SETTINGS[4], spec.log_output.as_ref().map(boolean)),
        (ATTRS_SETTINGS[5], spec.log_window.as_ref().map(boolean)),
        (ATTRS_SETTINGS[6], spec.rate.as_ref().map(num)),
        (ATTRS_SETTINGS[7], spec.burst.as_ref().map(num)),
        (ATTRS_SETTINGS[8], spec.action.as_ref().map(word)),
        ("description", spec.description.as_ref().map(opt)),
    ];
    for (a, v) in pairs {
        if let Some(v) = v {
            t.insert(a.to_string(), v);
        }
    }
    if spec.clear_access_time {
        t.insert("accessTime".into(), vec![]);
    }

    // The resulting rule must be consistent.
    let after =
        |a: &str| -> Vec<String> { t.get(a).cloned().unwrap_or_else(|| cur(&a.to_lowercase())) };
    let see_also = !after("seeAlso").is_empty();
    for (cat, member) in [
        ("userCategory", "memberUser"),
        ("hostCategory", "memberHost"),
        ("serviceCategory", "memberService"),
    ] {
        let (cv, mv) = (after(cat), after(member));
        if !cv.is_empty() && !mv.is_empty() {
            return Err(Failure::Invalid(format!(
                "{cat}=all and {member} entries together: the rule has {} {member} value(s); clear them (e.g. --groups '') or do not use 'all'",
                mv.len()
            )));
        }
        if see_also && (!cv.is_empty() || !mv.is_empty()) {
            return Err(Failure::Invalid(format!(
                "the rule uses an HBAC rule (seeAlso) and would also have its own {}: clear one of them (--hbac-rule '' or the selector)",
                if cv.is_empty() { member } else { cat }
            )));
        }
    }
    for (what, dn) in new_refs {
        match c.search(&dn, Scope::Base, "(objectClass=*)", &["1.1"]) {
            Ok(v) if !v.is_empty() => {}
            Ok(_) => return Err(Failure::Invalid(format!("{what} does not exist ({dn})"))),
            Err(e) if e.code() == Some(ResultCode::NoSuchObject) => {
                return Err(Failure::Invalid(format!("{what} does not exist ({dn})")))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(t)
}

/// A random (version 4) UUID for ipaUniqueID.
fn uuid4() -> Result<String, String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let u = uuid4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid4().unwrap());
    }
}
