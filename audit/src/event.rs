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

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};

use crate::parse::{decode_hex, parse_line, EventId, Field, ParseError, Record};

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

    /// An open event already holds this very record (a second copy of
    /// it, e.g. an entry that systemd-journal-upload sent again).
    pub fn holds(&self, r: &Record) -> bool {
        self.open
            .iter()
            .any(|e| e.node == r.node && e.id == r.id && e.records.iter().any(|x| x.same_text(r)))
    }

    /// The line of the first record of the oldest open event that started
    /// at or after `from_line`: a reader that stops here and resumes later
    /// must read again from that line on.
    pub fn oldest_open_line(&self, from_line: usize) -> Option<usize> {
        // Events open in input order: their first lines increase.
        self.open
            .iter()
            .filter_map(|e| e.records.first())
            .map(|r| r.line)
            .find(|&l| l >= from_line)
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

/// What an event is about, for the index and the timeline (the `kind` of
/// the JSON; the central index stores and filters on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Kind {
    Exec,
    File,
    Net,
    Exit,
    Auth,
    Login,
    SessionStart,
    SessionEnd,
    Cred,
    #[default]
    Other,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Exec,
        Kind::File,
        Kind::Net,
        Kind::Exit,
        Kind::Auth,
        Kind::Login,
        Kind::SessionStart,
        Kind::SessionEnd,
        Kind::Cred,
        Kind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::File => "file",
            Kind::Net => "net",
            Kind::Exit => "exit",
            Kind::Auth => "auth",
            Kind::Login => "login",
            Kind::SessionStart => "session_start",
            Kind::SessionEnd => "session_end",
            Kind::Cred => "cred",
            Kind::Other => "other",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown audit event kind {s:?}"))
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What an event is about: from our rule key (of the SYSCALL record: a
/// CONFIG_CHANGE that adds our rule names the key too), else from the
/// record types.
pub fn kind(e: &Event) -> Kind {
    let has = |t: &str| e.records.iter().any(|r| r.rtype == t);
    let key = e
        .records
        .iter()
        .filter(|r| r.rtype == "SYSCALL")
        .find_map(|r| r.get("key"));
    if let Some(k) = key {
        match k {
            "tlog-rs-exec" => return Kind::Exec,
            "tlog-rs-file" => return Kind::File,
            "tlog-rs-net" => return Kind::Net,
            "tlog-rs-exit" => return Kind::Exit,
            _ => {}
        }
    }
    if has("EXECVE") {
        Kind::Exec
    } else if has("SOCKADDR") {
        Kind::Net
    } else if has("USER_AUTH") || has("USER_ACCT") || has("USER_ERR") {
        Kind::Auth
    } else if has("USER_LOGIN") || has("USER_LOGOUT") || has("LOGIN") {
        Kind::Login
    } else if has("USER_START") {
        Kind::SessionStart
    } else if has("USER_END") {
        Kind::SessionEnd
    } else if has("CRED_ACQ") || has("CRED_DISP") || has("CRED_REFR") {
        Kind::Cred
    } else if has("PATH") {
        Kind::File
    } else {
        Kind::Other
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
            .fields()
            .filter(|f| f.name.starts_with(&prefix))
            .map(|f| f.value)
            .collect();
        out.push(parts);
    }
    out
}

fn num(v: Option<&str>) -> Option<i64> {
    v.and_then(|s| s.parse::<i64>().ok())
}

/// Serialized without building a `Value` tree (ingestion speed): fields,
/// msg and enriched tails as maps borrowing the record's strings.
struct Pairs<'a, I: Iterator<Item = (&'a str, &'a str)> + Clone>(I);

impl<'a, I: Iterator<Item = (&'a str, &'a str)> + Clone> Serialize for Pairs<'a, I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Repeated names are rare: sort the names (on the stack) once to
        // know whether the quadratic check is needed.
        let mut names = [""; 64];
        let mut n = 0;
        let mut maybe_dup = false;
        for (k, _) in self.0.clone() {
            if n == names.len() {
                maybe_dup = true;
                break;
            }
            names[n] = k;
            n += 1;
        }
        let names = &mut names[..n];
        names.sort_unstable();
        maybe_dup |= names.windows(2).any(|w| w[0] == w[1]);
        let mut m = s.serialize_map(None)?;
        for (i, (k, v)) in self.0.clone().enumerate() {
            // A repeated name: the last one wins (JSON objects need unique keys).
            if maybe_dup && self.0.clone().skip(i + 1).any(|(k2, _)| k2 == k) {
                continue;
            }
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A record as JSON: type, line, fields, msg, enriched.
struct RecordJson<'a>(&'a Record);

impl Serialize for RecordJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", &r.rtype)?;
        m.serialize_entry("line", &r.line)?;
        m.serialize_entry("fields", &Pairs(r.fields().map(pair)))?;
        if r.has_msg() {
            m.serialize_entry("msg", &Pairs(r.msg().map(pair)))?;
        }
        if r.has_enriched() {
            m.serialize_entry("enriched", &Pairs(r.enriched().map(pair)))?;
        }
        m.end()
    }
}

fn pair(f: Field<'_>) -> (&str, &str) {
    (f.name, f.value)
}

fn record_json(r: &Record) -> RecordJson<'_> {
    RecordJson(r)
}

