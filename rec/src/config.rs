//! tlog's recorder configuration: JSON with C/C++ comments, the same schema as
//! tlog-rec.conf / tlog-rec-session.conf, plus tlog-rs's `sink_failure`.
//!
//! Sources are merged like tlog does (deep merge of objects; arrays and scalars
//! replace). Every source is validated on its own, so an error names the file or
//! environment variable, the line, the key path and what is wrong.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::jsonc::{self, Node, Value};
use crate::sink::{FailureMode, LimitAction, SinkSettings, WriterKind};
use tlog_rs_policy::{Bound, UnknownValue};

/// Which recorder is being configured: the schema and defaults differ a little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `tlog-rs-rec`, the ad-hoc recorder (default writer: file).
    Rec,
    /// `tlog-rs-rec-session`, the login shell (default writer: journal).
    RecSession,
}

/// Where tlog-rs reads its system-wide config for each program.
pub fn system_config_path(program: Program) -> &'static str {
    match program {
        Program::Rec => "/etc/tlog-rs/rec.conf",
        Program::RecSession => "/etc/tlog-rs/rec-session.conf",
    }
}

pub const DEFAULT_SESSION_NOTICE: &str = "\nATTENTION! Your session is being recorded!\n\n";

const FACILITIES: &[&str] = &[
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "local0", "local1", "local2", "local3",
    "local4", "local5", "local6", "local7", "lpr", "mail", "news", "syslog", "user", "uucp",
];
const PRIORITIES: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// The merged, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub shell: Option<String>,
    pub notice: String,
    pub latency: u64,
    pub payload: u64,
    pub log_input: bool,
    pub log_output: bool,
    pub log_window: bool,
    pub limit_rate: u64,
    pub limit_burst: u64,
    pub limit_action: LimitAction,
    pub file_path: Option<String>,
    pub syslog_facility: String,
    pub syslog_priority: String,
    pub journal_priority: String,
    pub journal_augment: bool,
    pub writer: WriterKind,
    pub sink_failure: FailureMode,
}

/// A precise configuration error: source, line, key path, reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// File path, environment variable name or "command line".
    pub origin: String,
    pub line: Option<usize>,
    /// Dotted key path, e.g. `limit.action`; empty for syntax errors.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": \"{}\"", self.key)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

enum Kind {
    Object,
    Bool,
    Str,
    /// Integer within the range policy.toml's settings share.
    Int(&'static Bound),
    Choice(&'static [&'static str]),
}

fn schema(program: Program, path: &str) -> Option<Kind> {
    Some(match path {
        "" | "log" | "limit" | "file" | "syslog" | "journal" => Kind::Object,
        "shell" if program == Program::RecSession => Kind::Str,
        "notice" | "file.path" => Kind::Str,
        "latency" | "payload" | "limit.rate" | "limit.burst" => Kind::Int(Bound::of(path)?),
        "log.input" | "log.output" | "log.window" | "journal.augment" => Kind::Bool,
        "limit.action" => Kind::Choice(LimitAction::NAMES),
        "syslog.facility" => Kind::Choice(FACILITIES),
        "syslog.priority" | "journal.priority" => Kind::Choice(PRIORITIES),
        "writer" => Kind::Choice(WriterKind::NAMES),
        "sink_failure" => Kind::Choice(FailureMode::NAMES),
        _ => return None,
    })
}

fn defaults(program: Program) -> Node {
    let text = match program {
        Program::RecSession => {
            r#"{"shell":"/bin/bash","notice":"\nATTENTION! Your session is being recorded!\n\n",
            "writer":"journal"}"#
        }
        Program::Rec => r#"{"notice":"","writer":"file"}"#,
    };
    let common = r#"{"latency":10,"payload":2048,
        "log":{"input":false,"output":true,"window":true},
        "limit":{"rate":16384,"burst":32768,"action":"pass"},
        "file":{},
        "syslog":{"facility":"authpriv","priority":"info"},
        "journal":{"priority":"info","augment":true},
        "sink_failure":"strict"}"#;
    // Both texts are constants of this file; a unit test parses them.
    #[expect(clippy::expect_used, reason = "built-in constants, covered by tests")]
    let mut base = jsonc::parse(common).expect("built-in defaults parse");
    #[expect(clippy::expect_used, reason = "built-in constants, covered by tests")]
    let program = jsonc::parse(text).expect("built-in defaults parse");
    merge(&mut base, program);
    base
}

