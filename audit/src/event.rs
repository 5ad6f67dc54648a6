//! Records grouped into events, and one JSON object per event.
//!
//! audit.log has no EOE lines and records of different events interleave,
//! so [`Grouper`] keeps events open by (node, id) and closes one when:
//! an EOE record for it arrives; a record of the same node is more than
//! [`WINDOW_MS`] newer (the kernel writes an event's records within one
//! syscall exit, so a later record cannot belong to it); more than
//! [`MAX_OPEN`] events are open (the oldest goes); or the input ends.
//!
//! The JSON keeps every record (type, fields, msg, enriched) and adds a
//! summary the index can store without knowing audit: `kind`, the process
//! (`pid`, `ppid`, `auid`, `ses`, `exe`, `comm`), `argv`, `cwd`, `exit`,
//! `paths`, `sockaddr`, and for logins `acct`, `addr`, `hostname`,
//! `terminal`, `res`.

use std::collections::VecDeque;

use serde_json::{json, Map, Value};

use crate::parse::{decode_hex, parse_line, EventId, ParseError, Record};

/// A record this much newer closes the open events of its node.
pub const WINDOW_MS: u64 = 2000;
/// At most this many events are kept open.
pub const MAX_OPEN: usize = 256;

/// The records of one event, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub node: Option<String>,
    pub id: EventId,
    pub records: Vec<Record>,
}

/// Groups records into events (see the module documentation).
#[derive(Debug, Default)]
pub struct Grouper {
    open: VecDeque<Event>,
}

impl Grouper {
    pub fn new() -> Grouper {
        Grouper::default()
    }

    /// Add a record; completed events are appended to `done`.
    pub fn push(&mut self, r: Record, done: &mut Vec<Event>) {
        // Close what this record proves complete.
        let mut i = 0;
        while i < self.open.len() {
            let e = &self.open[i];
            if e.node == r.node && e.id.time_ms.saturating_add(WINDOW_MS) < r.id.time_ms {
                if let Some(e) = self.open.remove(i) {
                    done.push(e);
                }
            } else {
                i += 1;
            }
        }
        let pos = self
            .open
            .iter()
            .rposition(|e| e.id == r.id && e.node == r.node);
        if r.rtype == "EOE" {
            if let Some(e) = pos.and_then(|p| self.open.remove(p)) {
                done.push(e);
            }
            return;
        }
        match pos {
            Some(p) => self.open[p].records.push(r),
            None => {
                if self.open.len() >= MAX_OPEN {
                    done.extend(self.open.pop_front());
                }
                self.open.push_back(Event {
                    node: r.node.clone(),
                    id: r.id,
                    records: vec![r],
                });
            }
        }
    }

    /// The end of the input: every open event, oldest first.
    pub fn finish(self, done: &mut Vec<Event>) {
        done.extend(self.open);
    }
}

/// Parse a whole log text into events. The first bad line stops it.
pub fn parse_log(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut g = Grouper::new();
    let mut done = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(r) = parse_line(line, i + 1)? {
            g.push(r, &mut done);
        }
    }
    g.finish(&mut done);
    Ok(done)
}

/// What an event is about, for the index and the timeline.
pub fn kind(e: &Event) -> &'static str {
    let has = |t: &str| e.records.iter().any(|r| r.rtype == t);
    if let Some(k) = e.records.iter().find_map(|r| r.get("key")) {
        match k {
            "tlog-rs-exec" => return "exec",
            "tlog-rs-file" => return "file",
            "tlog-rs-net" => return "net",
            "tlog-rs-exit" => return "exit",
            _ => {}
        }
    }
    if has("EXECVE") {
        "exec"
    } else if has("SOCKADDR") {
        "net"
    } else if has("USER_AUTH") || has("USER_ACCT") || has("USER_ERR") {
        "auth"
    } else if has("USER_LOGIN") || has("USER_LOGOUT") || has("LOGIN") {
        "login"
    } else if has("USER_START") {
        "session_start"
    } else if has("USER_END") {
        "session_end"
    } else if has("CRED_ACQ") || has("CRED_DISP") || has("CRED_REFR") {
        "cred"
    } else if has("PATH") {
        "file"
    } else {
        "other"
    }
}

/// A hex `struct sockaddr` (SOCKADDR's saddr) as family, address, port.
pub fn sockaddr(hex: &str) -> Value {
    let Some(b) = decode_hex(hex) else {
        return json!({ "raw": hex });
    };
    if b.len() < 2 {
        return json!({ "raw": hex });
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    match family {
        2 if b.len() >= 8 => json!({
            "family": "inet",
            "port": u16::from_be_bytes([b[2], b[3]]),
            "addr": format!("{}.{}.{}.{}", b[4], b[5], b[6], b[7]),
        }),
        10 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            json!({
                "family": "inet6",
                "port": u16::from_be_bytes([b[2], b[3]]),
                "addr": std::net::Ipv6Addr::from(a).to_string(),
            })
        }
        1 => {
            let path = &b[2..];
            // Abstract sockets start with a NUL; others end at the first one.
            let p = if path.first() == Some(&0) {
                format!("@{}", String::from_utf8_lossy(&path[1..]))
            } else {
                let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                String::from_utf8_lossy(&path[..end]).into_owned()
            };
            json!({ "family": "unix", "path": p })
        }
        16 => json!({ "family": "netlink" }),
        f => json!({ "family": f, "raw": hex }),
    }
}

