//! `tlog-rs rules list|show|add|mod|del|enable|disable`: manage the
//! session-recording rules in LDAP without writing LDIF. Every argument is
//! checked before the server is contacted; server errors are passed on in
//! words.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;

use ldap3::{dn_escape, ldap_escape, Mod, Scope};

use crate::config::{self, BindMethod};
use crate::conn::{self, Connection};
use crate::fetch::search;
use crate::ldaperr::{result_text, OpError, ResultCode};
use crate::resolve::{Entry, Layout};
use tlog_policy::freeipa::{quote_values, TimeLimitHandling};
use tlog_policy::vocab::UnknownValue;
use tlog_policy::{Action, AuditLevel, LimitAction};

const USAGE: &str = "\
usage: tlog-rs rules [--policy FILE] [--bind-dn DN --password-file FILE] VERB ...

  list                       every rule, one per line
  show NAME                  one rule in full
  add NAME SELECTORS [SETTINGS] [--disabled]
  mod NAME [SELECTORS] [SETTINGS]
  del NAME
  enable NAME | disable NAME

Selectors (comma-separated names; repeatable; '' clears; 'all' = category all):
  --users U,..|all  --groups G,..   --hosts FQDN,..|all  --hostgroups HG,..
  --services S,..|all  --servicegroups SG,..   --hbac-rule NAME (instead of
  all selectors: use that HBAC rule's users, hosts and services)
Settings ('none' unsets):
  --priority N (lower wins)  --mode record|exempt  --audit none|login|session
  --log-input yes|no  --log-output yes|no  --log-window yes|no
  --rate BYTES/S  --burst BYTES  --action pass|delay|drop  --description TEXT
  --access-time none (mod only: remove a time limit; tlog-rs does not evaluate
  accessTime, so it refuses to set one: a time-limited exemption never
  applies, a time-limited record rule records at all times)

The connection comes from [freeipa.ldap] in the policy file (default
/etc/tlog-rs/policy.toml); --bind-dn/--password-file bind as an administrator
instead. Exit status: 0 done, 1 server refused or failed, 2 invalid input.";

/// A list dimension: category all, or names (empty = clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    All,
    Names(Vec<String>),
}

/// `Some(None)` = unset the attribute, `Some(Some(v))` = set it.
type Setting<T> = Option<Option<T>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    pub users: Option<Who>,
    pub groups: Option<Vec<String>>,
    pub hosts: Option<Who>,
    pub hostgroups: Option<Vec<String>>,
    pub services: Option<Who>,
    pub servicegroups: Option<Vec<String>>,
    pub hbac_rule: Setting<String>,
    pub priority: Setting<u32>,
    pub mode: Option<Action>,
    pub audit: Setting<AuditLevel>,
    pub log_input: Setting<bool>,
    pub log_output: Setting<bool>,
    pub log_window: Setting<bool>,
    pub rate: Setting<u64>,
    pub burst: Setting<u64>,
    pub action: Setting<LimitAction>,
    pub description: Setting<String>,
    /// `--access-time none`: remove accessTime (setting one is refused).
    pub clear_access_time: bool,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    List,
    Show(String),
    Add(String, Spec),
    Mod(String, Spec),
    Del(String),
    Enable(String),
    Disable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub policy: PathBuf,
    pub bind_dn: Option<String>,
    pub password_file: Option<PathBuf>,
    pub verb: Verb,
}

pub fn main(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect() {
        Ok(a) => a,
        Err(a) => return fail(2, &format!("argument {a:?} is not UTF-8")),
    };
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return 0;
    }
    let inv = match parse(&args) {
        Ok(i) => i,
        Err(e) => return fail(2, &format!("{e}\n(see tlog-rs rules --help)")),
    };
    let mut cfg = match config::load(&inv.policy) {
        Ok(c) => c.ldap,
        Err(e) => return fail(2, &e.to_string()),
    };
    if let (Some(dn), Some(pw)) = (&inv.bind_dn, &inv.password_file) {
        cfg.bind = BindMethod::Simple;
        cfg.bind_dn = Some(dn.clone());
        cfg.password_file = Some(pw.clone());
    }
    let mut c = match conn::connect(&cfg) {
        Ok(c) => c,
        Err(e) => return fail(1, &e),
    };
    match execute(&mut c, &inv.verb) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            0
        }
        Err(Failure::Invalid(e)) => fail(2, &e),
        Err(Failure::Server(e)) => fail(1, &e),
    }
}

