//! `tlog-rs list`: one row per recording in a file (plus its `.events`
//! sidecar) or in the journal, with its [`State`]: the messages found are
//! checked against the session end entry (see [`crate::integrity`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use tlog_rs_format::{parse_message, Message};

use crate::integrity::{judge, EndClaims, IdLog, State};
use crate::source::{journal_field_bytes, journalctl_args, SourceSpec};
use crate::timestr::format_time;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub rec: String,
    pub user: String,
    pub host: String,
    pub term: String,
    pub tty: Option<String>,
    /// Unix ms of the recording start (`time` - `pos` of its first message,
    /// or the session start entry).
    pub start_ms: Option<u64>,
    pub duration_ms: u64,
    pub messages: u64,
    pub first_id: Option<u64>,
    pub last_id: Option<u64>,
    /// `(last id seen, next id seen)` wherever the next is not last + 1.
    pub gaps: Vec<(u64, u64)>,
    pub start_seen: bool,
    pub end_seen: bool,
    pub end_reason: Option<String>,
    pub exit_status: Option<i64>,
    pub messages_dropped: u64,
    /// From the end entry; None without one (or in a hand-made one).
    pub messages_written: Option<u64>,
    /// The end entry's `first_id`/`last_id` (None: null or absent).
    pub end_first_id: Option<u64>,
    pub end_last_id: Option<u64>,
    /// `resumed` entries: the recorder was stopped (SIGSTOP) and went on.
    pub resumed: u64,
    /// pam_tlog's `recorder_lost` evidence names this recording: at logout
    /// its recorder had not marked the end.
    pub recorder_lost: bool,
    /// For `unrecorded` rows: pam_tlog's words (service, rule).
    pub evidence: Option<String>,
    pub state: State,
    /// Why the state is `tampered`.
    pub problems: Vec<String>,
}

impl Row {
    pub fn complete(&self) -> bool {
        self.state == State::Complete
    }

    pub fn notes(&self) -> Vec<String> {
        let mut n = self.problems.clone();
        if let Some(e) = &self.evidence {
            n.push(e.clone());
            return n;
        }
        if self.recorder_lost {
            n.push("pam_tlog: recorder gone at logout without an end entry".into());
        }
        for (a, b) in &self.gaps {
            if b > a {
                n.push(format!("id gap {a}->{b}"));
            } else {
                n.push(format!("id out of order {a}->{b}"));
            }
        }
        if !self.end_seen {
            n.push("no end entry".into());
        }
        if self.messages_dropped > 0 {
            n.push(format!("{} messages dropped", self.messages_dropped));
        }
        if self.messages == 0 {
            n.push("no messages".into());
        }
        if self.resumed > 0 {
            n.push(format!(
                "recorder stopped and resumed {} time(s): output meanwhile may be missing",
                self.resumed
            ));
        }
        if let Some(r) = &self.end_reason {
            match self.exit_status {
                Some(s) => n.push(format!("end: {r} {s}")),
                None => n.push(format!("end: {r}")),
            }
        }
        n
    }
}

#[derive(Debug, Default)]
pub struct Filter {
    pub user: Option<String>,
    pub host: Option<String>,
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
}

impl Filter {
    /// Keep rows of the user/host whose time span overlaps [since, until].
    pub fn keep(&self, r: &Row) -> bool {
        if self.user.as_ref().is_some_and(|u| *u != r.user)
            || self.host.as_ref().is_some_and(|h| *h != r.host)
        {
            return false;
        }
        let Some(start) = r.start_ms else {
            return self.since_ms.is_none() && self.until_ms.is_none();
        };
        let end = start + r.duration_ms;
        self.since_ms.is_none_or(|s| end >= s) && self.until_ms.is_none_or(|u| start <= u)
    }
}

