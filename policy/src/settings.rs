//! Recorder settings a rule may set: a subset of tlog-rec-session's schema,
//! handed to the recorder as `TLOG_REC_CONF_TEXT` JSON.

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Recorder settings; `None` = the recorder's default. Construct with
/// `RecSettings { log_input: Some(true), ..Default::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecSettings {
    pub log_input: Option<bool>,
    pub log_output: Option<bool>,
    pub log_window: Option<bool>,
    pub limit_rate: Option<u64>,
    pub limit_burst: Option<u64>,
    /// pass | delay | drop
    pub limit_action: Option<String>,
    /// journal | syslog | file
    pub writer: Option<String>,
    pub file_path: Option<String>,
    /// Seconds before unfilled data is flushed (tlog `latency`, >= 1).
    pub latency: Option<u64>,
    /// Maximum message payload in bytes (tlog `payload`, >= 32).
    pub payload: Option<u64>,
    /// Message printed to the user before the shell starts (tlog `notice`).
    pub notice: Option<String>,
}

pub(crate) const LIMIT_ACTIONS: &[&str] = &["pass", "delay", "drop"];
pub(crate) const WRITERS: &[&str] = &["journal", "syslog", "file"];

impl RecSettings {
    /// tlog schema JSON, e.g. `{"limit":{"rate":65536},"log":{"input":true}}`.
    /// Keys are sorted, so equal settings always give the same text.
    pub fn to_conf_json(&self) -> String {
        let mut root = Map::new();
        let mut log = Map::new();
        put(&mut log, "input", self.log_input.map(Value::from));
        put(&mut log, "output", self.log_output.map(Value::from));
        put(&mut log, "window", self.log_window.map(Value::from));
        let mut limit = Map::new();
        put(&mut limit, "rate", self.limit_rate.map(Value::from));
        put(&mut limit, "burst", self.limit_burst.map(Value::from));
        put(
            &mut limit,
            "action",
            self.limit_action.clone().map(Value::from),
        );
        let mut file = Map::new();
        put(&mut file, "path", self.file_path.clone().map(Value::from));
        for (key, obj) in [("log", log), ("limit", limit), ("file", file)] {
            if !obj.is_empty() {
                root.insert(key.into(), Value::Object(obj));
            }
        }
        put(&mut root, "writer", self.writer.clone().map(Value::from));
        put(&mut root, "latency", self.latency.map(Value::from));
        put(&mut root, "payload", self.payload.map(Value::from));
        put(&mut root, "notice", self.notice.clone().map(Value::from));
        json!(root).to_string()
    }

    /// `self` with every unset field taken from `base`.
    pub fn or(&self, base: &RecSettings) -> RecSettings {
        RecSettings {
            log_input: self.log_input.or(base.log_input),
            log_output: self.log_output.or(base.log_output),
            log_window: self.log_window.or(base.log_window),
            limit_rate: self.limit_rate.or(base.limit_rate),
            limit_burst: self.limit_burst.or(base.limit_burst),
            limit_action: self
                .limit_action
                .clone()
                .or_else(|| base.limit_action.clone()),
            writer: self.writer.clone().or_else(|| base.writer.clone()),
            file_path: self.file_path.clone().or_else(|| base.file_path.clone()),
            latency: self.latency.or(base.latency),
            payload: self.payload.or(base.payload),
            notice: self.notice.clone().or_else(|| base.notice.clone()),
        }
    }

    /// Check values the recorder would reject, so the error shows at load
    /// time with a location instead of as a failed login.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(a) = &self.limit_action {
            if !LIMIT_ACTIONS.contains(&a.as_str()) {
                out.push(format!(
                    "limit_action = {a:?}: expected one of pass, delay, drop"
                ));
            }
        }
        if let Some(w) = &self.writer {
            if !WRITERS.contains(&w.as_str()) {
                out.push(format!(
                    "writer = {w:?}: expected one of journal, syslog, file"
                ));
            }
        }
        if self.writer.as_deref() == Some("file") && self.file_path.is_none() {
            out.push("writer = \"file\" needs file_path".to_string());
        }
        if self.latency == Some(0) {
            out.push("latency must be at least 1".to_string());
        }
        if matches!(self.payload, Some(p) if p < 32) {
            out.push("payload must be at least 32".to_string());
        }
        out
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v);
    }
}