fn fail(code: i32, msg: &str) -> i32 {
    eprintln!("tlog-rs rules: {msg}");
    code
}

/// Parse and validate the whole command line (no I/O).
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut policy = PathBuf::from(tlog_policy::DEFAULT_POLICY_PATH);
    let mut bind_dn = None;
    let mut password_file = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--policy" => policy = PathBuf::from(it.next().ok_or("--policy needs a file")?),
            "--bind-dn" => bind_dn = Some(it.next().ok_or("--bind-dn needs a DN")?.clone()),
            "--password-file" => {
                password_file = Some(PathBuf::from(
                    it.next().ok_or("--password-file needs a file")?,
                ))
            }
            _ => rest.push(a.clone()),
        }
    }
    if bind_dn.is_some() != password_file.is_some() {
        return Err("--bind-dn and --password-file go together".into());
    }
    if let Some(dn) = &bind_dn {
        if !crate::dn::looks_like_dn(dn) {
            return Err(format!("--bind-dn {dn:?} is not a DN"));
        }
    }
    let mut words = rest.into_iter();
    let verb = words
        .next()
        .ok_or("missing VERB (list, show, add, mod, del, enable, disable)")?;
    let name = |words: &mut std::vec::IntoIter<String>| -> Result<String, String> {
        let n = words.next().ok_or(format!("{verb}: missing rule NAME"))?;
        check_rule_name(&n)?;
        Ok(n)
    };
    let verb = match verb.as_str() {
        "list" => Verb::List,
        "show" => Verb::Show(name(&mut words)?),
        "del" => Verb::Del(name(&mut words)?),
        "enable" => Verb::Enable(name(&mut words)?),
        "disable" => Verb::Disable(name(&mut words)?),
        "add" => {
            let n = name(&mut words)?;
            let spec = parse_spec(words.by_ref(), true)?;
            check_complete(&spec)?;
            Verb::Add(n, spec)
        }
        "mod" => {
            let n = name(&mut words)?;
            let spec = parse_spec(words.by_ref(), false)?;
            if spec == Spec::default() {
                return Err("mod: nothing to change".into());
            }
            Verb::Mod(n, spec)
        }
        other => {
            return Err(format!(
                "unknown verb {other:?} (list, show, add, mod, del, enable, disable)"
            ))
        }
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    Ok(Invocation {
        policy,
        bind_dn,
        password_file,
        verb,
    })
}