#[derive(Default)]
struct Builder {
    order: Vec<String>,
    rows: HashMap<String, Row>,
    last: HashMap<String, Message>,
    ids: HashMap<String, IdLog>,
    /// Per rec: the claims and text of the first end entry, and whether a
    /// later one differs.
    ends: HashMap<String, (EndClaims, String, bool)>,
    /// Recordings pam_tlog's `recorder_lost` evidence names.
    lost: Vec<String>,
    unrecorded: u64,
}

impl Builder {
    fn row(&mut self, rec: &str) -> &mut Row {
        if !self.rows.contains_key(rec) {
            self.order.push(rec.to_string());
            self.rows.insert(
                rec.to_string(),
                Row {
                    rec: rec.to_string(),
                    ..Row::default()
                },
            );
        }
        self.rows.get_mut(rec).expect("inserted above")
    }

    /// One message; `raw` is its text, to tell a repeated message from a
    /// rewritten one.
    fn message(&mut self, m: Message, raw: &[u8]) {
        let rec = m.rec.clone().unwrap_or_default();
        self.ids.entry(rec.clone()).or_default().push(m.id, raw);
        let row = self.row(&rec);
        if row.messages == 0 {
            row.user = m.user.clone();
            row.host = m.host.clone();
            row.term = m.term.clone();
            row.first_id = Some(m.id);
            if row.start_ms.is_none() {
                row.start_ms = m
                    .time
                    .as_deref()
                    .and_then(time_ms)
                    .map(|t| t.saturating_sub(m.pos));
            }
        }
        if let Some(last) = row.last_id {
            if m.id != last + 1 {
                row.gaps.push((last, m.id));
            }
        }
        row.last_id = Some(m.id);
        row.messages += 1;
        self.last.insert(rec, m);
    }

