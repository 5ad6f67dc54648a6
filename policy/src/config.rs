//! `/etc/tlog-rs/policy.toml`: the schema (serde, unknown keys rejected) and
//! its checks. Pure: text in, validated rules out.

use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use crate::decision::AuditLevel;
use crate::error::{line_of, PolicyError};
use crate::settings::RecSettings;
use crate::vocab::UnknownValue;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    recorder: Option<Spanned<String>>,
    audit_level: Option<Spanned<String>>,
    settings: Option<Spanned<RecSettings>>,
    sssd: Option<SssdToml>,
    freeipa: Option<FreeIpaToml>,
    display_managers: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    rule: Vec<Spanned<RuleToml>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SssdToml {
    #[serde(default = "yes")]
    enabled: bool,
    conf: Spanned<String>,
    conf_dir: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FreeIpaToml {
    #[serde(default = "yes")]
    enabled: bool,
    cache: Spanned<String>,
    max_age: Option<Spanned<toml::Value>>,
    on_stale: Option<Spanned<String>>,
    /// LDAP connection settings for `tlog-rs sync`/`rules`. The modules never
    /// connect to LDAP, so the engine only accepts the table; the freeipa
    /// crate validates it (and `tlog-rs sync` reports its errors).
    #[serde(rename = "ldap")]
    _ldap: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    name: Spanned<String>,
    #[serde(default = "yes")]
    enabled: bool,
    action: Option<Spanned<String>>,
    all_users: Option<bool>,
    users: Option<Spanned<Vec<String>>>,
    groups: Option<Spanned<Vec<String>>>,
    hosts: Option<Spanned<Vec<String>>>,
    services: Option<Spanned<Vec<String>>>,
    audit_level: Option<Spanned<String>>,
    settings: Option<Spanned<RecSettings>>,
    graphical: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

pub use crate::vocab::{Action, Graphical};

/// One validated `[[rule]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub line: usize,
    pub action: Action,
    pub all_users: bool,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    /// Empty = every host.
    pub hosts: Vec<String>,
    /// Empty = every service.
    pub services: Vec<String>,
    pub audit_level: Option<AuditLevel>,
    pub settings: RecSettings,
    /// Terminals opened inside a graphical login of a selected user.
    pub graphical: Graphical,
}

pub use crate::vocab::OnStale;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SssdConfig {
    pub conf: String,
    pub conf_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeIpaConfig {
    pub cache: String,
    pub max_age_secs: u64,
    pub on_stale: OnStale,
}

pub const DEFAULT_IPA_MAX_AGE_SECS: u64 = 24 * 3600;

/// The validated policy file (sources not read yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    pub recorder: Option<String>,
    pub audit_level: AuditLevel,
    pub settings: RecSettings,
    pub sssd: Option<SssdConfig>,
    pub freeipa: Option<FreeIpaConfig>,
    /// PAM services of display managers: their logins are graphical.
    pub display_managers: Vec<String>,
    pub rules: Vec<Rule>,
}

/// Parse and check policy.toml. Every problem is returned (not just the
/// first), each with its line.
pub fn parse(text: &str, origin: &str) -> Result<PolicyConfig, Vec<PolicyError>> {
    let raw: FileToml = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        vec![PolicyError::new(
            origin,
            line,
            e.message().trim().to_string(),
        )]
    })?;
    let mut errs = Vec::new();
    let at = |span: std::ops::Range<usize>| Some(line_of(text, span.start));
    let mut err = |line: Option<usize>, msg: String| errs.push(PolicyError::new(origin, line, msg));

    let recorder = raw.recorder.map(|r| {
        if !r.get_ref().starts_with('/') {
            err(
                at(r.span()),
                format!("recorder = {:?}: must be an absolute path", r.get_ref()),
            );
        }
        r.into_inner()
    });
    let audit_level = match &raw.audit_level {
        Some(a) => parse_audit(a, &mut err, &at).unwrap_or_default(),
        None => AuditLevel::Session,
    };
    let settings = match raw.settings {
        Some(s) => {
            for p in s.get_ref().problems() {
                err(at(s.span()), format!("[settings]: {p}"));
            }
            s.into_inner()
        }
        None => RecSettings::default(),
    };
    let mut absolute = |key: &str, v: &Spanned<String>| {
        if !v.get_ref().starts_with('/') {
            err(
                at(v.span()),
                format!("{key} = {:?}: must be an absolute path", v.get_ref()),
            );
        }
    };
    let sssd = raw.sssd.filter(|s| s.enabled).map(|s| {
        absolute("[sssd] conf", &s.conf);
        if let Some(d) = &s.conf_dir {
            absolute("[sssd] conf_dir", d);
        }
        SssdConfig {
            conf: s.conf.into_inner(),
            conf_dir: s.conf_dir.map(Spanned::into_inner),
        }
    });
    if let Some(f) = raw.freeipa.as_ref().filter(|f| f.enabled) {
        absolute("[freeipa] cache", &f.cache);
    }
    let freeipa = raw.freeipa.filter(|f| f.enabled).map(|f| {
        let max_age_secs = match &f.max_age {
            None => DEFAULT_IPA_MAX_AGE_SECS,
            Some(v) => parse_duration(v.get_ref()).unwrap_or_else(|m| {
                err(at(v.span()), format!("[freeipa] max_age: {m}"));
                DEFAULT_IPA_MAX_AGE_SECS
            }),
        };
        let on_stale = word(
            &f.on_stale,
            "[freeipa] on_stale",
            OnStale::Record,
            &mut err,
            &at,
        );
        FreeIpaConfig {
            cache: f.cache.into_inner(),
            max_age_secs,
            on_stale,
        }
    });

    let display_managers = match raw.display_managers {
        None => crate::graphical::DEFAULT_DISPLAY_MANAGERS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Some(l) => {
            if l.get_ref().iter().any(|s| s.is_empty()) {
                err(at(l.span()), "display_managers: empty service name".into());
            }
            l.into_inner()
        }
    };
    let mut rules = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in raw.rule {
        let line = line_of(text, r.span().start);
        let r = r.into_inner();
        let name = r.name.get_ref().clone();
        let label = format!("rule {name:?}");
        if name.is_empty() {
            err(Some(line), "rule name must not be empty".into());
        }
        if !seen.insert(name.clone()) {
            err(at(r.name.span()), format!("{label}: duplicate rule name"));
        }
        let action = word(
            &r.action,
            &format!("{label}: action"),
            Action::Record,
            &mut err,
            &at,
        );
        let list = |v: &Option<Spanned<Vec<String>>>,
                    what: &str,
                    err: &mut dyn FnMut(Option<usize>, String)| {
            match v {
                None => Vec::new(),
                Some(l) => {
                    if l.get_ref().is_empty() {
                        err(at(l.span()), format!("{label}: {what} = []: an empty list selects nothing; remove the key or name at least one"));
                    }
                    if l.get_ref().iter().any(|s| s.is_empty()) {
                        err(at(l.span()), format!("{label}: {what}: empty name"));
                    }
                    l.get_ref().clone()
                }
            }
        };
        let users = list(&r.users, "users", &mut err);
        let groups = list(&r.groups, "groups", &mut err);
        let hosts = list(&r.hosts, "hosts", &mut err);
        let services = list(&r.services, "services", &mut err);
        let all_users = r.all_users.unwrap_or(false);
        if !all_users && r.users.is_none() && r.groups.is_none() {
            err(
                Some(line),
                format!("{label} selects nobody: set users, groups, or all_users = true"),
            );
        }
        if all_users && (r.users.is_some() || r.groups.is_some()) {
            err(
                Some(line),
                format!("{label}: all_users = true cannot be combined with users or groups"),
            );
        }
        let audit = r
            .audit_level
            .as_ref()
            .and_then(|a| parse_audit(a, &mut err, &at));
        let settings = match r.settings {
            Some(s) => {
                if action == Action::Exempt {
                    err(
                        at(s.span()),
                        format!("{label}: an exempt rule cannot have settings"),
                    );
                }
                for p in s.get_ref().problems() {
                    err(at(s.span()), format!("{label}: settings: {p}"));
                }
                s.into_inner()
            }
            None => RecSettings::default(),
        };
        let graphical = match &r.graphical {
            None => Graphical::default(),
            Some(g) => {
                if action == Action::Exempt {
                    err(
                        at(g.span()),
                        format!("{label}: graphical applies to record rules only"),
                    );
                }
                g.get_ref().parse().unwrap_or_else(|e| {
                    err(at(g.span()), format!("{label}: graphical = {e}"));
                    Graphical::default()
                })
            }
        };
        if !r.enabled {
            continue;
        }
        rules.push(Rule {
            name,
            line,
            action,
            all_users,
            users,
            groups,
            hosts,
            services,
            audit_level: audit,
            settings,
            graphical,
        });
    }
    if errs.is_empty() {
        Ok(PolicyConfig {
            recorder,
            audit_level,
            settings,
            sssd,
            freeipa,
            display_managers,
            rules,
        })
    } else {
        Err(errs)
    }
}