/// Deep merge: objects merge key by key; everything else replaces.
fn merge(base: &mut Node, top: Node) {
    match (&mut base.value, top.value) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.iter_mut().find(|(bk, _)| *bk == k) {
                    Some((_, bv)) => merge(bv, v),
                    None => b.push((k, v)),
                }
            }
        }
        (_, v) => {
            base.value = v;
            base.line = top.line;
        }
    }
}

fn validate(program: Program, origin: &str, node: &Node, path: &str) -> Result<(), ConfigError> {
    let err = |reason: String| ConfigError {
        origin: origin.to_string(),
        line: (node.line > 0).then_some(node.line),
        key: path.to_string(),
        reason,
    };
    let Some(kind) = schema(program, path) else {
        return Err(err("unknown setting".into()));
    };
    match (kind, &node.value) {
        (Kind::Object, Value::Object(members)) => {
            for (k, v) in members {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                validate(program, origin, v, &child)?;
            }
            Ok(())
        }
        (Kind::Bool, Value::Bool(_)) | (Kind::Str, Value::Str(_)) => Ok(()),
        (Kind::Int(bound), Value::Int(n)) => {
            if bound.contains(i128::from(*n)) {
                Ok(())
            } else {
                Err(err(bound.violation(n)))
            }
        }
        // Beyond i64 the parser gives a float: still a range error.
        (Kind::Int(bound), Value::Float(f)) => Err(err(format!(
            "must be an integer between {} and {} {}, got {f}",
            bound.min, bound.max, bound.unit
        ))),
        (Kind::Choice(choices), Value::Str(s)) => {
            if choices.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(err(format!(
                    "must be one of {}, got \"{s}\"",
                    choices.join(", ")
                )))
            }
        }
        (kind, _) => {
            let want = match kind {
                Kind::Object => "an object",
                Kind::Bool => "a boolean (true or false)",
                Kind::Str | Kind::Choice(_) => "a string",
                Kind::Int(_) => "an integer",
            };
            Err(err(format!("must be {want}, got {}", node.type_name())))
        }
    }
}

/// Accumulates validated config sources in merge order.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    program: Program,
    tree: Node,
}

impl ConfigBuilder {
    /// Start from the built-in defaults.
    pub fn new(program: Program) -> ConfigBuilder {
        ConfigBuilder {
            program,
            tree: defaults(program),
        }
    }

    /// Parse, validate and merge config text; `origin` names it in errors.
    pub fn add_text(&mut self, origin: &str, text: &str) -> Result<(), ConfigError> {
        let node = jsonc::parse(text).map_err(|e| ConfigError {
            origin: origin.to_string(),
            line: Some(e.line),
            key: String::new(),
            reason: format!("column {}: {}", e.column, e.reason),
        })?;
        self.add_node(origin, node)
    }

    /// Validate and merge an already built tree (e.g. from command-line options).
    pub fn add_node(&mut self, origin: &str, node: Node) -> Result<(), ConfigError> {
        validate(self.program, origin, &node, "")?;
        merge(&mut self.tree, node);
        Ok(())
    }

