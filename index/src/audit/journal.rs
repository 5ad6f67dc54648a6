//! Audit records in a journal (`tlog-rs index --journal DIR|FILE`): the
//! entries journald writes for kernel audit itself (`_TRANSPORT=audit`,
//! Debian's systemd-journald-audit.socket), delivered to the central side
//! with the recordings by systemd-journal-upload.
//!
//! journald keeps each record as `MESSAGE=TYPE key=value ...` with the
//! event's time in `_SOURCE_REALTIME_TIMESTAMP` (the `SEC.MS` of
//! `msg=audit(...)`, in µs), its serial in `_AUDIT_ID` and the host in
//! `_HOSTNAME`: that is the raw line again
//! (`node=HOST type=TYPE msg=audit(SEC.MS:SERIAL): key=value ...`), which
//! the raw-log parser reads and groups (journald drops EOE records, so the
//! grouper's 2 s rule closes events). Events are keyed by (host, event id)
//! as on the other paths, so a second reading adds nothing.
//!
//! The journal cursor of this reader is its own (`audit-journal:<loc>`),
//! saved with the events. Events still open at the end of a run are stored
//! as they are, and the cursor is left before their first record: the next
//! run reads them again, and their complete copy replaces the shorter one.

use std::collections::VecDeque;
use std::path::Path;

use serde_json::{Map, Value};
use tlog_rs_audit::event::{Event, Grouper};
use tlog_rs_audit::parse::parse_line;

use super::correlate::Touched;
use super::AuditEvent;
use crate::ingest::Problem;
use crate::journal::JournalReader;
use crate::recording::SourceLoc;
use crate::store::{Added, Result, Store};

/// Open events that started within this many entries hold the resume
/// cursor back; older ones (a host that fell silent keeps its last events
/// open) do not, so the next reading does not start ever further back.
/// An event's records arrive together, so a cut event is always recent.
const PIN_ENTRIES: usize = 10_000;

/// Fields asked of journalctl (it adds `__CURSOR` and the timestamps).
const FIELDS: &str = "MESSAGE,_AUDIT_ID,_SOURCE_REALTIME_TIMESTAMP,_HOSTNAME";

/// Events new and already indexed, and entries that are not audit records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JournalCounts {
    pub new: u64,
    pub duplicates: u64,
    pub bad_entries: u64,
}

/// The key of this reader's cursor in the index.
pub fn cursor_name(loc: &Path) -> String {
    format!("audit-{}", SourceLoc::Journal(loc.to_path_buf()))
}

/// A field as text: journalctl gives a string, or an array of byte values
/// for non-UTF-8 data.
fn field_str(e: &Map<String, Value>, k: &str) -> std::result::Result<String, String> {
    match e.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(a)) => {
            let b: Option<Vec<u8>> = a
                .iter()
                .map(|v| v.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            String::from_utf8(b.ok_or(format!("{k}: not bytes"))?)
                .map_err(|_| format!("{k} is not UTF-8"))
        }
        _ => Err(format!("no {k}")),
    }
}

/// The raw audit.log line of one journald audit entry.
pub fn record_line(e: &Map<String, Value>) -> std::result::Result<String, String> {
    let host = field_str(e, "_HOSTNAME")?;
    let serial: u64 = field_str(e, "_AUDIT_ID")?
        .parse()
        .map_err(|_| "_AUDIT_ID is not a number".to_string())?;
    let us: u64 = field_str(e, "_SOURCE_REALTIME_TIMESTAMP")?
        .parse()
        .map_err(|_| "_SOURCE_REALTIME_TIMESTAMP is not a number".to_string())?;
    let msg = field_str(e, "MESSAGE")?;
    // Bytes of the message (e.g. an invalid UTF-8 proctitle) are kept in
    // hex by the kernel, so the text is valid; a bad one is reported.
    let (rtype, rest) = msg.split_once(' ').unwrap_or((msg.as_str(), ""));
    if rtype.is_empty() || host.is_empty() || host.contains(char::is_whitespace) {
        return Err("not an audit record (empty type or host)".into());
    }
    Ok(format!(
        "node={host} type={rtype} msg=audit({}.{:03}:{serial}): {rest}",
        us / 1_000_000,
        (us / 1000) % 1000
    ))
}

