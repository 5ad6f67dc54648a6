//! One audit event as the index keeps it: the flat summary that
//! `tlog-rs audit-export` writes (docs/audit.md §4), without the raw records.
//!
//! Three inputs give the same value: our JSON (`kind` and `serial` keys),
//! laurel's JSON (`ID` key: record types as keys, `msg` of user-space
//! records as one string, `saddr` percent-encoded), and raw `audit.log`
//! lines grouped by `tlog-rs-audit`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tlog_rs_audit::event::{sockaddr, Event, Grouper, Kind};
use tlog_rs_audit::parse::{parse_line, Record};

/// `ses` and `auid` of a process outside any login.
const UNSET: u64 = u32::MAX as u64;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PathItem {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub nametype: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The auditd `node=` (name_format = hostname), joined with the
    /// recording's host.
    pub host: String,
    /// `SEC.MS:SERIAL`, unique per node.
    pub id: String,
    pub t_ms: i64,
    #[serde(with = "kind_serde")]
    pub kind: Kind,
    /// Records in the event: a later, longer copy of the same event (the
    /// end of a log read while auditd was writing it) replaces a shorter one.
    pub records: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ses: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i64>,
    /// Exit status of exit/exit_group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockaddr: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acct: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub res: Option<String>,
}

mod kind_serde {
    use super::Kind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(k: &Kind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl AuditEvent {
    /// A failed authentication or login (`res=failed`, LOGIN `res=0`).
    pub fn failed(&self) -> bool {
        matches!(self.res.as_deref(), Some("failed" | "fail" | "0" | "no"))
    }

    /// One line for people: what happened, without the ids.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let q = |v: &str| {
            if v.is_empty() || v.contains(char::is_whitespace) || v.contains('"') {
                format!("{v:?}")
            } else {
                v.to_string()
            }
        };
        match self.kind {
            Kind::Exec => {
                let argv = self.argv.as_deref().unwrap_or_default();
                s.push_str(&argv.iter().map(|a| q(a)).collect::<Vec<_>>().join(" "));
                if let Some(e) = &self.exe {
                    s.push_str(&format!("  exe={}", q(e)));
                }
                if let Some(c) = &self.cwd {
                    s.push_str(&format!(" cwd={}", q(c)));
                }
            }
            Kind::File => {
                let names: Vec<String> = self
                    .paths
                    .iter()
                    .filter(|p| p.nametype.as_deref() != Some("PARENT"))
                    .map(|p| {
                        format!(
                            "{} {}",
                            p.nametype.as_deref().unwrap_or("?"),
                            q(p.name.as_deref().unwrap_or("?"))
                        )
                    })
                    .collect();
                s.push_str(&names.join(", "));
            }
            Kind::Net => s.push_str(&sockaddr_text(self.sockaddr.as_ref())),
            Kind::Exit => {
                if let Some(st) = self.status {
                    s.push_str(&format!("status {st}"));
                }
            }
            _ => {
                for (k, v) in [
                    ("op", &self.op),
                    ("acct", &self.acct),
                    ("addr", &self.addr),
                    ("terminal", &self.terminal),
                    ("res", &self.res),
                ] {
                    if let Some(v) = v {
                        if !s.is_empty() {
                            s.push(' ');
                        }
                        s.push_str(&format!("{k}={}", q(v)));
                    }
                }
            }
        }
        let mut tail = Vec::new();
        if let Some(c) = &self.comm {
            if self.kind != Kind::Exec {
                tail.push(format!("comm={}", q(c)));
            }
        }
        if let Some(p) = self.pid {
            tail.push(format!("pid={p}"));
        }
        if let Some(p) = self.ppid {
            tail.push(format!("ppid={p}"));
        }
        if self.success == Some(false) {
            tail.push(format!("failed exit={}", self.exit.unwrap_or(0)));
        } else if self.kind == Kind::Exec {
            if let Some(e) = self.exit {
                tail.push(format!("exit={e}"));
            }
        }
        if !tail.is_empty() {
            s.push_str("  [");
            s.push_str(&tail.join(" "));
            s.push(']');
        }
        s
    }
}