fn parse_spec(words: &mut impl Iterator<Item = String>, adding: bool) -> Result<Spec, String> {
    let mut s = Spec::default();
    let mut words = words.peekable();
    while let Some(opt) = words.next() {
        if opt == "--disabled" {
            if !adding {
                return Err("--disabled is for add; use `tlog-rs rules disable NAME`".into());
            }
            s.disabled = true;
            continue;
        }
        if !opt.starts_with("--") {
            return Err(format!("unexpected argument {opt:?}"));
        }
        let v = words.next().ok_or(format!("{opt} needs a value"))?;
        let unset = v == "none";
        match opt.as_str() {
            "--users" => s.users = Some(merge_who(s.users.take(), who(&opt, &v, check_name)?)),
            "--hosts" => s.hosts = Some(merge_who(s.hosts.take(), who(&opt, &v, check_host)?)),
            "--services" => {
                s.services = Some(merge_who(s.services.take(), who(&opt, &v, check_name)?))
            }
            "--groups" => s.groups = Some(extend(s.groups.take(), names(&opt, &v, check_name)?)),
            "--hostgroups" => {
                s.hostgroups = Some(extend(s.hostgroups.take(), names(&opt, &v, check_name)?))
            }
            "--servicegroups" => {
                s.servicegroups = Some(extend(s.servicegroups.take(), names(&opt, &v, check_name)?))
            }
            "--hbac-rule" => {
                s.hbac_rule = Some(if v.is_empty() || unset {
                    None
                } else {
                    check_name(&v).map_err(|e| format!("{opt}: {e}"))?;
                    Some(v)
                })
            }
            "--priority" => {
                s.priority = Some(if unset {
                    None
                } else {
                    Some(v.parse::<u32>().map_err(|_| {
                        format!("--priority {v:?}: expected a whole number from 0 to {} (lower wins), or none", u32::MAX)
                    })?)
                })
            }
            "--mode" => s.mode = Some(one_of(&opt, &v)?),
            // "none" is a level here (no audit), not "unset"
            "--audit" => s.audit = Some(Some(one_of(&opt, &v)?)),
            "--action" => s.action = Some(if unset { None } else { Some(one_of(&opt, &v)?) }),
            "--log-input" => s.log_input = Some(yes_no(&opt, &v)?),
            "--log-output" => s.log_output = Some(yes_no(&opt, &v)?),
            "--log-window" => s.log_window = Some(yes_no(&opt, &v)?),
            "--rate" => s.rate = Some(bytes(&opt, &v)?),
            "--burst" => s.burst = Some(bytes(&opt, &v)?),
            "--access-time" => {
                if adding || !unset {
                    return Err(format!(
                        "--access-time {v:?}: tlog-rs does not evaluate time limits, so it does not set them \
                         (a time-limited exemption would never apply); only `mod NAME --access-time none` \
                         to remove one"
                    ));
                }
                s.clear_access_time = true
            }
            "--description" => {
                if v.chars().any(char::is_control) {
                    return Err("--description: control characters are not allowed".into());
                }
                s.description = Some(if v.is_empty() { None } else { Some(v) })
            }
            _ => return Err(format!("unknown option {opt}")),
        }
    }
    // Category all excludes names in the same dimension.
    for (label, w, extra, extra_label) in [
        ("--users", &s.users, &s.groups, "--groups"),
        ("--hosts", &s.hosts, &s.hostgroups, "--hostgroups"),
        (
            "--services",
            &s.services,
            &s.servicegroups,
            "--servicegroups",
        ),
    ] {
        if w == &Some(Who::All) && extra.as_ref().is_some_and(|g| !g.is_empty()) {
            return Err(format!("{label} all cannot be combined with {extra_label}"));
        }
    }
    if matches!(s.hbac_rule, Some(Some(_))) && has_selectors(&s) {
        return Err("--hbac-rule takes users, hosts and services from the HBAC rule: do not combine it with --users/--groups/--hosts/--hostgroups/--services/--servicegroups".into());
    }
    Ok(s)
}

fn has_selectors(s: &Spec) -> bool {
    let who = |w: &Option<Who>| {
        matches!(w, Some(Who::All)) || matches!(w, Some(Who::Names(n)) if !n.is_empty())
    };
    let list = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| !l.is_empty());
    who(&s.users)
        || who(&s.hosts)
        || who(&s.services)
        || list(&s.groups)
        || list(&s.hostgroups)
        || list(&s.servicegroups)
}

/// A new rule must select someone, somewhere, for some service.
fn check_complete(s: &Spec) -> Result<(), String> {
    if matches!(s.hbac_rule, Some(Some(_))) {
        return Ok(());
    }
    let who = |w: &Option<Who>, l: &Option<Vec<String>>| {
        matches!(w, Some(Who::All))
            || matches!(w, Some(Who::Names(n)) if !n.is_empty())
            || l.as_ref().is_some_and(|l| !l.is_empty())
    };
    let mut missing = vec![];
    if !who(&s.users, &s.groups) {
        missing.push("users (--users or --groups)");
    }
    if !who(&s.hosts, &s.hostgroups) {
        missing.push("hosts (--hosts or --hostgroups)");
    }
    if !who(&s.services, &s.servicegroups) {
        missing.push("services (--services or --servicegroups; 'all' for every service)");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "add: the rule would match nobody: give {} (or --hbac-rule NAME)",
            missing.join(", ")
        ))
    }
}