    /// pam_tlog's evidence (rec/src/sink/evidence.rs): a login it selected
    /// where no recorder ran becomes a row of its own; a lost recorder is a
    /// note on the recordings it names.
    fn evidence(&mut self, ev: &serde_json::Value) {
        let s = |k: &str| ev.get(k).and_then(|v| v.as_str()).unwrap_or("");
        match s("event") {
            "recorder_lost" => {
                let recs = ev.get("recs").and_then(|v| v.as_array());
                self.lost.extend(
                    recs.into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str().map(String::from)),
                );
            }
            "not_recorded" => {
                self.unrecorded += 1;
                // A key no rec id can take; the row's own rec stays empty.
                let key = format!("\0not_recorded {}", self.unrecorded);
                let row = self.row(&key);
                row.rec.clear();
                row.user = s("user").into();
                row.host = s("host").into();
                row.tty = Some(s("tty")).filter(|t| !t.is_empty()).map(String::from);
                row.start_ms = ev
                    .get("time")
                    .and_then(|v| v.as_f64())
                    .map(|t| (t * 1000.0).round() as u64);
                row.state = State::Unrecorded;
                row.evidence = Some(format!(
                    "selected login not recorded (no recorder ran): service {}, rule {}",
                    s("service"),
                    s("rule")
                ));
            }
            _ => {}
        }
    }

    fn event(&mut self, ev: &serde_json::Value) {
        let Some(rec) = ev.get("rec").and_then(|v| v.as_str()) else {
            self.evidence(ev);
            return;
        };
        let s = |k: &str| ev.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let row = self.row(rec);
        if row.user.is_empty() {
            row.user = s("user").unwrap_or_default();
            row.host = s("host").unwrap_or_default();
        }
        if row.tty.is_none() {
            row.tty = s("tty");
        }
        if let Some(start) = ev.get("start").and_then(|v| v.as_f64()) {
            row.start_ms = Some((start * 1000.0).round() as u64);
        }
        match ev.get("event").and_then(|v| v.as_str()) {
            Some("start") => row.start_seen = true,
            Some("resumed") => row.resumed += 1,
            Some("end") => {
                row.end_seen = true;
                let id = |k: &str| ev.get(k).and_then(|v| v.as_u64());
                row.messages_written = id("messages_written");
                row.end_first_id = id("first_id");
                row.end_last_id = id("last_id");
                row.end_reason = s("end_reason");
                row.exit_status = ev.get("exit_status").and_then(|v| v.as_i64());
                row.messages_dropped = ev
                    .get("messages_dropped")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                if let (Some(st), Some(en)) = (
                    ev.get("start").and_then(|v| v.as_f64()),
                    ev.get("end").and_then(|v| v.as_f64()),
                ) {
                    row.duration_ms = row
                        .duration_ms
                        .max(((en - st) * 1000.0).round().max(0.0) as u64);
                }
                let claims = EndClaims {
                    written: row.messages_written,
                    dropped: row.messages_dropped,
                    id_range: match (ev.get("first_id"), ev.get("last_id")) {
                        (None, None) => None,
                        _ => Some(row.end_first_id.zip(row.end_last_id)),
                    },
                };
                let text = ev.to_string();
                match self.ends.get_mut(rec) {
                    Some(e) => e.2 |= e.1 != text,
                    None => {
                        self.ends.insert(rec.to_string(), (claims, text, false));
                    }
                }
            }
            _ => {}
        }
    }

    fn finish(mut self) -> Vec<Row> {
        for (rec, m) in &self.last {
            let end = m
                .packets()
                .ok()
                .and_then(|p| p.iter().map(|p| p.ts).max())
                .unwrap_or(m.pos);
            if let Some(row) = self.rows.get_mut(rec) {
                row.duration_ms = row.duration_ms.max(end);
            }
        }
        for rec in &self.lost {
            if let Some(row) = self.rows.get_mut(rec) {
                row.recorder_lost = true;
            }
        }
        for (rec, row) in self.rows.iter_mut() {
            if row.state == State::Unrecorded {
                continue;
            }
            let end = self.ends.get(rec);
            let v = judge(
                self.ids.remove(rec).unwrap_or_default(),
                end.map(|e| &e.0),
                end.is_some_and(|e| e.2),
            );
            row.state = v.state;
            row.problems = v.problems;
        }
        self.order
            .iter()
            .filter_map(|r| self.rows.remove(r))
            .collect()
    }
}

/// `"1795700846.847"` -> ms.
fn time_ms(t: &str) -> Option<u64> {
    let (s, f) = t.split_once('.').unwrap_or((t, "0"));
    let mut ms: u64 = s.parse::<u64>().ok()?.checked_mul(1000)?;
    let f3: String = f.chars().chain("000".chars()).take(3).collect();
    ms += f3.parse::<u64>().ok()?;
    Some(ms)
}

/// Rows for every recording in the source, and the lines that are not
/// valid messages (file and line named): those are reported, not skipped
/// silently, but they do not hide the recordings around them.
pub fn collect(spec: &SourceSpec) -> Result<(Vec<Row>, Vec<String>), String> {
    let mut b = Builder::default();
    let mut bad = Vec::new();
    match spec {
        SourceSpec::File(path) => {
            let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut r = BufReader::with_capacity(256 * 1024, f);
            let mut line = Vec::new();
            let mut n = 0u64;
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    == 0
                {
                    break;
                }
                n += 1;
                if line.iter().all(|c| c.is_ascii_whitespace()) {
                    continue;
                }
                match parse_message(&line) {
                    Ok(m) => b.message(m, line.trim_ascii_end()),
                    Err(e) => bad.push(format!("{}: line {n}: {e}", path.display())),
                }
            }
            read_sidecar(&mut b, &events_path(path))?;
        }
        SourceSpec::Journal(q) => {
            let mut child = Command::new("journalctl")
                .args(journalctl_args(q, false)?)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run journalctl: {e}"))?;
            let out = BufReader::new(child.stdout.take().ok_or("journalctl has no stdout")?);
            for line in out.split(b'\n') {
                let line = line.map_err(|e| format!("reading journalctl: {e}"))?;
                let Ok(entry) = serde_json::from_slice::<serde_json::Value>(&line) else {
                    continue;
                };
                if entry.get("TLOG_RS_EVENT").is_some() {
                    if let Some(ev) = journal_field_bytes(&entry, "TLOG_RS_JSON")
                        .and_then(|j| serde_json::from_slice(&j).ok())
                    {
                        b.event(&ev);
                    }
                    continue;
                }
                // Other programs share the journal: only tlog messages count.
                if let Some(msg) = journal_field_bytes(&entry, "MESSAGE") {
                    if msg.starts_with(b"{\"ver\"") {
                        if let Ok(m) = parse_message(&msg) {
                            b.message(m, msg.trim_ascii_end());
                        }
                    }
                }
            }
            let _ = child.wait();
        }
    }
    Ok((b.finish(), bad))
}

