//! The central configuration, `/etc/tlog-rs/central.toml` (tlog-rs-central.toml(5)):
//! the index database, the sources to index, host groups and what counts
//! as an administrative session. Errors name FILE:LINE.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_PATH: &str = "/etc/tlog-rs/central.toml";
pub const DEFAULT_DB: &str = "/var/lib/tlog-rs/central.db";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; None when the file could not be read at all.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where the index lives: a SQLite file, or a PostgreSQL URL (shared index,
/// `store::postgres`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbSpec {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::str::FromStr for DbSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("empty database path".into());
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(DbSpec::Postgres(s.to_string()))
        } else if s.contains("://") {
            Err(format!(
                "{s:?}: unknown database URL scheme (a SQLite file path or postgres://...)"
            ))
        } else {
            Ok(DbSpec::Sqlite(PathBuf::from(s)))
        }
    }
}

impl fmt::Display for DbSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbSpec::Sqlite(p) => write!(f, "{}", p.display()),
            DbSpec::Postgres(u) => f.write_str(u),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub groups: Vec<String>,
    pub services: Vec<String>,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            groups: vec![],
            services: ["su", "su-l", "sudo", "sudo-i"].map(String::from).to_vec(),
        }
    }
}

/// `[web]`: the browser UI (`tlog-rs web`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Web {
    /// Members (NSS groups of the canonical PAM user) see every recording.
    pub auditors_group: String,
    // Scoped auditors (issue 12).
    /// Whether members of `auditors_group` may purge.
    pub auditors_purge: bool,
    /// `[[web.auditors]]`, in file order.
    pub auditors: Vec<ScopedAuditors>,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            auditors_group: "auditors".into(),
            auditors_purge: false,
            auditors: vec![],
        }
    }
}

// Retention (`tlog-rs purge`, crate tlog-rs-retention).
/// A duration in whole days, hours or minutes: `400d`, `36h`, `90m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MaxAge(pub std::time::Duration);

impl std::str::FromStr for MaxAge {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: expected a number and a unit d, h or m (e.g. \"400d\")");
        let unit = s.chars().last().ok_or_else(bad)?;
        let n: u64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
        let secs = match unit {
            'd' => n.checked_mul(86_400),
            'h' => n.checked_mul(3_600),
            'm' => n.checked_mul(60),
            _ => return Err(bad()),
        }
        .ok_or_else(|| format!("{s:?}: too long"))?;
        Ok(MaxAge(std::time::Duration::from_secs(secs)))
    }
}

impl fmt::Display for MaxAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        if s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s.is_multiple_of(3_600) {
            write!(f, "{}h", s / 3_600)
        } else {
            write!(f, "{}m", s / 60)
        }
    }
}

/// Whom a `[[retention.rule]]` applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionScope {
    /// Recordings of the hosts of this `[hostgroups]` entry.
    HostGroup(String),
    /// Recordings of users in this group (groups recorded at login).
    UserGroup(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    pub scope: RetentionScope,
    pub max_age: MaxAge,
    /// False: purged without an archive even with `archive_dir` (a
    /// recording is archived unless every rule that matches it says so).
    pub archive: bool,
}

/// `[retention]`: how long recordings are kept (tlog-rs-central.toml(5)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// For recordings no rule matches; None keeps them forever.
    pub default_max_age: Option<MaxAge>,
    /// Purged recordings are first archived here (compressed JSON Lines).
    pub archive_dir: Option<PathBuf>,
    pub rules: Vec<RetentionRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    default_max_age: Option<toml::Spanned<String>>,
    archive_dir: Option<toml::Spanned<String>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRetentionRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetentionRule {
    hostgroup: Option<toml::Spanned<String>>,
    usergroup: Option<toml::Spanned<String>>,
    max_age: toml::Spanned<String>,
    archive: Option<toml::Spanned<bool>>,
}

