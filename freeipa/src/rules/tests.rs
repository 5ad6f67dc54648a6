//! `tlog-rs rules` planned and executed against an in-memory directory: the
//! checks against the directory and what gets written, without slapd.

use std::collections::{HashMap, HashSet};

use ldap3::{Mod, Scope};

use super::{execute, parse, Directory, Failure};
use crate::dn;
use crate::ldaperr::{LdapFailure, OpError, ResultCode, ResultError};
use crate::resolve::{Entry, Layout};

const BASE: &str = "dc=example,dc=test";

/// Entries by normalized DN; LDAP's answers for the filters `rules` sends
/// (an `&` of equality and presence tests, case-insensitive).
#[derive(Default)]
struct MemDir {
    entries: HashMap<String, Entry>,
    /// Writes refused with this result code.
    refuse: Option<ResultCode>,
    writes: usize,
}

impl MemDir {
    fn new() -> MemDir {
        let l = Layout::new(BASE);
        let mut d = MemDir::default();
        for c in [
            &l.users,
            &l.groups,
            &l.hosts,
            &l.hostgroups,
            &l.services,
            &l.servicegroups,
            &l.hbac,
            &l.rules,
        ] {
            d.put(c, &[("objectClass", "nsContainer")]);
        }
        d.put(
            &format!("cn=dbas,{}", l.groups),
            &[("objectClass", "groupOfNames"), ("cn", "dbas")],
        );
        d.put(
            &format!("cn=sshd,{}", l.services),
            &[("objectClass", "ipaHBACService"), ("cn", "sshd")],
        );
        d.put(
            &format!("ipaUniqueID=h1,{}", l.hbac),
            &[("objectClass", "ipaHBACRule"), ("cn", "allow_ssh")],
        );
        d
    }

    fn put(&mut self, dn: &str, attrs: &[(&str, &str)]) {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (a, v) in attrs {
            m.entry(a.to_string()).or_default().push(v.to_string());
        }
        self.entries.insert(dn::normalize(dn), Entry::new(dn, m));
    }

    fn rule(&self, name: &str) -> Option<&Entry> {
        let rules = Layout::new(BASE).rules;
        self.entries
            .values()
            .find(|e| dn::parent(&e.ndn()) == rules && e.one("cn") == Some(name))
    }

    fn write(&mut self) -> Result<(), LdapFailure> {
        if let Some(code) = self.refuse {
            return Err(LdapFailure::Result(ResultError {
                code,
                text: String::new(),
                matched: String::new(),
            }));
        }
        self.writes += 1;
        Ok(())
    }
}

fn matches(e: &Entry, filter: &str) -> bool {
    let inner = filter
        .strip_prefix("(&")
        .and_then(|f| f.strip_suffix(')'))
        .unwrap_or(filter);
    inner
        .split(')')
        .filter_map(|t| t.strip_prefix('('))
        .all(|t| {
            let (a, v) = t.split_once('=').unwrap_or((t, ""));
            let vals = e.get(&a.to_lowercase());
            if v == "*" {
                a.eq_ignore_ascii_case("objectClass") || !vals.is_empty()
            } else {
                vals.iter().any(|x| x.eq_ignore_ascii_case(v))
            }
        })
}

impl Directory for MemDir {
    fn base_dn(&self) -> &str {
        BASE
    }

    fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        _attrs: &[&str],
    ) -> Result<Vec<Entry>, OpError> {
        let b = dn::normalize(base);
        if !self.entries.contains_key(&b) {
            return Err(OpError {
                op: format!("search {base} {filter}"),
                cause: LdapFailure::Result(ResultError {
                    code: ResultCode::NoSuchObject,
                    text: String::new(),
                    matched: String::new(),
                }),
            });
        }
        Ok(self
            .entries
            .values()
            .filter(|e| match scope {
                Scope::Base => e.ndn() == b,
                _ => dn::parent(&e.ndn()) == b,
            })
            .filter(|e| matches(e, filter))
            .cloned()
            .collect())
    }

    fn add(&mut self, dn: &str, attrs: Vec<(String, HashSet<String>)>) -> Result<(), LdapFailure> {
        self.write()?;
        let m = attrs
            .into_iter()
            .map(|(a, v)| (a, v.into_iter().collect()))
            .collect();
        self.entries.insert(dn::normalize(dn), Entry::new(dn, m));
        Ok(())
    }

    fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Result<(), LdapFailure> {
        self.write()?;
        let e = self
            .entries
            .get_mut(&dn::normalize(dn))
            .expect("modify an existing entry");
        for m in mods {
            if let Mod::Replace(a, v) = m {
                let a = a.to_lowercase();
                if v.is_empty() {
                    e.attrs.remove(&a);
                } else {
                    let mut v: Vec<String> = v.into_iter().collect();
                    v.sort();
                    e.attrs.insert(a, v);
                }
            }
        }
        Ok(())
    }

    fn delete(&mut self, dn: &str) -> Result<(), LdapFailure> {
        self.write()?;
        self.entries.remove(&dn::normalize(dn));
        Ok(())
    }
}

fn run(d: &mut MemDir, args: &str) -> Result<String, Failure> {
    // '' is the empty argument, as in the shell.
    let words: Vec<String> = args
        .split_whitespace()
        .map(|w| if w == "''" { "" } else { w }.to_string())
        .collect();
    execute(d, &parse(&words).expect("valid command line").verb)
}

