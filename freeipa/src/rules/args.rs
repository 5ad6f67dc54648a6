//! The command line of `tlog-rs rules`: every argument is checked here,
//! before the server is contacted.

use std::path::PathBuf;
use std::str::FromStr;

use tlog_rs_policy::vocab::UnknownValue;
use tlog_rs_policy::{Action, AuditLevel, LimitAction};

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

/// Parse and validate the whole command line (no I/O).
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut policy = PathBuf::from(tlog_rs_policy::DEFAULT_POLICY_PATH);
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
}