    /// Read and merge a file. A missing file is skipped when `optional`.
    pub fn add_file(&mut self, path: &Path, optional: bool) -> Result<(), ConfigError> {
        let origin = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| ConfigError {
                    origin: origin.clone(),
                    line: None,
                    key: String::new(),
                    reason: format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
                })?;
                self.add_text(&origin, &text)
            }
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ConfigError {
                origin,
                line: None,
                key: String::new(),
                reason: format!("cannot read: {e}"),
            }),
        }
    }

    /// A choice setting of the merged tree as its enum. Every source was
    /// validated and the defaults set every choice, so an error here is a
    /// bug; it is reported, never turned into the default.
    fn choice<T: FromStr<Err = UnknownValue>>(&self, path: &str) -> Result<T, ConfigError> {
        let node = path.split('.').try_fold(&self.tree, |n, k| n.get(k));
        let err = |reason: String| ConfigError {
            origin: "merged configuration".into(),
            line: node.map(|n| n.line).filter(|l| *l > 0),
            key: path.into(),
            reason,
        };
        match node.map(|n| &n.value) {
            Some(Value::Str(s)) => s.parse().map_err(|e: UnknownValue| {
                err(format!(
                    "must be one of {}, got \"{}\"",
                    e.expected.join(", "),
                    e.value
                ))
            }),
            Some(_) => Err(err("must be a string".into())),
            None => Err(err("missing".into())),
        }
    }

    /// The merged configuration.
    pub fn build(&self) -> Result<Config, ConfigError> {
        let t = &self.tree;
        let get = |path: &str| -> Option<&Node> { path.split('.').try_fold(t, |n, k| n.get(k)) };
        let s = |path: &str| match get(path).map(|n| &n.value) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let b = |path: &str| matches!(get(path).map(|n| &n.value), Some(Value::Bool(true)));
        let i = |path: &str| match get(path).map(|n| &n.value) {
            Some(Value::Int(n)) => *n as u64,
            _ => 0,
        };
        Ok(Config {
            shell: s("shell"),
            notice: s("notice").unwrap_or_default(),
            latency: i("latency"),
            payload: i("payload"),
            log_input: b("log.input"),
            log_output: b("log.output"),
            log_window: b("log.window"),
            limit_rate: i("limit.rate"),
            limit_burst: i("limit.burst"),
            limit_action: self.choice("limit.action")?,
            file_path: s("file.path"),
            syslog_facility: s("syslog.facility").unwrap_or_default(),
            syslog_priority: s("syslog.priority").unwrap_or_default(),
            journal_priority: s("journal.priority").unwrap_or_default(),
            journal_augment: b("journal.augment"),
            writer: self.choice("writer")?,
            sink_failure: self.choice("sink_failure")?,
        })
    }
}

/// tlog-rs-rec-session's configuration: its defaults, the system file, then
/// the PAM hand-off's settings when there are any. The recorder and
/// pam_tlog's evidence writer both merge it this way.
pub fn session_config(handoff_conf: Option<&str>) -> Result<Config, ConfigError> {
    let mut b = ConfigBuilder::new(Program::RecSession);
    b.add_file(Path::new(system_config_path(Program::RecSession)), true)?;
    if let Some(text) = handoff_conf.filter(|t| !t.trim().is_empty()) {
        b.add_text("PAM hand-off", text)?;
    }
    b.build()
}

/// Parse one config text over the tlog-rs-rec-session defaults (fuzz target).
pub fn parse_conf_text(text: &str) -> Result<Config, ConfigError> {
    let mut b = ConfigBuilder::new(Program::RecSession);
    b.add_text("config text", text)?;
    b.build()
}

impl Config {
    /// What the writers need. Fails if `writer` is "file" without `file.path`.
    pub fn sink_settings(&self) -> Result<SinkSettings, ConfigError> {
        let file_path = self.file_path.as_ref().filter(|p| !p.is_empty());
        if self.writer == WriterKind::File && file_path.is_none() {
            return Err(ConfigError {
                origin: "configuration".into(),
                line: None,
                key: "file.path".into(),
                reason: "is required when \"writer\" is \"file\"".into(),
            });
        }
        Ok(SinkSettings {
            writer: self.writer,
            file_path: file_path.map(Into::into),
            syslog_facility: self.syslog_facility.clone(),
            syslog_priority: self.syslog_priority.clone(),
            journal_priority: self.journal_priority.clone(),
            journal_augment: self.journal_augment,
            limit_rate: self.limit_rate,
            limit_burst: self.limit_burst,
            limit_action: self.limit_action,
            failure_mode: self.sink_failure,
        })
    }

