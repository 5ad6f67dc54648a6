//! Recorder settings a rule may set: a subset of tlog-rec-session's schema,
//! handed to the recorder as `TLOG_REC_CONF_TEXT` JSON.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::vocab::{LimitAction, WriterKind};

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
    /// Seconds before unfilled data is flushed (tlog `latency`, [`LATENCY`]).
    pub latency: Option<u64>,
    /// Maximum message payload in bytes (tlog `payload`, [`PAYLOAD`]).
    pub payload: Option<u64>,
    /// Message printed to the user before the shell starts (tlog `notice`).
    pub notice: Option<String>,
}

/// Allowed range of one numeric recorder setting. One table for the
/// recorder's config files and environment (tlog keys, `limit.rate`) and for
/// policy.toml / FreeIPA settings (`limit_rate`), so an absurd value is
/// refused at `tlog-rs validate` and at recorder start with the same words,
/// never turned into a huge allocation or a stalled session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// tlog schema key, e.g. `limit.rate`.
    pub key: &'static str,
    /// policy.toml key, e.g. `limit_rate`.
    pub policy_key: &'static str,
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
}

/// Flush delay: tlog's minimum; a day is longer than any sensible wait
/// for data to reach the log (and bounds what a SIGKILL can lose).
pub const LATENCY: Bound = Bound {
    key: "latency",
    policy_key: "latency",
    min: 1,
    max: 86_400,
    unit: "seconds",
};
/// Message payload: tlog's minimum; 1 MiB keeps one message within what
/// journald and syslog accept and the encoder's buffer small.
pub const PAYLOAD: Bound = Bound {
    key: "payload",
    policy_key: "payload",
    min: 32,
    max: 1 << 20,
    unit: "bytes",
};
/// Rate limit: 0 as in tlog; 1 GiB/s is beyond any terminal.
pub const LIMIT_RATE: Bound = Bound {
    key: "limit.rate",
    policy_key: "limit_rate",
    min: 0,
    max: 1 << 30,
    unit: "bytes per second",
};
pub const LIMIT_BURST: Bound = Bound {
    key: "limit.burst",
    policy_key: "limit_burst",
    min: 0,
    max: 1 << 30,
    unit: "bytes",
};

impl Bound {
    /// Every bounded setting.
    pub const ALL: [Bound; 4] = [LATENCY, PAYLOAD, LIMIT_RATE, LIMIT_BURST];

    /// The bound of a tlog schema key (`limit.rate`).
    pub fn of(key: &str) -> Option<&'static Bound> {
        Self::ALL.iter().find(|b| b.key == key)
    }

    pub fn contains(&self, v: i128) -> bool {
        (i128::from(self.min)..=i128::from(self.max)).contains(&v)
    }

    /// `must be between 32 and 1048576 bytes, got 16`.
    pub fn violation(&self, v: impl std::fmt::Display) -> String {
        format!(
            "must be between {} and {} {}, got {v}",
            self.min, self.max, self.unit
        )
    }

    /// `None` when `v` is unset or in range; else the reason, naming the
    /// policy.toml key.
    pub fn check_policy(&self, v: Option<u64>) -> Option<String> {
        let v = v?;
        (!self.contains(i128::from(v)))
            .then(|| format!("{} = {v}: {}", self.policy_key, self.violation(v)))
    }
}

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
            if a.parse::<LimitAction>().is_err() {
                out.push(format!(
                    "limit_action = {a:?}: expected one of {}",
                    LimitAction::NAMES.join(", ")
                ));
            }
        }
        if let Some(w) = &self.writer {
            if w.parse::<WriterKind>().is_err() {
                out.push(format!(
                    "writer = {w:?}: expected one of {}",
                    WriterKind::NAMES.join(", ")
                ));
            }
        }
        if self.writer.as_deref() == Some("file") && self.file_path.is_none() {
            out.push("writer = \"file\" needs file_path".to_string());
        }
        for (bound, v) in [
            (&LATENCY, self.latency),
            (&PAYLOAD, self.payload),
            (&LIMIT_RATE, self.limit_rate),
            (&LIMIT_BURST, self.limit_burst),
        ] {
            out.extend(bound.check_policy(v));
        }
        out
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_numeric_setting_is_bounded_on_both_sides() {
        type Set = fn(u64) -> RecSettings;
        let at = |f: Set, v: u64| f(v).problems();
        let cases: [(Bound, Set); 4] = [
            (LATENCY, |v| RecSettings {
                latency: Some(v),
                ..Default::default()
            }),
            (PAYLOAD, |v| RecSettings {
                payload: Some(v),
                ..Default::default()
            }),
            (LIMIT_RATE, |v| RecSettings {
                limit_rate: Some(v),
                ..Default::default()
            }),
            (LIMIT_BURST, |v| RecSettings {
                limit_burst: Some(v),
                ..Default::default()
            }),
        ];
        for (b, f) in cases {
            assert!(at(f, b.min).is_empty(), "{} min", b.key);
            assert!(at(f, b.max).is_empty(), "{} max", b.key);
            let over = at(f, b.max + 1);
            assert_eq!(
                over,
                [format!(
                    "{} = {}: must be between {} and {} {}, got {}",
                    b.policy_key,
                    b.max + 1,
                    b.min,
                    b.max,
                    b.unit,
                    b.max + 1
                )]
            );
            assert_eq!(at(f, u64::MAX).len(), 1, "{} u64::MAX", b.key);
            if b.min > 0 {
                assert_eq!(at(f, b.min - 1).len(), 1, "{} below min", b.key);
            }
            assert_eq!(Bound::of(b.key), Some(&b));
        }
        assert_eq!(
            RecSettings {
                payload: Some(999_999_999_999),
                ..Default::default()
            }
            .problems(),
            ["payload = 999999999999: must be between 32 and 1048576 bytes, got 999999999999"]
        );
        assert_eq!((LATENCY.min, LATENCY.max), (1, 86_400));
        assert_eq!(PAYLOAD.min, 32);
    }
}