fn invalid(r: Result<String, Failure>) -> String {
    match r {
        Err(Failure::Invalid(e)) => e,
        Err(Failure::Server(e)) => panic!("server failure, want invalid: {e}"),
        Ok(out) => panic!("succeeded, want invalid: {out}"),
    }
}

#[test]
fn add_writes_the_rule_with_member_dns_and_settings_as_words() {
    let mut d = MemDir::new();
    let out = run(
        &mut d,
        "add dbas --groups dbas --hosts all --services sshd --mode exempt --audit session --action delay --priority 5",
    )
    .unwrap();
    assert!(out.starts_with("added rule dbas (ipaUniqueID="), "{out}");
    let r = d.rule("dbas").expect("rule written").clone();
    let l = Layout::new(BASE);
    assert_eq!(r.get("memberuser"), [format!("cn=dbas,{}", l.groups)]);
    assert_eq!(r.get("memberservice"), [format!("cn=sshd,{}", l.services)]);
    assert_eq!(r.one("hostcategory"), Some("all"));
    assert_eq!(r.one("ipasessionrecordingmode"), Some("exempt"));
    assert_eq!(r.one("ipasessionrecordingauditlevel"), Some("session"));
    assert_eq!(r.one("ipasessionrecordinglimitaction"), Some("delay"));
    assert_eq!(r.one("ipasessionrecordingpriority"), Some("5"));
    assert_eq!(r.one("ipaenabledflag"), Some("TRUE"));

    // list and show read it back in words.
    let list = run(&mut d, "list").unwrap();
    let row = list.lines().nth(1).expect("one row");
    assert!(
        list.starts_with("NAME ") && row.starts_with("dbas "),
        "{list}"
    );
    assert!(
        row.contains(" exempt ") && row.contains(" session "),
        "{row}"
    );
    let show = run(&mut d, "show dbas").unwrap();
    assert!(show.contains("LimitAction: delay"), "{show}");
}

#[test]
fn references_to_missing_entries_are_invalid_and_nothing_is_written() {
    let mut d = MemDir::new();
    let l = Layout::new(BASE);
    // The group's DN does not exist: the server says noSuchObject (32).
    let e = invalid(run(
        &mut d,
        "add r --groups nosuch --hosts all --services all",
    ));
    assert_eq!(
        e,
        format!("group nosuch does not exist (cn=nosuch,{})", l.groups)
    );
    let e = invalid(run(&mut d, "add r --hbac-rule nosuch"));
    assert!(
        e.starts_with("--hbac-rule: no HBAC rule named nosuch"),
        "{e}"
    );
    assert_eq!(d.writes, 0);
    assert!(d.rule("r").is_none());
}

#[test]
fn conflicts_with_the_directory_are_invalid() {
    let mut d = MemDir::new();
    run(&mut d, "add dbas --groups dbas --hosts all --services all").unwrap();
    let e = invalid(run(
        &mut d,
        "add dbas --users all --hosts all --services all",
    ));
    assert_eq!(e, "rule dbas already exists (use mod)");
    // Category all next to the rule's existing members.
    let e = invalid(run(&mut d, "mod dbas --users all"));
    assert!(
        e.starts_with("userCategory=all and memberUser entries together"),
        "{e}"
    );
    // An HBAC rule instead of selectors the rule still has.
    let e = invalid(run(&mut d, "mod dbas --hbac-rule allow_ssh"));
    assert!(e.starts_with("the rule uses an HBAC rule (seeAlso)"), "{e}");
    let e = invalid(run(&mut d, "del nosuch"));
    assert!(e.starts_with("no rule named nosuch under "), "{e}");
    assert_eq!(d.writes, 1);
}

#[test]
fn mod_enable_disable_and_del_change_the_entry() {
    let mut d = MemDir::new();
    run(&mut d, "add dbas --groups dbas --hosts all --services all").unwrap();
    assert_eq!(run(&mut d, "disable dbas").unwrap(), "disabled rule dbas");
    assert_eq!(d.rule("dbas").unwrap().one("ipaenabledflag"), Some("FALSE"));
    run(&mut d, "enable dbas").unwrap();
    assert_eq!(d.rule("dbas").unwrap().one("ipaenabledflag"), Some("TRUE"));
    // Replacing the selectors with an HBAC rule clears them.
    run(
        &mut d,
        "mod dbas --groups '' --hosts '' --services '' --hbac-rule allow_ssh --audit none",
    )
    .unwrap();
    let r = d.rule("dbas").unwrap();
    assert!(r.get("memberuser").is_empty() && r.get("hostcategory").is_empty());
    assert_eq!(
        r.one("seealso"),
        Some(format!("ipaUniqueID=h1,{}", Layout::new(BASE).hbac).as_str())
    );
    assert_eq!(r.one("ipasessionrecordingauditlevel"), Some("none"));
    assert_eq!(run(&mut d, "del dbas").unwrap(), "deleted rule dbas");
    assert!(d.rule("dbas").is_none());
}

#[test]
fn a_refused_write_is_a_server_failure_in_words() {
    let mut d = MemDir::new();
    d.refuse = Some(ResultCode::InsufficientAccessRights);
    match run(&mut d, "add dbas --groups dbas --hosts all --services all") {
        Err(Failure::Server(e)) => {
            assert_eq!(
                e,
                "add refused by the server: insufficient access rights (50)"
            )
        }
        _ => panic!("want a server failure"),
    }
}