/// Groups journal entries into events and knows from which cursor a later
/// reading must start.
#[derive(Default)]
pub struct Collector {
    grouper: Grouper,
    /// Entries read (each one's sequence number is the "line" of its record).
    seq: usize,
    /// (sequence number, cursor) of the entries that may still be needed,
    /// starting with the cursor the reading started from (number 0).
    cursors: VecDeque<(usize, Option<String>)>,
    /// See [`PIN_ENTRIES`].
    pin: usize,
}

impl Collector {
    /// A reading after `start` (None: from the beginning).
    pub fn new(start: Option<String>) -> Collector {
        Collector {
            cursors: VecDeque::from([(0, start)]),
            pin: PIN_ENTRIES,
            ..Collector::default()
        }
    }

    /// Add one entry; events it proves complete go to `done`. A bad entry
    /// gives its reason (it is skipped).
    pub fn push(
        &mut self,
        e: &Map<String, Value>,
        done: &mut Vec<Event>,
    ) -> std::result::Result<(), String> {
        self.seq += 1;
        let cursor = e
            .get("__CURSOR")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.cursors.push_back((self.seq, cursor));
        let r = record_line(e).and_then(|l| match parse_line(&l, self.seq) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err("empty audit record".into()),
            Err(x) => Err(format!("column {}: {}", x.column, x.message)),
        });
        // systemd-journal-upload sends the last entry again when it
        // resumes from its saved cursor: a copy of a record adds nothing.
        let r = r.map(|r| {
            if !self.grouper.holds(&r) {
                self.grouper.push(r, done)
            }
        });
        // Keep the cursor just before the oldest recent open event, and the last.
        let keep_from = self
            .grouper
            .oldest_open_line(self.seq.saturating_sub(self.pin))
            .map_or(self.seq, |l| l - 1);
        while self.cursors.len() > 1 && self.cursors[0].0 < keep_from {
            self.cursors.pop_front();
        }
        r
    }

    /// The end of the reading: every open event goes to `done`; returns the
    /// cursor the next reading starts after (None: from the beginning).
    pub fn finish(self, done: &mut Vec<Event>) -> Option<String> {
        let resume = self.cursors.front().and_then(|(_, c)| c.clone());
        self.grouper.finish(done);
        resume
    }
}

fn store_events(
    store: &mut dyn Store,
    done: &mut Vec<Event>,
    counts: &mut JournalCounts,
    touched: &mut Touched,
    bad: &mut dyn FnMut(String),
) -> Result<()> {
    for e in done.drain(..) {
        let ev: AuditEvent = match super::event::from_grouped(&e, None) {
            Ok(ev) => ev,
            Err(m) => {
                bad(m);
                continue;
            }
        };
        match store.audit()?.add_audit_event(&ev)? {
            Added::New => {
                counts.new += 1;
                touched.event(&ev);
            }
            _ => counts.duplicates += 1,
        }
    }
    Ok(())
}

