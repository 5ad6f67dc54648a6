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
    admin: Option<RawAdmin>,
    web: Option<RawWeb>,
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
        for (name, hosts) in raw.hostgroups {
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
            c.hostgroups.insert(name, hosts);
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
            c.web.auditors.push(ScopedAuditors {
                group: a.group,
                hostgroups: a.hostgroups.into_iter().map(|h| h.into_inner()).collect(),
                usergroups: a.usergroups.into_iter().map(|u| u.into_inner()).collect(),
                purge: a.purge,
            });
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