/// EXECVE's arguments: a0, a1, … (a long one split as aN[0], aN[1], …).
pub fn argv(r: &Record) -> Vec<String> {
    let argc: usize = r.get("argc").and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut out = Vec::with_capacity(argc.min(4096));
    for i in 0..argc.min(1 << 16) {
        let name = format!("a{i}");
        if let Some(v) = r.get(&name) {
            out.push(v.to_string());
            continue;
        }
        let prefix = format!("a{i}[");
        let parts: String = r
            .fields
            .iter()
            .filter(|f| f.name.starts_with(&prefix))
            .map(|f| f.value.as_str())
            .collect();
        out.push(parts);
    }
    out
}

fn num(v: Option<&str>) -> Value {
    match v.and_then(|s| s.parse::<i64>().ok()) {
        Some(n) => json!(n),
        None => Value::Null,
    }
}

fn record_json(r: &Record) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(r.rtype));
    m.insert("line".into(), json!(r.line));
    let fields: Map<String, Value> = r
        .fields
        .iter()
        .map(|f| (f.name.clone(), json!(f.value)))
        .collect();
    m.insert("fields".into(), Value::Object(fields));
    if !r.msg.is_empty() {
        let msg: Map<String, Value> = r
            .msg
            .iter()
            .map(|f| (f.name.clone(), json!(f.value)))
            .collect();
        m.insert("msg".into(), Value::Object(msg));
    }
    if !r.enriched.is_empty() {
        let e: Map<String, Value> = r
            .enriched
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        m.insert("enriched".into(), Value::Object(e));
    }
    Value::Object(m)
}

impl Event {
    fn first(&self, rtype: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.rtype == rtype)
    }

    /// One JSON object: id, time, kind, the summary, and every record.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("node".into(), json!(self.node));
        m.insert("id".into(), json!(self.id.to_string()));
        m.insert("time".into(), json!(self.id.time_ms as f64 / 1000.0));
        m.insert("serial".into(), json!(self.id.serial));
        m.insert("kind".into(), json!(kind(self)));
        // The process (SYSCALL), or the sender of a user-space record.
        let subject = self
            .first("SYSCALL")
            .or_else(|| self.records.iter().find(|r| r.get("auid").is_some()));
        if let Some(s) = subject {
            for k in ["pid", "ppid", "uid", "auid", "ses"] {
                if s.get(k).is_some() {
                    m.insert(k.into(), num(s.get(k)));
                }
            }
            for k in ["comm", "exe", "key", "tty"] {
                if let Some(v) = s.get(k) {
                    m.insert(k.into(), json!(v));
                }
            }
        }
        if let Some(s) = self.first("SYSCALL") {
            m.insert("syscall".into(), num(s.get("syscall")));
            m.insert("arch".into(), json!(s.get("arch")));
            m.insert("success".into(), json!(s.get("success") == Some("yes")));
            m.insert("exit".into(), num(s.get("exit")));
            // exit/exit_group (x86_64 60/231, i386 1/252): the status is
            // the first argument (hex).
            let exit = match (s.get("arch"), s.get("syscall")) {
                (Some("c000003e"), Some(n)) => n == "60" || n == "231",
                (Some("40000003"), Some(n)) => n == "1" || n == "252",
                _ => false,
            };
            if exit {
                if let Some(a0) = s.get("a0").and_then(|a| i64::from_str_radix(a, 16).ok()) {
                    m.insert("status".into(), json!(a0));
                }
            }
        }
        if let Some(e) = self.first("EXECVE") {
            m.insert("argv".into(), json!(argv(e)));
        }
        if let Some(c) = self.first("CWD") {
            m.insert("cwd".into(), json!(c.get("cwd")));
        }
        let paths: Vec<Value> = self
            .records
            .iter()
            .filter(|r| r.rtype == "PATH")
            .map(|r| json!({"name": r.get("name"), "nametype": r.get("nametype")}))
            .collect();
        if !paths.is_empty() {
            m.insert("paths".into(), Value::Array(paths));
        }
        if let Some(s) = self.first("SOCKADDR").and_then(|r| r.get("saddr")) {
            m.insert("sockaddr".into(), sockaddr(s));
        }
        if let Some(u) = self.records.iter().find(|r| !r.msg.is_empty()) {
            for k in [
                "op", "acct", "addr", "hostname", "terminal", "res", "grantors",
            ] {
                if let Some(v) = u.get(k) {
                    m.insert(k.into(), json!(v));
                }
            }
        }
        if let Some(l) = self.first("LOGIN") {
            m.insert("old_ses".into(), num(l.get("old-ses")));
            m.insert("old_auid".into(), num(l.get("old-auid")));
            m.insert("res".into(), json!(l.get("res")));
        }
        m.insert(
            "records".into(),
            Value::Array(self.records.iter().map(record_json).collect()),
        );
        Value::Object(m)
    }
}