/// Index the audit records of a journal directory or file after this
/// reader's cursor.
pub fn ingest(
    store: &mut dyn Store,
    loc: &Path,
    touched: &mut Touched,
    problems: &mut dyn FnMut(Problem),
) -> Result<JournalCounts> {
    let mut counts = JournalCounts::default();
    let shown = SourceLoc::Journal(loc.to_path_buf()).to_string();
    let mut problem = |message: String| {
        problems(Problem {
            file: shown.clone().into(),
            line: None,
            message,
        })
    };
    let name = cursor_name(loc);
    let start = store.source_cursor(&name)?;
    let mut rd = match JournalReader::spawn_query(
        loc,
        start.as_deref(),
        None,
        FIELDS,
        &["_TRANSPORT=audit"],
    ) {
        Ok(r) => r,
        Err(e) => {
            problem(e);
            return Ok(counts);
        }
    };
    let mut c = Collector::new(start.clone());
    let mut done = Vec::new();
    store.begin()?;
    loop {
        let e = match rd.next_raw() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                problem(e);
                break;
            }
        };
        if let Err(m) = c.push(&e, &mut done) {
            counts.bad_entries += 1;
            let at = e.get("__CURSOR").and_then(Value::as_str).unwrap_or("?");
            problem(format!("entry {at}: {m}"));
        }
        store_events(store, &mut done, &mut counts, touched, &mut problem)?;
    }
    let resume = c.finish(&mut done);
    store_events(store, &mut done, &mut counts, touched, &mut problem)?;
    if let Some(r) = resume.filter(|r| Some(r) != start.as_ref()) {
        store.save_source_cursor(&name, &r)?;
    }
    store.commit()?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::read_raw;
    use serde_json::json;

    /// The entry journald writes for one raw audit.log line (kernel record
    /// text after `msg=audit(...): `, node and enriched tail dropped: the
    /// kernel sends neither); None for EOE, which journald drops.
    fn as_journald(line: &str, cursor: usize) -> Option<Map<String, Value>> {
        let line = line.split('\x1d').next().unwrap();
        let (node, rest) = match line.strip_prefix("node=") {
            Some(r) => r.split_once(' ').unwrap(),
            None => ("localhost", line),
        };
        let rest = rest.strip_prefix("type=").unwrap();
        let (rtype, rest) = rest.split_once(" msg=audit(").unwrap();
        if rtype == "EOE" {
            return None;
        }
        let (id, body) = rest.split_once("): ").unwrap();
        let (t, serial) = id.split_once(':').unwrap();
        let (s, ms) = t.split_once('.').unwrap();
        let us = s.parse::<u64>().unwrap() * 1_000_000 + ms.parse::<u64>().unwrap() * 1000;
        let v = json!({
            "__CURSOR": format!("c{cursor}"),
            "_TRANSPORT": "audit",
            "_HOSTNAME": node,
            "_AUDIT_ID": serial,
            "_SOURCE_REALTIME_TIMESTAMP": us.to_string(),
            "MESSAGE": format!("{rtype} {body}"),
        });
        v.as_object().cloned()
    }

    fn entries(rel: &str) -> Vec<Map<String, Value>> {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap();
        text.lines()
            .filter_map(|l| as_journald(l, 0))
            .enumerate()
            .map(|(i, mut e)| {
                e.insert("__CURSOR".into(), json!(format!("c{}", i + 1)));
                e
            })
            .collect()
    }

    fn collect(
        es: &[Map<String, Value>],
        start: Option<String>,
    ) -> (Vec<AuditEvent>, Option<String>) {
        let mut c = Collector::new(start);
        let mut done = Vec::new();
        for e in es {
            c.push(e, &mut done).unwrap();
        }
        let resume = c.finish(&mut done);
        let evs = done
            .iter()
            .map(|e| crate::audit::event::from_grouped(e, None).unwrap())
            .collect();
        (evs, resume)
    }

    fn raw(rel: &str) -> Vec<AuditEvent> {
        let text = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap();
        let mut v = Vec::new();
        read_raw(
            &text[..],
            Some("localhost"),
            &mut |e| v.push(e),
            &mut |l, m| panic!("{l}: {m}"),
        )
        .unwrap();
        v
    }

    fn by_id(v: Vec<AuditEvent>) -> std::collections::BTreeMap<(String, String), AuditEvent> {
        v.into_iter()
            .map(|e| ((e.host.clone(), e.id.clone()), e))
            .collect()
    }

    #[test]
    fn a_journald_audit_entry_is_the_raw_line_again() {
        // As journald 252 wrote a kernel record (fields trimmed).
        let e = json!({
            "__CURSOR": "s=1;i=7",
            "_TRANSPORT": "audit",
            "_HOSTNAME": "vm",
            "_AUDIT_ID": "2566",
            "_AUDIT_TYPE": "1300",
            "_SOURCE_REALTIME_TIMESTAMP": "1796466871429000",
            "__REALTIME_TIMESTAMP": "1796466871432229",
            "MESSAGE": "SYSCALL arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=11497 pid=11527 auid=1000 uid=0 tty=(none) ses=7 comm=\"true\" exe=\"/usr/bin/true\" key=\"tlog-rs-exec\"",
        });
        let line = record_line(e.as_object().unwrap()).unwrap();
        assert_eq!(
            line,
            "node=vm type=SYSCALL msg=audit(1796466871.429:2566): arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=11497 pid=11527 auid=1000 uid=0 tty=(none) ses=7 comm=\"true\" exe=\"/usr/bin/true\" key=\"tlog-rs-exec\""
        );
        let (evs, resume) = collect(&[e.as_object().unwrap().clone()], None);
        assert_eq!(evs.len(), 1);
        let ev = &evs[0];
        assert_eq!(
            (ev.host.as_str(), ev.id.as_str()),
            ("vm", "1796466871.429:2566")
        );
        assert_eq!(
            (ev.kind, ev.ses, ev.auid, ev.pid),
            (super::super::Kind::Exec, Some(7), Some(1000), Some(11527))
        );
        assert_eq!(ev.exe.as_deref(), Some("/usr/bin/true"));
        // The event was still open at the end: read it again next time.
        assert_eq!(resume, None);
        // Milliseconds keep their zeros; a MESSAGE as bytes is read too.
        let mut m = e.as_object().unwrap().clone();
        m.insert(
            "_SOURCE_REALTIME_TIMESTAMP".into(),
            json!("1796466871007000"),
        );
        m.insert("MESSAGE".into(), json!(b"CWD cwd=\"/\"".to_vec()));
        assert_eq!(
            record_line(&m).unwrap(),
            "node=vm type=CWD msg=audit(1796466871.007:2566): cwd=\"/\""
        );
        for (k, v) in [
            ("_AUDIT_ID", json!("x")),
            ("_HOSTNAME", json!("")),
            ("MESSAGE", json!(null)),
        ] {
            let mut bad = m.clone();
            bad.insert(k.into(), v);
            assert!(record_line(&bad).is_err(), "{k}");
        }
    }

    #[test]
    fn journal_entries_give_the_events_of_the_raw_log() {
        for rel in [
            "../audit/tests/data/live.log",
            "../audit/tests/data/appendix-a.log",
        ] {
            let es = entries(rel);
            let (evs, _) = collect(&es, None);
            let want = raw(rel);
            assert!(want.len() > 5, "{rel}");
            // appendix-a has EOE lines; journald drops them: same events.
            assert_eq!(by_id(evs), by_id(want), "{rel}");
        }
    }

    #[test]
    fn a_silent_host_does_not_hold_the_cursor_back() {
        let es = entries("../audit/tests/data/live.log");
        // One record of another host, which then falls silent.
        let mut other = es[1].clone();
        other.insert("_HOSTNAME".into(), json!("silent"));
        other.insert("__CURSOR".into(), json!("c0"));
        let mut all = vec![other];
        all.extend(es.iter().cloned());
        let mut c = Collector::new(None);
        c.pin = 20;
        let mut done = Vec::new();
        for e in &all {
            c.push(e, &mut done).unwrap();
        }
        let resume = c.finish(&mut done).expect("a cursor");
        // Resumed within the last entries, not before the silent host's.
        let n: usize = resume[1..].parse().unwrap();
        assert!(n + 22 >= es.len(), "resumes at {n} of {}", es.len());
        assert!(done.iter().any(|e| e.node.as_deref() == Some("silent")));
    }

    #[test]
    fn an_entry_uploaded_twice_adds_no_record() {
        let es = entries("../audit/tests/data/live.log");
        let mut twice = Vec::new();
        for (i, e) in es.iter().enumerate() {
            twice.push(e.clone());
            if i % 3 == 0 {
                let mut again = e.clone();
                again.insert("__CURSOR".into(), json!(format!("again{i}")));
                twice.push(again);
            }
        }
        assert_eq!(
            by_id(collect(&twice, None).0),
            by_id(raw("../audit/tests/data/live.log"))
        );
    }

    #[test]
    fn a_reading_stopped_anywhere_resumes_without_losing_or_cutting_events() {
        let es = entries("../audit/tests/data/live.log");
        let want = by_id(raw("../audit/tests/data/live.log"));
        for cut in [1, 2, 7, es.len() / 2, es.len() - 3, es.len()] {
            let (first, resume) = collect(&es[..cut], None);
            // The next reading starts after the resume cursor.
            let from = match &resume {
                None => 0,
                Some(c) => c[1..].parse::<usize>().unwrap(),
            };
            assert!(from < cut, "cut {cut}: the open events are read again");
            let (second, _) = collect(&es[from..], resume);
            // As in the store: a copy with more records replaces a shorter one.
            let mut got = by_id(first);
            for e in second {
                let k = (e.host.clone(), e.id.clone());
                if got.get(&k).is_none_or(|o| o.records < e.records) {
                    got.insert(k, e);
                }
            }
            assert_eq!(got, want, "cut after {cut} entries");
        }
    }
}