fn who(opt: &str, v: &str, check: fn(&str) -> Result<(), String>) -> Result<Who, String> {
    if v == "all" {
        return Ok(Who::All);
    }
    names(opt, v, check).map(Who::Names)
}

fn merge_who(old: Option<Who>, new: Who) -> Who {
    match (old, new) {
        (Some(Who::Names(mut a)), Who::Names(b)) => {
            a.extend(b);
            Who::Names(a)
        }
        (_, n) => n,
    }
}

fn extend(old: Option<Vec<String>>, new: Vec<String>) -> Vec<String> {
    let mut v = old.unwrap_or_default();
    v.extend(new);
    v
}

fn names(opt: &str, v: &str, check: fn(&str) -> Result<(), String>) -> Result<Vec<String>, String> {
    if v.is_empty() {
        return Ok(vec![]);
    }
    v.split(',')
        .map(|n| {
            let n = n.trim();
            check(n).map_err(|e| format!("{opt}: {e}"))?;
            Ok(n.to_string())
        })
        .collect()
}

fn check_rule_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("rule name {n:?}: use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit"))
    }
}

fn check_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 255
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@-$".contains(c));
    if ok {
        Ok(())
    } else if n.is_empty() {
        Err("empty name in the list".into())
    } else {
        Err(format!(
            "{n:?} is not a valid name (letters, digits, '_', '.', '@', '-', '$')"
        ))
    }
}

fn check_host(n: &str) -> Result<(), String> {
    let labels_ok = n.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if n.contains('.') && n.len() <= 253 && labels_ok {
        Ok(())
    } else {
        Err(format!("{n:?} is not a fully qualified host name (FreeIPA names hosts by FQDN, like web1.example.com)"))
    }
}

/// One of an enum's words, case-insensitive.
fn one_of<T: FromStr<Err = UnknownValue>>(opt: &str, v: &str) -> Result<T, String> {
    v.to_lowercase()
        .parse()
        .map_err(|e: UnknownValue| format!("{opt} {v:?}: expected {}", e.expected.join(", ")))
}

fn yes_no(opt: &str, v: &str) -> Result<Option<bool>, String> {
    match v.to_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(Some(true)),
        "no" | "false" | "off" => Ok(Some(false)),
        "none" => Ok(None),
        _ => Err(format!("{opt} {v:?}: expected yes, no or none")),
    }
}

fn bytes(opt: &str, v: &str) -> Result<Option<u64>, String> {
    if v == "none" {
        return Ok(None);
    }
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(format!(
            "{opt} {v:?}: expected a positive number of bytes, or none"
        )),
    }
}

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