/// An optional setting holding one of an enum's words: unset = `default`;
/// any other word is an error naming the valid ones (and gives `default`).
fn word<T: FromStr<Err = UnknownValue>>(
    v: &Option<Spanned<String>>,
    key: &str,
    default: T,
    err: &mut dyn FnMut(Option<usize>, String),
    at: &dyn Fn(std::ops::Range<usize>) -> Option<usize>,
) -> T {
    let Some(s) = v else { return default };
    s.get_ref().parse().unwrap_or_else(|e: UnknownValue| {
        let names: Vec<String> = e.expected.iter().map(|n| format!("{n:?}")).collect();
        let msg = format!("{key} = {:?}: expected {}", s.get_ref(), names.join(" or "));
        err(at(s.span()), msg);
        default
    })
}

fn parse_audit(
    a: &Spanned<String>,
    err: &mut dyn FnMut(Option<usize>, String),
    at: &dyn Fn(std::ops::Range<usize>) -> Option<usize>,
) -> Option<AuditLevel> {
    let v = AuditLevel::parse(a.get_ref());
    if v.is_none() {
        err(
            at(a.span()),
            format!(
                "audit_level = {:?}: expected none, login or session",
                a.get_ref()
            ),
        );
    }
    v
}

/// `max_age`: integer seconds, or a string like "90s", "30m", "12h", "7d".
fn parse_duration(v: &toml::Value) -> Result<u64, String> {
    match v {
        toml::Value::Integer(i) if *i > 0 => Ok(*i as u64),
        toml::Value::String(s) => {
            let s = s.trim();
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let n: u64 = num
                .parse()
                .map_err(|_| format!("{s:?}: expected a number followed by s, m, h or d"))?;
            let mul = match unit {
                "" | "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86400,
                _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
            };
            if n == 0 {
                return Err("must be greater than zero".into());
            }
            Ok(n.saturating_mul(mul))
        }
        other => Err(format!(
            "expected seconds or a string like \"24h\", found {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_words_name_the_valid_ones() {
        let msg = |text: &str| -> Vec<String> {
            parse(text, "p.toml")
                .unwrap_err()
                .into_iter()
                .map(|e| e.message)
                .collect()
        };
        assert_eq!(
            msg("[[rule]]\nname = \"a\"\naction = \"skip\"\nusers = [\"x\"]\n"),
            ["rule \"a\": action = \"skip\": expected \"record\" or \"exempt\""]
        );
        assert_eq!(
            msg("[freeipa]\ncache = \"/x\"\non_stale = \"ignore\"\n"),
            ["[freeipa] on_stale = \"ignore\": expected \"record\" or \"use\""]
        );
    }
}