/// `inet 127.0.0.1:80`, `unix /run/x`, ...
pub fn sockaddr_text(v: Option<&Value>) -> String {
    let Some(v) = v else { return String::new() };
    let f = v["family"].as_str().unwrap_or("?");
    match f {
        "inet" => format!("inet {}:{}", v["addr"].as_str().unwrap_or("?"), v["port"]),
        "inet6" => format!(
            "inet6 [{}]:{}",
            v["addr"].as_str().unwrap_or("?"),
            v["port"]
        ),
        "unix" => format!("unix {}", v["path"].as_str().unwrap_or("?")),
        _ => v.to_string(),
    }
}

/// `SEC.MS:SERIAL` to Unix milliseconds.
fn id_ms(id: &str) -> Option<i64> {
    let (t, serial) = id.split_once(':')?;
    serial.parse::<u64>().ok()?;
    let (s, ms) = t.split_once('.')?;
    if ms.len() != 3 {
        return None;
    }
    Some(s.parse::<i64>().ok()? * 1000 + ms.parse::<i64>().ok()?)
}

fn str_of(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn int_of(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// `ses`/`auid`, None when unset (never joined on).
fn login_id(v: Option<&Value>) -> Option<u32> {
    int_of(v)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n < UNSET)
        .map(|n| n as u32)
}

fn host_of(node: Option<&Value>, fallback: Option<&str>) -> Result<String, String> {
    match node {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Null) | None => fallback.map(str::to_string).ok_or_else(|| {
            "audit event without a node name: set `name_format = hostname` in auditd.conf (or give --audit-host for a raw log)".to_string()
        }),
        Some(v) => Err(format!("audit event: node is not a string: {v}")),
    }
}

/// An event of `tlog-rs audit-export` (docs/audit.md §4).
pub fn from_export(m: &Map<String, Value>, host: Option<&str>) -> Result<AuditEvent, String> {
    let id = str_of(m.get("id")).ok_or("audit event: no \"id\"")?;
    let t_ms = id_ms(&id).ok_or_else(|| format!("audit event: bad id {id:?}"))?;
    let kind = match m.get("kind") {
        Some(Value::String(k)) => k.parse()?,
        _ => return Err("audit event: \"kind\" is not a string".into()),
    };
    let paths = match m.get("paths") {
        None | Some(Value::Null) => Vec::new(),
        Some(p) => {
            serde_json::from_value(p.clone()).map_err(|e| format!("audit event: \"paths\": {e}"))?
        }
    };
    let argv = match m.get("argv") {
        None | Some(Value::Null) => None,
        Some(a) => Some(
            serde_json::from_value(a.clone()).map_err(|e| format!("audit event: \"argv\": {e}"))?,
        ),
    };
    Ok(AuditEvent {
        host: host_of(m.get("node"), host)?,
        id,
        t_ms,
        kind,
        records: m
            .get("records")
            .and_then(Value::as_array)
            .map_or(1, |r| r.len() as u32),
        ses: login_id(m.get("ses")),
        auid: login_id(m.get("auid")),
        pid: int_of(m.get("pid")),
        ppid: int_of(m.get("ppid")),
        comm: str_of(m.get("comm")),
        exe: str_of(m.get("exe")),
        success: m.get("success").and_then(Value::as_bool),
        exit: int_of(m.get("exit")),
        status: int_of(m.get("status")),
        argv,
        cwd: str_of(m.get("cwd")),
        paths,
        sockaddr: m.get("sockaddr").filter(|v| !v.is_null()).cloned(),
        op: str_of(m.get("op")),
        acct: str_of(m.get("acct")),
        addr: str_of(m.get("addr")),
        hostname: str_of(m.get("hostname")),
        terminal: str_of(m.get("terminal")),
        res: str_of(m.get("res")),
    })
}

/// laurel's `%xx` encoding of binary values (saddr).
fn percent_hex(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len() * 2);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push_str(&s[i + 1..i + 3].to_ascii_uppercase());
            i += 3;
        } else {
            out.push_str(&format!("{:02X}", b[i]));
            i += 1;
        }
    }
    out
}

/// laurel's one-string `msg` of a user-space record, read with our parser.
fn laurel_msg(id: &str, rtype: &str, msg: &str) -> Option<Record> {
    let line = format!("type={rtype} msg=audit({id}): msg='{msg}'");
    parse_line(&line, 1).ok().flatten()
}