    /// Undo, with one line per key, whatever an unverified source (the
    /// user's environment) changed that would reduce what is recorded or
    /// change where it goes. `floor` is the config before that source.
    ///
    /// Kept from the environment: `shell`, `notice`, `payload`, `latency`
    /// only if lower, and `log.*` only if turned on. Reverted: `writer`,
    /// `file.*`, `syslog.*`, `journal.*`, `limit.*`, `sink_failure`, turning
    /// `log.*` off, raising `latency`.
    pub fn restrict_to(&mut self, floor: &Config) -> Vec<&'static str> {
        let mut reverted = Vec::new();
        macro_rules! keep_floor {
            ($field:ident, $name:expr) => {
                if self.$field != floor.$field {
                    self.$field = floor.$field.clone();
                    reverted.push($name);
                }
            };
        }
        keep_floor!(writer, "writer");
        keep_floor!(file_path, "file.path");
        keep_floor!(syslog_facility, "syslog.facility");
        keep_floor!(syslog_priority, "syslog.priority");
        keep_floor!(journal_priority, "journal.priority");
        keep_floor!(journal_augment, "journal.augment");
        keep_floor!(limit_rate, "limit.rate");
        keep_floor!(limit_burst, "limit.burst");
        keep_floor!(limit_action, "limit.action");
        keep_floor!(sink_failure, "sink_failure");
        for (mine, theirs, name) in [
            (&mut self.log_input, floor.log_input, "log.input"),
            (&mut self.log_output, floor.log_output, "log.output"),
            (&mut self.log_window, floor.log_window, "log.window"),
        ] {
            if theirs && !*mine {
                *mine = true;
                reverted.push(name);
            }
        }
        if self.latency > floor.latency {
            self.latency = floor.latency;
            reverted.push("latency");
        }
        reverted
    }

    /// The merged configuration as JSON (`--configuration`).
    pub fn to_json(&self) -> String {
        let mut v = serde_json::json!({
            "notice": self.notice,
            "latency": self.latency,
            "payload": self.payload,
            "log": {"input": self.log_input, "output": self.log_output, "window": self.log_window},
            "limit": {"rate": self.limit_rate, "burst": self.limit_burst, "action": self.limit_action.as_str()},
            "file": {},
            "syslog": {"facility": self.syslog_facility, "priority": self.syslog_priority},
            "journal": {"priority": self.journal_priority, "augment": self.journal_augment},
            "writer": self.writer.as_str(),
            "sink_failure": self.sink_failure.as_str(),
        });
        if let Some(p) = &self.file_path {
            v["file"]["path"] = p.clone().into();
        }
        if let Some(s) = &self.shell {
            v["shell"] = s.clone().into();
        }
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_tlog() {
        let c = ConfigBuilder::new(Program::RecSession).build().unwrap();
        assert_eq!(c.writer, WriterKind::Journal);
        assert_eq!(c.payload, 2048);
        assert_eq!(c.latency, 10);
        assert_eq!(c.notice, DEFAULT_SESSION_NOTICE);
        assert!(!c.log_input && c.log_output && c.log_window);
        assert_eq!(c.sink_failure, FailureMode::Strict);
        assert_eq!(
            ConfigBuilder::new(Program::Rec).build().unwrap().writer,
            WriterKind::File
        );
    }

    #[test]
    fn tlog_shipped_config_parses_unchanged() {
        // Shape of Debian's /etc/tlog/tlog-rec-session.conf with values set.
        let text = "// comment\n{\n    /* block */\n    \"shell\" : \"/bin/zsh\",\n    \"log\": { \"input\" : true },\n    \"limit\": {\"action\": \"drop\"},\n    \"file\": {\"path\": \"/var/log/x\"},\n    \"writer\" : \"file\"\n}\n";
        let c = parse_conf_text(text).unwrap();
        assert_eq!(c.shell.as_deref(), Some("/bin/zsh"));
        assert!(c.log_input && c.log_output);
        assert_eq!(c.limit_action, LimitAction::Drop);
        assert_eq!(
            c.sink_settings().unwrap().file_path.unwrap().to_str(),
            Some("/var/log/x")
        );
    }

    #[test]
    fn debian_tlog_config_files_parse_unchanged() {
        // Shipped by Debian's tlog package (installed for the e2e tests).
        for (path, program) in [
            ("/etc/tlog/tlog-rec-session.conf", Program::RecSession),
            (
                "/usr/share/tlog/tlog-rec-session.default.conf",
                Program::RecSession,
            ),
            ("/etc/tlog/tlog-rec.conf", Program::Rec),
            ("/usr/share/tlog/tlog-rec.default.conf", Program::Rec),
        ] {
            if Path::new(path).exists() {
                let mut b = ConfigBuilder::new(program);
                b.add_file(Path::new(path), false)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn precise_errors() {
        let e = parse_conf_text("{\n\"log\": {\n  \"inptu\": true}}").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(3), "log.inptu"));
        assert!(e.to_string().contains("unknown setting"), "{e}");
        let e = parse_conf_text("{\"payload\": 16}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config text:1: \"payload\": must be between 32 and 1048576 bytes, got 16"
        );
        let e = parse_conf_text("{\"writer\": \"tape\"}").unwrap_err();
        assert!(e.reason.contains("journal, syslog, file"), "{e}");
        let e = parse_conf_text("{\"latency\": \"5\"}").unwrap_err();
        assert!(e.reason.contains("an integer, got a string"), "{e}");
        let e = parse_conf_text("{\"latency\": 5,,}").unwrap_err();
        assert_eq!(e.line, Some(1));
        let mut b = ConfigBuilder::new(Program::Rec);
        assert_eq!(
            b.add_text("x", "{\"shell\": \"/bin/sh\"}").unwrap_err().key,
            "shell"
        );
    }

    #[test]
    fn numeric_settings_are_bounded() {
        for b in Bound::ALL {
            let at = |v: i128| {
                let text = match b.key.split_once('.') {
                    Some((o, k)) => format!("{{\"{o}\": {{\"{k}\": {v}}}}}"),
                    None => format!("{{\"{}\": {v}}}", b.key),
                };
                parse_conf_text(&text)
            };
            let (min, max) = (i128::from(b.min), i128::from(b.max));
            assert!(at(min).is_ok() && at(max).is_ok(), "{}", b.key);
            for bad in [max + 1, min - 1, 999_999_999_999, i128::from(i64::MAX)] {
                let e = at(bad).unwrap_err();
                assert_eq!(e.key, b.key);
                assert_eq!(
                    e.reason,
                    format!(
                        "must be between {} and {} {}, got {bad}",
                        b.min, b.max, b.unit
                    )
                );
            }
        }
        let e = parse_conf_text("{\"limit\": {\"rate\": 1e30}}").unwrap_err();
        assert!(
            e.reason.starts_with("must be an integer between 0 and"),
            "{e}"
        );
        let e = parse_conf_text("{\"payload\": 999999999999}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config text:1: \"payload\": must be between 32 and 1048576 bytes, got 999999999999"
        );
    }

    #[test]
    fn deep_merge_replaces_scalars_only() {
        let mut b = ConfigBuilder::new(Program::RecSession);
        b.add_text("a", "{\"log\": {\"input\": true}}").unwrap();
        b.add_text("b", "{\"log\": {\"output\": false}}").unwrap();
        let c = b.build().unwrap();
        assert!(c.log_input && !c.log_output && c.log_window);
    }

    #[test]
    fn unknown_choice_in_the_merged_tree_is_an_error_not_the_default() {
        // The validator refuses these in every source; build() must not
        // depend on that and turn a missed one into the default.
        for (text, key, default_was) in [
            (r#"{"limit":{"action":"slow"}}"#, "limit.action", "pass"),
            (r#"{"writer":"tape"}"#, "writer", "journal"),
            (r#"{"sink_failure":"lax"}"#, "sink_failure", "strict"),
        ] {
            assert!(parse_conf_text(text).is_err(), "{text}");
            let mut b = ConfigBuilder::new(Program::RecSession);
            merge(&mut b.tree, jsonc::parse(text).unwrap());
            let e = b.build().unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.reason.starts_with("must be one of "), "{e}");
            assert!(e.reason.contains(default_was), "{e}");
        }
    }

    #[test]
    fn file_writer_needs_path() {
        let c = parse_conf_text("{\"writer\":\"file\"}").unwrap();
        assert_eq!(c.sink_settings().unwrap_err().key, "file.path");
    }

    #[test]
    fn env_cannot_weaken() {
        let floor = parse_conf_text("{\"writer\":\"file\",\"file\":{\"path\":\"/l\"}}").unwrap();
        let mut c = parse_conf_text(
            "{\"writer\":\"syslog\",\"log\":{\"output\":false,\"input\":true},\"latency\":99,\"payload\":64,\"limit\":{\"action\":\"drop\"},\"sink_failure\":\"warn\",\"notice\":\"\"}",
        )
        .unwrap();
        let reverted = c.restrict_to(&floor);
        assert_eq!(c.writer, WriterKind::File);
        assert_eq!(c.file_path.as_deref(), Some("/l"));
        assert!(c.log_output && c.log_input);
        assert_eq!((c.latency, c.payload), (10, 64));
        assert_eq!(c.limit_action, LimitAction::Pass);
        assert_eq!(c.sink_failure, FailureMode::Strict);
        assert_eq!(c.notice, "");
        for k in [
            "writer",
            "file.path",
            "log.output",
            "latency",
            "limit.action",
            "sink_failure",
        ] {
            assert!(reverted.contains(&k), "{k} not in {reverted:?}");
        }
    }
}