const ATTRS_SETTINGS: [&str; 9] = [
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

pub fn execute(c: &mut Connection, verb: &Verb) -> Result<String, Failure> {
    let layout = Layout::new(&c.cfg.base_dn);
    match verb {
        Verb::List => {
            let mut rules = search(
                c,
                &layout.rules,
                Scope::OneLevel,
                "(objectClass=ipaSessionRecordingRule)",
                &["*"],
            )?;
            rules.sort_by_key(|e| e.one("cn").unwrap_or("").to_lowercase());
            let hbac = hbac_rules(c, &layout)?;
            let mut out = format!(
                "{:<28} {:<8} {:>8} {:<7} {:<8} {}",
                "NAME", "ENABLED", "PRIORITY", "MODE", "AUDIT", "SELECTS"
            );
            for r in &rules {
                let v = View::new(r, &layout, &hbac);
                out.push_str(&format!(
                    "\n{:<28} {:<8} {:>8} {:<7} {:<8} {}",
                    v.name,
                    v.enabled,
                    v.priority,
                    v.mode,
                    v.audit,
                    v.selects()
                ));
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
            check(c.op().delete(&r.dn), "delete")?;
            Ok(format!("deleted rule {name}"))
        }
        Verb::Enable(name) | Verb::Disable(name) => {
            let r = find(c, &layout, name)?;
            let on = matches!(verb, Verb::Enable(_));
            let flag = if on { "TRUE" } else { "FALSE" };
            check(
                c.op().modify(
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
            let existing = search(
                c,
                &layout.rules,
                Scope::OneLevel,
                &format!(
                    "(&(objectClass=ipaSessionRecordingRule)(cn={}))",
                    ldap_escape(name.as_str())
                ),
                &["cn"],
            )?;
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
            check(c.op().add(&dn, attrs), "add")?;
            Ok(format!("added rule {name} ({dn})"))
        }
        Verb::Mod(name, spec) => {
            let r = find(c, &layout, name)?;
            let target = plan(c, &layout, spec, Some(&r))?;
            let mods: Vec<Mod<String>> = target
                .into_iter()
                .map(|(a, v)| Mod::Replace(a, v.into_iter().collect()))
                .collect();
            check(c.op().modify(&r.dn, mods), "modify")?;
            Ok(format!("modified rule {name}"))
        }
    }
}

/// HBAC rules by normalized DN: their name and time limit (for seeAlso).
fn hbac_rules(c: &mut Connection, layout: &Layout) -> Result<HashMap<String, Entry>, Failure> {
    let found = search(
        c,
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

fn check(r: ldap3::result::Result<ldap3::LdapResult>, what: &str) -> Result<(), Failure> {
    match r {
        Ok(res) if res.rc == 0 => Ok(()),
        Ok(res) => Err(Failure::Server(format!(
            "{what} refused by the server: {}",
            result_text(&res)
        ))),
        Err(ldap3::LdapError::LdapResult { result }) => Err(Failure::Server(format!(
            "{what} refused by the server: {}",
            result_text(&result)
        ))),
        Err(e) => Err(Failure::Server(format!("{what} failed: {e}"))),
    }
}

fn find(c: &mut Connection, layout: &Layout, name: &str) -> Result<Entry, Failure> {
    let mut found = search(
        c,
        &layout.rules,
        Scope::OneLevel,
        &format!(
            "(&(objectClass=ipaSessionRecordingRule)(cn={}))",
            ldap_escape(name)
        ),
        &["*"],
    )?;
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
    c: &mut Connection,
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
    dimension(
        &mut t,
        &spec.users,
        &spec.groups,
        ("userCategory", "memberUser"),
        ("uid", &layout.users, "user"),
        ("cn", &layout.groups, "group"),
    );
    dimension(
        &mut t,
        &spec.hosts,
        &spec.hostgroups,
        ("hostCategory", "memberHost"),
        ("fqdn", &layout.hosts, "host"),
        ("cn", &layout.hostgroups, "hostgroup"),
    );
    dimension(
        &mut t,
        &spec.services,
        &spec.servicegroups,
        ("serviceCategory", "memberService"),
        ("cn", &layout.services, "HBAC service"),
        ("cn", &layout.servicegroups, "HBAC service group"),
    );
    if let Some(h) = &spec.hbac_rule {
        let v = match h {
            None => vec![],
            Some(name) => {
                let found = search(
                    c,
                    &layout.hbac,
                    Scope::OneLevel,
                    &format!(
                        "(&(objectClass=ipaHBACRule)(cn={}))",
                        ldap_escape(name.as_str())
                    ),
                    &["cn"],
                )?;
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
        match search(c, &dn, Scope::Base, "(objectClass=*)", &["1.1"]) {
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

/// A rule in words.
struct View {
    name: String,
    enabled: &'static str,
    priority: String,
    mode: String,
    audit: String,
    users: String,
    hosts: String,
    services: String,
    hbac: Option<String>,
    /// accessTime of the rule, then of its seeAlso HBAC rule (not evaluated).
    access_time: Vec<String>,
    time_handling: TimeLimitHandling,
    settings: Vec<(String, String)>,
    description: Option<String>,
    dn: String,
}

impl View {
    fn new(e: &Entry, layout: &Layout, hbac: &HashMap<String, Entry>) -> View {
        let short = |dns: &[String]| -> Vec<String> {
            dns.iter()
                .map(|d| {
                    let n = crate::dn::normalize(d);
                    let parent = crate::dn::parent(&n);
                    let value = crate::dn::first_rdn(d)
                        .map(|(_, v)| v)
                        .unwrap_or_else(|| d.clone());
                    if parent == layout.groups
                        || parent == layout.hostgroups
                        || parent == layout.servicegroups
                    {
                        format!("@{value}")
                    } else {
                        value
                    }
                })
                .collect()
        };
        let dim = |cat: &str, member: &str| -> String {
            if e.one(cat).is_some_and(|c| c.eq_ignore_ascii_case("all")) {
                "all".into()
            } else {
                let v = short(e.get(member));
                if v.is_empty() {
                    "-".into()
                } else {
                    v.join(",")
                }
            }
        };
        let settings = ATTRS_SETTINGS[3..]
            .iter()
            .filter_map(|a| {
                e.one(&a.to_lowercase()).map(|v| {
                    (
                        a.trim_start_matches("ipaSessionRecording").to_string(),
                        v.to_string(),
                    )
                })
            })
            .collect();
        let target = e.one("seealso").map(|d| hbac.get(&crate::dn::normalize(d)));
        let mut access_time = e.get("accesstime").to_vec();
        if let Some(Some(h)) = target {
            access_time.extend(h.get("accesstime").iter().cloned());
        }
        let mode = e
            .one("ipasessionrecordingmode")
            .unwrap_or(Action::Record.as_str())
            .to_lowercase();
        View {
            name: e.one("cn").unwrap_or("?").to_string(),
            enabled: if e
                .one("ipaenabledflag")
                .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))
            {
                "yes"
            } else {
                "no"
            },
            priority: e
                .one("ipasessionrecordingpriority")
                .unwrap_or("-")
                .to_string(),
            // Anything but exempt records (an invalid mode is ignored by the sync).
            time_handling: TimeLimitHandling::for_mode(if mode == Action::Exempt.as_str() {
                Action::Exempt
            } else {
                Action::Record
            }),
            access_time,
            mode,
            audit: e
                .one("ipasessionrecordingauditlevel")
                .unwrap_or("-")
                .to_lowercase(),
            users: dim("usercategory", "memberuser"),
            hosts: dim("hostcategory", "memberhost"),
            services: dim("servicecategory", "memberservice"),
            hbac: e.one("seealso").map(|d| match target {
                Some(Some(h)) => h.one("cn").unwrap_or("?").to_string(),
                _ => format!("{d} (missing)"),
            }),
            settings,
            description: e.one("description").map(str::to_string),
            dn: e.dn.clone(),
        }
    }

    fn selects(&self) -> String {
        let mut s = match &self.hbac {
            Some(h) => format!("via HBAC rule {h}"),
            None => format!(
                "users={} hosts={} services={}",
                self.users, self.hosts, self.services
            ),
        };
        if !self.access_time.is_empty() {
            s.push_str(&format!(
                " accessTime={} ({})",
                quote_values(&self.access_time),
                self.time_handling.as_str()
            ));
        }
        s
    }

    fn full(&self) -> String {
        let mut s = format!(
            "rule:        {}\ndn:          {}\nenabled:     {}\npriority:    {}\nmode:        {}\naudit level: {}\n",
            self.name, self.dn, self.enabled, self.priority, self.mode, self.audit
        );
        match &self.hbac {
            Some(h) => s.push_str(&format!(
                "HBAC rule:   {h} (its users, hosts and services)\n"
            )),
            None => s.push_str(&format!(
                "users:       {}\nhosts:       {}\nservices:    {}\n",
                self.users, self.hosts, self.services
            )),
        }
        if !self.access_time.is_empty() {
            s.push_str(&format!(
                "time limit:  {}: {}\n",
                quote_values(&self.access_time),
                self.time_handling
            ));
        }
        for (k, v) in &self.settings {
            s.push_str(&format!("{:<13}{v}\n", format!("{k}:")));
        }
        if let Some(d) = &self.description {
            s.push_str(&format!("description: {d}\n"));
        }
        s.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &str) -> Result<Invocation, String> {
        parse(
            &args
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn valid_commands() {
        let i = p("add dbas --groups dbas,admins --hostgroups production --services sshd --servicegroups Sudo --priority 20 --log-input no --rate 65536 --action delay --audit session").unwrap();
        let Verb::Add(name, s) = i.verb else { panic!() };
        assert_eq!(name, "dbas");
        assert_eq!(
            s.groups,
            Some(vec!["dbas".to_string(), "admins".to_string()])
        );
        assert_eq!(s.priority, Some(Some(20)));
        assert_eq!(s.log_input, Some(Some(false)));
        assert_eq!(s.action, Some(Some(LimitAction::Delay)));
        assert_eq!(s.audit, Some(Some(AuditLevel::Session)));
        let i = p("mod dbas --priority none --users all").unwrap();
        let Verb::Mod(_, s) = i.verb else { panic!() };
        assert_eq!(s.priority, Some(None));
        assert_eq!(s.users, Some(Who::All));
        assert!(matches!(
            p("add x --hbac-rule allow_ssh").unwrap().verb,
            Verb::Add(..)
        ));
        assert!(matches!(p("list").unwrap().verb, Verb::List));
        let Verb::Mod(_, s) = p("mod x --access-time none").unwrap().verb else {
            panic!()
        };
        assert!(s.clear_access_time);
    }

    #[test]
    fn invalid_input_is_refused_with_reasons() {
        let cases = [
            ("", "missing VERB"),
            ("frobnicate", "unknown verb \"frobnicate\""),
            ("show", "show: missing rule NAME"),
            (
                "add bad,name --users all --hosts all --services all",
                "rule name \"bad,name\"",
            ),
            (
                "add x --users all --hosts all",
                "would match nobody: give services",
            ),
            (
                "add x --users alice --hosts web1 --services all",
                "\"web1\" is not a fully qualified host name",
            ),
            (
                "add x --users al=ice --hosts all --services all",
                "--users: \"al=ice\" is not a valid name",
            ),
            (
                "add x --users all --groups dbas --hosts all --services all",
                "--users all cannot be combined with --groups",
            ),
            (
                "add x --hbac-rule r --users alice",
                "--hbac-rule takes users, hosts and services from the HBAC rule",
            ),
            (
                "add x --users all --hosts all --services all --access-time none",
                "--access-time \"none\": tlog-rs does not evaluate time limits",
            ),
            (
                "mod x --access-time periodic",
                "only `mod NAME --access-time none`",
            ),
            (
                "mod x --priority high",
                "--priority \"high\": expected a whole number",
            ),
            ("mod x --priority -1", "expected a whole number"),
            (
                "mod x --mode maybe",
                "--mode \"maybe\": expected record, exempt",
            ),
            (
                "mod x --audit full",
                "--audit \"full\": expected none, login, session",
            ),
            ("mod x --log-input perhaps", "expected yes, no or none"),
            ("mod x --rate 0", "--rate \"0\": expected a positive number"),
            ("mod x --action block", "expected pass, delay, drop"),
            ("mod x", "mod: nothing to change"),
            ("mod x --disabled", "--disabled is for add"),
            ("mod x --bogus 1", "unknown option --bogus"),
            ("del x y", "unexpected argument \"y\""),
            (
                "--bind-dn cn=admin list",
                "--bind-dn and --password-file go together",
            ),
            (
                "--bind-dn admin --password-file /p list",
                "--bind-dn \"admin\" is not a DN",
            ),
        ];
        for (args, want) in cases {
            let e = p(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: got {e:?}, want {want:?}");
        }
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid4().unwrap());
    }
}