/// `[[web.auditors]]`: members of `group` see the recordings made on the
/// hosts of `hostgroups` or by users whose login groups meet `usergroups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedAuditors {
    pub group: String,
    /// Names of `[hostgroups]`, checked to exist.
    pub hostgroups: Vec<String>,
    pub usergroups: Vec<String>,
    pub purge: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub db: DbSpec,
    /// Directories (or files) in the JSONL layouts `tlog-rs index --jsonl` reads.
    pub jsonl: Vec<PathBuf>,
    /// Journal directories or files (`--journal`).
    pub journal: Vec<PathBuf>,
    /// Elasticsearch/OpenSearch indices (`--es`); also the credentials
    /// `play --db` uses to read messages back from them.
    pub es: Vec<crate::es::EsSource>,
    pub hostgroups: BTreeMap<String, Vec<String>>,
    pub admin: Admin,
    pub web: Web,
    pub retention: Retention,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: DbSpec::Sqlite(PathBuf::from(DEFAULT_DB)),
            jsonl: vec![],
            journal: vec![],
            es: vec![],
            hostgroups: BTreeMap::new(),
            admin: Admin::default(),
            web: Web::default(),
            retention: Retention::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    db: Option<toml::Spanned<String>>,
    #[serde(default)]
    sources: RawSources,
    #[serde(default)]
    hostgroups: BTreeMap<String, toml::Spanned<Vec<String>>>,
    hostgroups_file: Option<toml::Spanned<String>>,
    admin: Option<RawAdmin>,
    web: Option<RawWeb>,
    retention: Option<RawRetention>,
    // Access and retention objects from FreeIPA (`tlog-rs sync --central`).
    freeipa_file: Option<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    auditors_group: Option<toml::Spanned<String>>,
    auditors_purge: Option<bool>,
    #[serde(default)]
    auditors: Vec<toml::Spanned<RawScoped>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScoped {
    group: String,
    #[serde(default)]
    hostgroups: Vec<toml::Spanned<String>>,
    #[serde(default)]
    usergroups: Vec<toml::Spanned<String>>,
    #[serde(default)]
    purge: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSources {
    #[serde(default)]
    jsonl: Vec<toml::Spanned<String>>,
    #[serde(default)]
    journal: Vec<toml::Spanned<String>>,
    #[serde(default)]
    es: Vec<toml::Spanned<RawEs>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEs {
    url: String,
    index: String,
    user: Option<String>,
    password_file: Option<String>,
    ca_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    groups: Option<Vec<String>>,
    services: Option<Vec<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A `[hostgroups]` table, host names checked.
fn hostgroups(
    raw: BTreeMap<String, toml::Spanned<Vec<String>>>,
    at: &dyn Fn(Option<usize>, String) -> ConfigError,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, hosts) in raw {
        let span = hosts.span().start;
        let hosts = hosts.into_inner();
        if let Some(h) = hosts
            .iter()
            .find(|h| h.is_empty() || h.contains(char::is_whitespace))
        {
            return Err(at(
                Some(span),
                format!("hostgroups.{name}: {h:?} is not a host name"),
            ));
        }
        out.insert(name, hosts);
    }
    Ok(out)
}

/// A file central.toml names (`hostgroups_file`, `freeipa_file`): its path
/// must be absolute, a missing file is an error at the key, and its own
/// errors name its own file and line.
struct Included {
    path: PathBuf,
    text: String,
}

impl Included {
    /// `name` is the key, `writer` the command that writes the file.
    fn read(
        key: &toml::Spanned<String>,
        name: &str,
        writer: &str,
        at: &dyn Fn(Option<usize>, String) -> ConfigError,
    ) -> Result<Included, ConfigError> {
        let path = Path::new(key.get_ref());
        if !path.is_absolute() {
            return Err(at(
                Some(key.span().start),
                format!("{name}: {path:?} is not an absolute path"),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            at(
                Some(key.span().start),
                format!("{name}: {}: {e} (`{writer}` writes it)", path.display()),
            )
        })?;
        Ok(Included {
            path: path.to_path_buf(),
            text,
        })
    }

    fn error(&self, offset: Option<usize>, message: String) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            line: offset.map(|o| line_of(&self.text, o)),
            message,
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(&self.text).map_err(|e| {
            self.error(
                Some(e.span().map_or(0, |s| s.start)),
                e.message().trim().to_string(),
            )
        })
    }
}

/// `hostgroups_file`: a file holding only a `[hostgroups]` table (written by
/// `tlog-rs sync --hostgroups` from FreeIPA). Its own errors name its own
/// file and line; a missing file is an error at the key.
fn hostgroups_file(
    key: &toml::Spanned<String>,
    at: &dyn Fn(Option<usize>, String) -> ConfigError,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        hostgroups: BTreeMap<String, toml::Spanned<Vec<String>>>,
    }
    let inc = Included::read(key, "hostgroups_file", "tlog-rs sync --hostgroups", at)?;
    let here = |offset: Option<usize>, message: String| inc.error(offset, message);
    let file: File = inc.parse()?;
    hostgroups(file.hostgroups, &here)
}

/// One `[[web.auditors]]` entry, checked (central.toml's or FreeIPA's).
fn scoped_auditors(
    c: &Config,
    a: toml::Spanned<RawScoped>,
    at: &dyn Fn(Option<usize>, String) -> ConfigError,
) -> Result<ScopedAuditors, ConfigError> {
    let span = Some(a.span().start);
    let a = a.into_inner();
    if a.group.is_empty() {
        return Err(at(span, "web.auditors: empty group name".into()));
    }
    if a.hostgroups.is_empty() && a.usergroups.is_empty() {
        return Err(at(
            span,
            format!(
                "web.auditors {:?}: give hostgroups or usergroups (for all recordings use web.auditors_group)",
                a.group
            ),
        ));
    }
    for h in &a.hostgroups {
        c.hostgroup(h.get_ref()).map_err(|e| {
            at(
                Some(h.span().start),
                format!("web.auditors {:?}: {e}", a.group),
            )
        })?;
    }
    if let Some(u) = a.usergroups.iter().find(|u| u.get_ref().is_empty()) {
        return Err(at(
            Some(u.span().start),
            format!("web.auditors {:?}: empty user group name", a.group),
        ));
    }
    Ok(ScopedAuditors {
        group: a.group,
        hostgroups: a.hostgroups.into_iter().map(|h| h.into_inner()).collect(),
        usergroups: a.usergroups.into_iter().map(|u| u.into_inner()).collect(),
        purge: a.purge,
    })
}

/// One `[[retention.rule]]`, checked against the host groups and the
/// archive directory already read.
fn retention_rule(
    c: &Config,
    rule: toml::Spanned<RawRetentionRule>,
    at: &dyn Fn(Option<usize>, String) -> ConfigError,
) -> Result<RetentionRule, ConfigError> {
    let span = Some(rule.span().start);
    let rule = rule.into_inner();
    let scope = match (rule.hostgroup, rule.usergroup) {
        (Some(h), None) => {
            let (hspan, h) = (Some(h.span().start), h.into_inner());
            if !c.hostgroups.contains_key(&h) {
                return Err(at(
                    hspan,
                    format!("retention.rule: unknown host group {h:?} (define it in [hostgroups])"),
                ));
            }
            RetentionScope::HostGroup(h)
        }
        (None, Some(g)) if !g.get_ref().is_empty() => RetentionScope::UserGroup(g.into_inner()),
        _ => {
            return Err(at(
                span,
                "retention.rule: exactly one of hostgroup or usergroup".into(),
            ))
        }
    };
    let max_age = rule.max_age.get_ref().parse().map_err(|m| {
        at(
            Some(rule.max_age.span().start),
            format!("retention.rule.max_age: {m}"),
        )
    })?;
    let archive = match rule.archive {
        Some(a) if *a.get_ref() && c.retention.archive_dir.is_none() => {
            return Err(at(
                Some(a.span().start),
                "retention.rule.archive: true needs retention.archive_dir".into(),
            ))
        }
        Some(a) => a.into_inner(),
        None => true,
    };
    Ok(RetentionRule {
        scope,
        max_age,
        archive,
    })
}

// Access and retention objects from FreeIPA (issue 12).
/// `freeipa_file`: `[[web.auditors]]` and `[[retention.rule]]` entries
/// written by `tlog-rs sync --central`, checked like central.toml's own
/// (errors name that file and its line) and added after them. central.toml
/// wins: an auditor entry for a group central.toml already scopes, and a
/// retention rule for a scope central.toml already rules, are left out.
fn freeipa_file(
    c: &mut Config,
    key: &toml::Spanned<String>,
    at: &dyn Fn(Option<usize>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        web: Option<FileWeb>,
        retention: Option<FileRetention>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FileWeb {
        #[serde(default)]
        auditors: Vec<toml::Spanned<RawScoped>>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FileRetention {
        #[serde(default)]
        rule: Vec<toml::Spanned<RawRetentionRule>>,
    }
    let inc = Included::read(key, "freeipa_file", "tlog-rs sync --central", at)?;
    let here = |offset: Option<usize>, message: String| inc.error(offset, message);
    let file: File = inc.parse()?;
    let local_groups: Vec<String> = c.web.auditors.iter().map(|a| a.group.clone()).collect();
    for a in file.web.map(|w| w.auditors).unwrap_or_default() {
        let a = scoped_auditors(c, a, &here)?;
        if !local_groups.contains(&a.group) {
            c.web.auditors.push(a);
        }
    }
    let local_scopes: Vec<RetentionScope> =
        c.retention.rules.iter().map(|r| r.scope.clone()).collect();
    for r in file.retention.map(|r| r.rule).unwrap_or_default() {
        let r = retention_rule(c, r, &here)?;
        if !local_scopes.contains(&r.scope) {
            c.retention.rules.push(r);
        }
    }
    Ok(())
}

impl Config {
    /// Parse the text of `file` (used for error positions only).
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let at = |offset: Option<usize>, message: String| ConfigError {
            file: file.to_path_buf(),
            line: offset.map(|o| line_of(text, o)),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            // toml's message starts with its own "TOML parse error at line..."
            // header and a source excerpt; keep only the reason.
            let msg = e.message().trim().to_string();
            at(Some(e.span().map_or(0, |s| s.start)), msg)
        })?;
        let mut c = Config::default();
        if let Some(db) = raw.db {
            c.db = db
                .get_ref()
                .parse()
                .map_err(|m| at(Some(db.span().start), format!("db: {m}")))?;
        }
        for p in raw.sources.jsonl {
            if !p.get_ref().starts_with('/') {
                return Err(at(
                    Some(p.span().start),
                    format!("sources.jsonl: {:?} is not an absolute path", p.get_ref()),
                ));
            }
            c.jsonl.push(PathBuf::from(p.into_inner()));
        }
        for p in raw.sources.journal {
            if !p.get_ref().starts_with('/') {
                return Err(at(
                    Some(p.span().start),
                    format!("sources.journal: {:?} is not an absolute path", p.get_ref()),
                ));
            }
            c.journal.push(PathBuf::from(p.into_inner()));
        }
        for e in raw.sources.es {
            let span = e.span().start;
            let e = e.into_inner();
            for f in [&e.password_file, &e.ca_file].into_iter().flatten() {
                if !f.starts_with('/') {
                    return Err(at(
                        Some(span),
                        format!("sources.es: {f:?} is not an absolute path"),
                    ));
                }
            }
            if e.user.is_some() != e.password_file.is_some() {
                return Err(at(
                    Some(span),
                    "sources.es: user and password_file go together".into(),
                ));
            }
            c.es.push(crate::es::EsSource {
                url: e.url,
                index: e.index,
                user: e.user,
                password_file: e.password_file.map(PathBuf::from),
                ca_file: e.ca_file.map(PathBuf::from),
            });
        }
        c.hostgroups = hostgroups(raw.hostgroups, &at)?;
        if let Some(f) = raw.hostgroups_file {
            // The central.toml entries win over the file's of the same name.
            for (name, hosts) in hostgroups_file(&f, &at)? {
                c.hostgroups.entry(name).or_insert(hosts);
            }
        }
        if let Some(a) = raw.admin {
            if let Some(g) = a.groups {
                c.admin.groups = g;
            }
            if let Some(s) = a.services {
                c.admin.services = s;
            }
        }
        let web = raw.web.unwrap_or(RawWeb {
            auditors_group: None,
            auditors_purge: None,
            auditors: vec![],
        });
        if let Some(g) = web.auditors_group {
            if g.get_ref().is_empty() {
                return Err(at(
                    Some(g.span().start),
                    "web.auditors_group: empty group name".into(),
                ));
            }
            c.web.auditors_group = g.into_inner();
        }
        // Scoped auditors (issue 12).
        c.web.auditors_purge = web.auditors_purge.unwrap_or(false);
        for a in web.auditors {
            let a = scoped_auditors(&c, a, &at)?;
            c.web.auditors.push(a);
        }
        if let Some(r) = raw.retention {
            if let Some(a) = r.default_max_age {
                c.retention.default_max_age = Some(a.get_ref().parse().map_err(|m| {
                    at(
                        Some(a.span().start),
                        format!("retention.default_max_age: {m}"),
                    )
                })?);
            }
            if let Some(d) = r.archive_dir {
                if !d.get_ref().starts_with('/') {
                    return Err(at(
                        Some(d.span().start),
                        format!(
                            "retention.archive_dir: {:?} is not an absolute path",
                            d.get_ref()
                        ),
                    ));
                }
                c.retention.archive_dir = Some(PathBuf::from(d.into_inner()));
            }
            for rule in r.rule {
                let rule = retention_rule(&c, rule, &at)?;
                c.retention.rules.push(rule);
            }
        }
        if let Some(f) = raw.freeipa_file {
            freeipa_file(&mut c, &f, &at)?;
        }
        Ok(c)
    }

    /// Load `path`; a missing default file means the defaults, a missing
    /// file named with `--config` is an error.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (p, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        match std::fs::read_to_string(&p) {
            Ok(text) => Config::parse(&text, &p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(Config::default())
            }
            Err(e) => Err(ConfigError {
                file: p,
                line: None,
                message: e.to_string(),
            }),
        }
    }

    pub fn hostgroup(&self, name: &str) -> Result<&[String], String> {
        self.hostgroups.get(name).map(|v| v.as_slice()).ok_or_else(|| {
            let known: Vec<&str> = self.hostgroups.keys().map(|k| k.as_str()).collect();
            if known.is_empty() {
                format!("unknown host group {name:?}: the central config defines none ([hostgroups])")
            } else {
                format!("unknown host group {name:?} (known: {})", known.join(", "))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::parse(t, Path::new("/etc/tlog-rs/central.toml"))
    }

    #[test]
    fn full_example() {
        let c = parse(
            r#"
db = "/srv/index.db"
[sources]
jsonl = ["/var/log/tlog-rs"]
[hostgroups]
nj-fileservers = ["fs1.nj.example.com", "fs2.nj.example.com"]
[admin]
groups = ["admins", "wheel"]
"#,
        )
        .unwrap();
        assert_eq!(c.db, DbSpec::Sqlite("/srv/index.db".into()));
        assert_eq!(c.jsonl, vec![PathBuf::from("/var/log/tlog-rs")]);
        assert_eq!(c.hostgroup("nj-fileservers").unwrap().len(), 2);
        assert_eq!(c.admin.groups, ["admins", "wheel"]);
        assert_eq!(c.admin.services, Admin::default().services);
        let e = c.hostgroup("ny").unwrap_err();
        assert!(e.contains("nj-fileservers"), "{e}");
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(c.web.auditors_group, "auditors");
        let w = parse("[web]\nauditors_group = \"sec\"\n").unwrap();
        assert_eq!(w.web.auditors_group, "sec");
        assert!(w.web.auditors.is_empty() && !w.web.auditors_purge);
    }

    #[test]
    fn scoped_auditors() {
        let c = parse(
            r#"
[hostgroups]
nj-fileservers = ["fs1"]
[web]
auditors_purge = true
[[web.auditors]]
group = "nj-auditors"
hostgroups = ["nj-fileservers"]
usergroups = ["dba"]
[[web.auditors]]
group = "dba-leads"
usergroups = ["dba"]
purge = true
"#,
        )
        .unwrap();
        assert!(c.web.auditors_purge);
        assert_eq!(
            c.web.auditors,
            [
                ScopedAuditors {
                    group: "nj-auditors".into(),
                    hostgroups: vec!["nj-fileservers".into()],
                    usergroups: vec!["dba".into()],
                    purge: false,
                },
                ScopedAuditors {
                    group: "dba-leads".into(),
                    hostgroups: vec![],
                    usergroups: vec!["dba".into()],
                    purge: true,
                },
            ]
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                "db = \"x\"\n\n[admin]\ngroup = [\"a\"]\n",
                4,
                "unknown field `group`",
            ),
            ("\n[hostgroups]\nnj = \"fs1\"\n", 3, "invalid type"),
            ("db = \"mysql://h/db\"\n", 1, "unknown database URL scheme"),
            (
                "[sources]\njsonl = [\n \"relative/dir\"]\n",
                3,
                "not an absolute path",
            ),
            ("[hostgroups]\n\nx = [\"a b\"]\n", 3, "not a host name"),
            ("[admin\n", 1, ""),
            ("\n[web]\nauditors_group = \"\"\n", 3, "empty group name"),
            (
                "[retention]\n\ndefault_max_age = \"400 days\"\n",
                3,
                "retention.default_max_age",
            ),
            ("[retention]\narchive_dir = \"archive\"\n", 2, "not an absolute path"),
            (
                "[retention]\n[[retention.rule]]\nhostgroup = \"nj\"\nmax_age = \"9d\"\n",
                3,
                "unknown host group",
            ),
            (
                "[hostgroups]\nnj = [\"a\"]\n[[retention.rule]]\nhostgroup = \"nj\"\nusergroup = \"x\"\nmax_age = \"9d\"\n",
                3,
                "exactly one of",
            ),
            (
                "[[retention.rule]]\nusergroup = \"dba\"\nmax_age = \"9y\"\n",
                3,
                "retention.rule.max_age",
            ),
            (
                "[hostgroups]\nnj = [\"a\"]\n[[web.auditors]]\ngroup = \"x\"\nhostgroups = [\"ny\"]\n",
                5,
                "unknown host group \"ny\"",
            ),
            (
                "[[web.auditors]]\ngroup = \"x\"\n",
                1,
                "give hostgroups or usergroups",
            ),
            (
                "[[web.auditors]]\ngroup = \"x\"\nusergroups = [\n\"\"]\n",
                4,
                "empty user group name",
            ),
            (
                "\n[[web.auditors]]\ngroup = \"x\"\nusergroups = [\"dba\"]\npurg = true\n",
                5,
                "unknown field `purg`",
            ),
            (
                "[[retention.rule]]\nusergroup = \"dba\"\nmax_age = \"9d\"\narchive = true\n",
                4,
                "true needs retention.archive_dir",
            ),
            ("freeipa_file = \"rel.toml\"\n", 1, "not an absolute path"),
            (
                "\nfreeipa_file = \"/nonexistent/freeipa.toml\"\n",
                2,
                "(`tlog-rs sync --central` writes it)",
            ),
        ];
        for (text, line, want) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("/etc/tlog-rs/central.toml:{line}: ")),
                "{e}"
            );
            assert!(e.message.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn hostgroups_file_adds_groups_and_central_toml_wins() {
        let d = std::env::temp_dir().join(format!("tlog-rs-hg-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("hostgroups.toml");
        std::fs::write(
            &f,
            "# from FreeIPA\n[hostgroups]\nprod = [\"web1.x\", \"db1.x\"]\ndb = [\"db1.x\"]\n",
        )
        .unwrap();
        let c = parse(&format!(
            "hostgroups_file = \"{}\"\n[hostgroups]\ndb = [\"local.x\"]\n",
            f.display()
        ))
        .unwrap();
        assert_eq!(c.hostgroup("prod").unwrap(), ["web1.x", "db1.x"]);
        assert_eq!(c.hostgroup("db").unwrap(), ["local.x"], "central.toml wins");
        // FreeIPA's groups can be named by the rules that check names.
        parse(&format!(
            "hostgroups_file = \"{}\"\n[[retention.rule]]\nhostgroup = \"prod\"\nmax_age = \"9d\"\n",
            f.display()
        ))
        .unwrap();

        // Errors in the file name the file and its line.
        std::fs::write(&f, "[hostgroups]\nok = [\"a\"]\nbad = [\"b c\"]\n").unwrap();
        let e = parse(&format!("hostgroups_file = \"{}\"\n", f.display())).unwrap_err();
        assert_eq!((e.file.as_path(), e.line), (f.as_path(), Some(3)), "{e}");
        assert!(e.message.contains("is not a host name"), "{e}");
        std::fs::write(&f, "[hostgroups]\n\nrules = 1\n").unwrap();
        let e = parse(&format!("hostgroups_file = \"{}\"\n", f.display())).unwrap_err();
        assert_eq!((e.file.as_path(), e.line), (f.as_path(), Some(3)), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
        // A missing file is an error at the key, saying what writes it.
        let e = parse(&format!("\nhostgroups_file = \"{}\"\n", f.display())).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("tlog-rs sync --hostgroups"), "{e}");
        let e = parse("hostgroups_file = \"rel.toml\"\n").unwrap_err();
        assert!(e.message.contains("not an absolute path"), "{e}");
    }

    #[test]
    fn shipped_example_parses() {
        let p = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../etc/tlog-rs/central.toml"
        ));
        let c = Config::load(Some(p)).unwrap();
        assert_eq!(c.hostgroup("nj-fileservers").unwrap().len(), 2);
        assert_eq!(c.admin.groups, ["admins", "wheel"]);
        assert_eq!(c.web.auditors.len(), 1);
        assert_eq!(c.web.auditors[0].hostgroups, ["nj-fileservers"]);
    }

    #[test]
    fn retention_section() {
        let c = parse(
            r#"
[hostgroups]
nj = ["fs1"]
[retention]
default_max_age = "400d"
archive_dir = "/var/lib/tlog-rs/archive"
[[retention.rule]]
hostgroup = "nj"
max_age = "90d"
[[retention.rule]]
usergroup = "dba"
max_age = "36h"
"#,
        )
        .unwrap();
        let r = &c.retention;
        assert_eq!(r.default_max_age.unwrap().0.as_secs(), 400 * 86_400);
        assert_eq!(
            r.archive_dir.as_deref(),
            Some(Path::new("/var/lib/tlog-rs/archive"))
        );
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.rules[0].scope, RetentionScope::HostGroup("nj".into()));
        assert_eq!(r.rules[1].scope, RetentionScope::UserGroup("dba".into()));
        assert_eq!(r.rules[1].max_age.0.as_secs(), 36 * 3_600);
        assert_eq!(r.rules[1].max_age.to_string(), "36h");
        assert_eq!(parse("").unwrap().retention, Retention::default());
        assert!("d".parse::<MaxAge>().is_err());
        assert!("-1d".parse::<MaxAge>().is_err());
    }

    #[test]
    fn db_spec() {
        assert!(matches!(
            "postgres://u@h/db".parse::<DbSpec>(),
            Ok(DbSpec::Postgres(_))
        ));
        assert!(matches!(
            "postgresql:///tlog?host=/run/postgresql".parse::<DbSpec>(),
            Ok(DbSpec::Postgres(_))
        ));
        let c =
            parse("db = \"postgres://tlog@db.example.com/tlog?sslmode=verify-full\"\n").unwrap();
        assert_eq!(
            c.db.to_string(),
            "postgres://tlog@db.example.com/tlog?sslmode=verify-full"
        );
        assert!("".parse::<DbSpec>().is_err());
        assert_eq!("/x.db".parse::<DbSpec>().unwrap().to_string(), "/x.db");
    }

    #[test]
    fn missing_files() {
        let e = Config::load(Some(Path::new("/nonexistent/central.toml"))).unwrap_err();
        assert_eq!(e.line, None);
        assert!(e.to_string().contains("/nonexistent/central.toml"), "{e}");
    }
}