const USER_TYPES: &[(&str, Kind)] = &[
    ("USER_AUTH", Kind::Auth),
    ("USER_ACCT", Kind::Auth),
    ("USER_ERR", Kind::Auth),
    ("USER_LOGIN", Kind::Login),
    ("USER_LOGOUT", Kind::Login),
    ("USER_START", Kind::SessionStart),
    ("USER_END", Kind::SessionEnd),
    ("CRED_ACQ", Kind::Cred),
    ("CRED_DISP", Kind::Cred),
    ("CRED_REFR", Kind::Cred),
];

/// One record object of a laurel event (some types are arrays of them).
fn first_obj<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Map<String, Value>> {
    match m.get(k)? {
        Value::Object(o) => Some(o),
        Value::Array(a) => a.first().and_then(Value::as_object),
        _ => None,
    }
}

/// An event of laurel (Debian's auditd plugin), configured with
/// `execve-argv = ["array"]`.
pub fn from_laurel(m: &Map<String, Value>, host: Option<&str>) -> Result<AuditEvent, String> {
    let id = str_of(m.get("ID")).ok_or("laurel event: \"ID\" is not a string")?;
    let t_ms = id_ms(&id).ok_or_else(|| format!("laurel event: bad ID {id:?}"))?;
    let records = m
        .iter()
        .filter(|(k, _)| k.as_str() != "ID" && k.as_str() != "NODE")
        .map(|(_, v)| v.as_array().map_or(1, |a| a.len() as u32))
        .sum();
    let sys = first_obj(m, "SYSCALL");
    let key = sys.and_then(|s| s.get("key")).and_then(Value::as_str);
    let has = |t: &str| m.contains_key(t);
    let kind = match key {
        Some("tlog-rs-exec") => Kind::Exec,
        Some("tlog-rs-file") => Kind::File,
        Some("tlog-rs-net") => Kind::Net,
        Some("tlog-rs-exit") => Kind::Exit,
        _ if has("EXECVE") => Kind::Exec,
        _ if has("SOCKADDR") => Kind::Net,
        _ => USER_TYPES
            .iter()
            .find(|(t, _)| has(t))
            .map(|(_, k)| *k)
            .or_else(|| has("LOGIN").then_some(Kind::Login))
            .or_else(|| has("PATH").then_some(Kind::File))
            .unwrap_or(Kind::Other),
    };
    // The process, or the sender of a user-space record.
    let user = USER_TYPES
        .iter()
        .find_map(|(t, _)| first_obj(m, t).map(|o| (*t, o)));
    let subject = sys
        .or(user.map(|u| u.1))
        .or(first_obj(m, "LOGIN"))
        .or_else(|| {
            m.keys()
                .filter_map(|k| first_obj(m, k))
                .find(|o| o.contains_key("auid"))
        });
    let get = |k: &str| subject.and_then(|s| s.get(k));
    let msg = user.and_then(|(t, o)| {
        o.get("msg")
            .and_then(Value::as_str)
            .and_then(|s| laurel_msg(&id, t, s))
    });
    let mf = |k: &str| msg.as_ref().and_then(|r| r.get(k)).map(str::to_string);
    let status = sys.and_then(|s| {
        let arch = s.get("arch").and_then(Value::as_str)?;
        let nr = int_of(s.get("syscall"))?;
        let exit = match arch.trim_start_matches("0x") {
            "c000003e" => nr == 60 || nr == 231,
            "40000003" => nr == 1 || nr == 252,
            _ => false,
        };
        let a0 = s.get("ARGV")?.as_array()?.first()?.as_str()?;
        exit.then(|| i64::from_str_radix(a0.trim_start_matches("0x"), 16).ok())
            .flatten()
    });
    let res = match first_obj(m, "LOGIN") {
        Some(l) => str_of(l.get("res")),
        None => mf("res"),
    };
    Ok(AuditEvent {
        host: host_of(m.get("NODE"), host)?,
        id,
        t_ms,
        kind,
        records,
        ses: login_id(get("ses")),
        auid: login_id(get("auid")),
        pid: int_of(get("pid")),
        ppid: int_of(get("ppid")),
        comm: str_of(get("comm")),
        exe: str_of(get("exe")).or_else(|| mf("exe")),
        success: sys.and_then(|s| s.get("success")).map(|v| v == "yes"),
        exit: sys.and_then(|s| int_of(s.get("exit"))),
        status,
        argv: first_obj(m, "EXECVE")
            .and_then(|e| e.get("ARGV"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| str_of(Some(v)).unwrap_or_default())
                    .collect()
            }),
        cwd: first_obj(m, "CWD").and_then(|c| str_of(c.get("cwd"))),
        paths: match m.get("PATH") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| PathItem {
                    name: str_of(p.get("name")),
                    nametype: str_of(p.get("nametype")),
                })
                .collect(),
            _ => Vec::new(),
        },
        sockaddr: first_obj(m, "SOCKADDR")
            .and_then(|s| s.get("saddr"))
            .and_then(Value::as_str)
            .map(|s| sockaddr(&percent_hex(s))),
        op: mf("op"),
        acct: mf("acct"),
        addr: mf("addr"),
        hostname: mf("hostname"),
        terminal: mf("terminal"),
        res,
    })
}