pub fn events_path(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".events");
    s.into()
}

fn read_sidecar(b: &mut Builder, path: &Path) -> Result<(), String> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    for (i, line) in BufReader::new(f).split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let ev: serde_json::Value = serde_json::from_slice(&line)
            .map_err(|e| format!("{}: line {}: {e}", path.display(), i + 1))?;
        b.event(&ev);
    }
    Ok(())
}

/// Unix seconds, or `YYYY-MM-DD[(T| )HH:MM[:SS]]` in UTC, to ms.
pub fn parse_when(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid time {s:?}: Unix seconds or YYYY-MM-DD[THH:MM[:SS]] (UTC)");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs * 1000);
    }
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3 || !(1..=12).contains(&d[1]) || !(1..=31).contains(&d[2]) {
        return Err(bad());
    }
    let mut secs = days_from_civil(d[0], d[1], d[2]) * 86_400;
    if let Some(t) = time {
        let t: Vec<i64> = t
            .trim_end_matches('Z')
            .split(':')
            .map(|x| x.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        if !(2..=3).contains(&t.len())
            || t[0] > 23
            || t[1] > 59
            || t.get(2).is_some_and(|s| *s > 60)
        {
            return Err(bad());
        }
        secs += t[0] * 3600 + t[1] * 60 + t.get(2).copied().unwrap_or(0);
    }
    u64::try_from(secs).map(|s| s * 1000).map_err(|_| bad())
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-26T14:38:47Z`.
pub fn format_utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

pub fn render_table(rows: &[Row]) -> String {
    let mut lines = vec![[
        "REC".to_string(),
        "USER".into(),
        "HOST".into(),
        "TERM".into(),
        "START".into(),
        "DURATION".into(),
        "MSGS".into(),
        "STATE".into(),
        "NOTES".into(),
    ]];
    for r in rows {
        lines.push([
            if r.rec.is_empty() {
                "-".into()
            } else {
                r.rec.clone()
            },
            r.user.clone(),
            r.host.clone(),
            if r.term.is_empty() {
                "-".into()
            } else {
                r.term.clone()
            },
            r.start_ms.map_or("-".into(), format_utc),
            format_time(r.duration_ms),
            r.messages.to_string(),
            match r.state {
                State::Tampered => "TAMPERED".into(),
                State::Unrecorded => "UNRECORDED".into(),
                s => s.to_string(),
            },
            r.notes().join(", "),
        ]);
    }
    let mut width = [0usize; 9];
    for l in &lines {
        for (i, c) in l.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        let mut s = String::new();
        for (i, c) in l.iter().enumerate() {
            if i == 8 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    }
    out
}

/// One JSON object per line.
pub fn render_json(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let v = serde_json::json!({
            "rec": r.rec, "user": r.user, "host": r.host, "term": r.term, "tty": r.tty,
            "start": r.start_ms.map(|m| m as f64 / 1000.0), "start_utc": r.start_ms.map(format_utc),
            "duration": r.duration_ms as f64 / 1000.0, "messages": r.messages,
            "first_id": r.first_id, "last_id": r.last_id,
            "id_gaps": r.gaps.iter().map(|(a, b)| [a, b]).collect::<Vec<_>>(),
            "start_entry": r.start_seen, "end_entry": r.end_seen,
            "end_reason": r.end_reason, "exit_status": r.exit_status,
            "messages_dropped": r.messages_dropped, "messages_written": r.messages_written,
            "end_first_id": r.end_first_id, "end_last_id": r.end_last_id,
            "resumed": r.resumed, "recorder_lost": r.recorder_lost, "evidence": r.evidence,
            "state": r.state.as_str(), "problems": r.problems,
            "complete": r.complete(),
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_when("0"), Ok(0));
        assert_eq!(parse_when("1970-01-02"), Ok(86_400_000));
        assert_eq!(parse_when("2026-11-26T14:38:47Z"), Ok(1_795_703_927_000));
        assert_eq!(format_utc(1_795_703_927_000), "2026-11-26T14:38:47Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(parse_when("2000-02-29 00:00"), Ok(951_782_400_000));
        assert!(parse_when("2026-13-01").is_err());
        assert!(parse_when("yesterday").is_err());
    }

    #[test]
    fn pam_evidence_is_listed() {
        let mut b = Builder::default();
        let m = Message {
            rec: Some("r1".into()),
            id: 1,
            user: "alice".into(),
            host: "h".into(),
            ..Message::default()
        };
        b.message(m, b"r1 1");
        b.event(
            &serde_json::json!({"event":"start","rec":"r1","user":"alice","host":"h","start":1.0}),
        );
        b.event(&serde_json::json!({"event":"recorder_lost","user":"alice","uid":1001,"host":"h","service":"sshd","tty":"/dev/pts/1","rhost":"","rule":"admins","recs":["r1"],"time":9.5}));
        b.event(&serde_json::json!({"event":"not_recorded","user":"alice","uid":1001,"host":"h","service":"sshd","tty":"","rhost":"10.0.0.1","rule":"admins","recs":[],"time":12.25}));
        let rows = b.finish();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].state, State::Incomplete);
        assert!(rows[0].recorder_lost);
        assert!(rows[0].notes()[0].contains("recorder gone at logout"));
        let u = &rows[1];
        assert_eq!(
            (
                u.state,
                u.rec.as_str(),
                u.user.as_str(),
                u.start_ms,
                u.tty.as_deref()
            ),
            (State::Unrecorded, "", "alice", Some(12_250), None)
        );
        assert_eq!(
            u.notes(),
            ["selected login not recorded (no recorder ran): service sshd, rule admins"]
        );
        assert!(render_table(&rows)
            .lines()
            .nth(2)
            .unwrap()
            .contains(" UNRECORDED "));
    }

    #[test]
    fn gaps_and_completeness() {
        let mut b = Builder::default();
        let msg = |rec: &str, id: u64| Message {
            rec: Some(rec.into()),
            id,
            user: "u".into(),
            host: "h".into(),
            ..Message::default()
        };
        for (rec, id) in [("a", 1), ("b", 7), ("a", 2), ("b", 9), ("a", 3)] {
            b.message(msg(rec, id), format!("{rec}{id}").as_bytes());
        }
        b.event(&serde_json::json!({"event":"end","rec":"a","start":1.0,"end":2.5,"exit_status":0,"end_reason":"exit","messages_written":3,"messages_dropped":0}));
        let rows = b.finish();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].rec.as_str(), rows[0].messages, rows[0].complete()),
            ("a", 3, true)
        );
        assert_eq!(rows[0].duration_ms, 1500);
        assert_eq!(rows[1].gaps, vec![(7, 9)]);
        assert!(!rows[1].complete());
        assert!(rows[1].notes().contains(&"no end entry".to_string()));
    }
}