#[derive(Serialize)]
pub struct PathJson<'a> {
    pub name: Option<&'a str>,
    pub nametype: Option<&'a str>,
}

/// The summary of an event (see the module documentation). `None` fields
/// are left out; `Some(None)` is a present field without a usable value.
#[derive(Serialize)]
pub struct EventJson<'a> {
    pub node: Option<&'a str>,
    pub id: String,
    pub time: f64,
    pub serial: u64,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auid: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ses: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<PathJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockaddr: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acct: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub res: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantors: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_ses: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_auid: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<Vec<RecordJson<'a>>>,
}

impl Event {
    fn first(&self, rtype: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.rtype == rtype)
    }

    /// The summary without the records, typed (the index reads it).
    pub fn flat(&self) -> EventJson<'_> {
        self.summary_with(false)
    }

    fn summary(&self) -> EventJson<'_> {
        self.summary_with(true)
    }

    fn summary_with(&self, with_records: bool) -> EventJson<'_> {
        // The process (SYSCALL), or the sender of a user-space record.
        let subject = self
            .first("SYSCALL")
            .or_else(|| self.records.iter().find(|r| r.get("auid").is_some()));
        let id_num = |k: &str| subject.and_then(|s| s.get(k).map(|v| num(Some(v))));
        let id_str = |k: &str| subject.and_then(|s| s.get(k));
        let sys = self.first("SYSCALL");
        // exit/exit_group (x86_64 60/231, i386 1/252): the status is the
        // first argument (hex).
        let status = sys.and_then(|s| {
            let exit = match (s.get("arch"), s.get("syscall")) {
                (Some("c000003e"), Some(n)) => n == "60" || n == "231",
                (Some("40000003"), Some(n)) => n == "1" || n == "252",
                _ => false,
            };
            exit.then(|| s.get("a0").and_then(|a| i64::from_str_radix(a, 16).ok()))
                .flatten()
        });
        let user = self.records.iter().find(|r| r.has_msg());
        let msg = |k: &str| user.and_then(|u| u.get(k));
        let login = self.first("LOGIN");
        EventJson {
            node: self.node.as_deref(),
            id: self.id.to_string(),
            time: self.id.time_ms as f64 / 1000.0,
            serial: self.id.serial,
            kind: kind(self),
            pid: id_num("pid"),
            ppid: id_num("ppid"),
            uid: id_num("uid"),
            auid: id_num("auid"),
            ses: id_num("ses"),
            comm: id_str("comm"),
            exe: id_str("exe"),
            key: id_str("key"),
            tty: id_str("tty"),
            syscall: sys.map(|s| num(s.get("syscall"))),
            arch: sys.map(|s| s.get("arch")),
            // exit_group records have no success= (the syscall never returns).
            success: sys.and_then(|s| s.get("success")).map(|v| v == "yes"),
            exit: sys.map(|s| num(s.get("exit"))),
            status,
            argv: self.first("EXECVE").map(argv),
            cwd: self.first("CWD").map(|c| c.get("cwd")),
            paths: self
                .records
                .iter()
                .filter(|r| r.rtype == "PATH")
                .map(|r| PathJson {
                    name: r.get("name"),
                    nametype: r.get("nametype"),
                })
                .collect(),
            sockaddr: self
                .first("SOCKADDR")
                .and_then(|r| r.get("saddr"))
                .map(sockaddr),
            op: msg("op"),
            acct: msg("acct"),
            addr: msg("addr"),
            hostname: msg("hostname"),
            terminal: msg("terminal"),
            res: match login {
                Some(l) => Some(l.get("res")),
                None => msg("res").map(Some),
            },
            grantors: msg("grantors"),
            old_ses: login.map(|l| num(l.get("old-ses"))),
            old_auid: login.map(|l| num(l.get("old-auid"))),
            records: with_records.then(|| self.records.iter().map(record_json).collect()),
        }
    }

    /// One JSON object: id, time, kind, the summary, and every record.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.summary()).unwrap_or(Value::Null)
    }

    /// The same object without `records` (most of its size), for readers
    /// that need only the flat fields.
    pub fn to_json_flat(&self) -> Value {
        serde_json::to_value(self.flat()).unwrap_or(Value::Null)
    }

    /// The same object, written straight to `out` (no `Value` in between).
    pub fn write_json(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(out, &self.summary()).map_err(std::io::Error::other)
    }
}

/// Stream a raw log to JSON lines: one object per event, written as soon as
/// the event closes. Bad lines go to `bad` and are skipped. Memory stays
/// bounded by the open events, whatever the size of the input.
pub fn export(
    mut input: impl std::io::BufRead,
    out: &mut impl std::io::Write,
    bad: &mut dyn FnMut(ParseError),
) -> std::io::Result<()> {
    let mut g = Grouper::new();
    let mut done = Vec::new();
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        n += 1;
        let line = String::from_utf8_lossy(&buf);
        match parse_line(&line, n) {
            Ok(Some(r)) => g.push(r, &mut done),
            Ok(None) => {}
            Err(e) => bad(e),
        }
        write_events(out, &mut done)?;
    }
    g.finish(&mut done);
    write_events(out, &mut done)
}

fn write_events(out: &mut impl std::io::Write, done: &mut Vec<Event>) -> std::io::Result<()> {
    for e in done.drain(..) {
        e.write_json(&mut *out)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