/// The JSON the index stores for an event.
pub fn stored_body(e: &AuditEvent) -> crate::store::Result<String> {
    serde_json::to_string(e)
        .map_err(|x| crate::store::StoreError(format!("audit event {}: {x}", e.id)))
}

/// A JSON line that is an audit event (ours or laurel's), or None.
pub fn from_json_line(
    m: &Map<String, Value>,
    host: Option<&str>,
) -> Option<Result<AuditEvent, String>> {
    if m.contains_key("ID") {
        Some(from_laurel(m, host))
    } else if m.contains_key("serial") && m.contains_key("kind") {
        Some(from_export(m, host))
    } else {
        None
    }
}

/// One event grouped by `tlog-rs-audit`; without `node=` it takes `host`.
/// The same value as `from_export` of the exporter's JSON, read from the
/// typed summary (no JSON in between: a fifth of the ingestion's work).
pub fn from_grouped(e: &Event, host: Option<&str>) -> Result<AuditEvent, String> {
    let s = e.flat();
    let own = |v: Option<&str>| v.map(str::to_string);
    let login = |v: Option<Option<i64>>| {
        v.flatten()
            .and_then(|n| u64::try_from(n).ok())
            .filter(|&n| n < UNSET)
            .map(|n| n as u32)
    };
    Ok(AuditEvent {
        host: match s.node.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => host_of(None, host)?,
        },
        id: s.id,
        t_ms: i64::try_from(e.id.time_ms).map_err(|_| "audit event: time out of range")?,
        kind: s.kind,
        records: u32::try_from(e.records.len()).unwrap_or(u32::MAX),
        ses: login(s.ses),
        auid: login(s.auid),
        pid: s.pid.flatten(),
        ppid: s.ppid.flatten(),
        comm: own(s.comm),
        exe: own(s.exe),
        success: s.success,
        exit: s.exit.flatten(),
        status: s.status,
        argv: s.argv,
        cwd: own(s.cwd.flatten()),
        paths: s
            .paths
            .iter()
            .map(|p| PathItem {
                name: own(p.name),
                nametype: own(p.nametype),
            })
            .collect(),
        sockaddr: s.sockaddr.filter(|v| !v.is_null()),
        op: own(s.op),
        acct: own(s.acct),
        addr: own(s.addr),
        hostname: own(s.hostname),
        terminal: own(s.terminal),
        res: own(s.res.flatten()),
    })
}

/// Every event of a raw audit.log; bad lines go to `bad` as (line, reason).
/// Events without `node=` take `host`. Memory stays bounded by the events
/// open in the grouper.
pub fn read_raw(
    mut input: impl std::io::BufRead,
    host: Option<&str>,
    out: &mut dyn FnMut(AuditEvent),
    bad: &mut dyn FnMut(u64, String),
) -> std::io::Result<()> {
    let mut g = Grouper::new();
    let mut done = Vec::new();
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut emit = |done: &mut Vec<Event>, bad: &mut dyn FnMut(u64, String)| {
        for e in done.drain(..) {
            match from_grouped(&e, host) {
                Ok(ev) => out(ev),
                Err(msg) => bad(e.records.first().map_or(0, |r| r.line as u64), msg),
            }
        }
    };
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        n += 1;
        let line = String::from_utf8_lossy(&buf);
        match parse_line(&line, n as usize) {
            Ok(Some(r)) => g.push(r, &mut done),
            Ok(None) => {}
            Err(e) => bad(n, format!("column {}: {}", e.column, e.message)),
        }
        emit(&mut done, bad);
    }
    g.finish(&mut done);
    emit(&mut done, bad);
    Ok(())
}
