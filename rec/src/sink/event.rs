//! Session start/end/resumed entries: evidence that a session began, how it
//! ended, and that the recorder was stopped on the way.
//!
//! They are never recording messages (tlog-play would reject them), so every
//! writer keeps them apart from the recording:
//!
//! * **file** writer: one JSON line per event in the sidecar file
//!   `<file.path>.events` (opened like the log: O_WRONLY|O_CREAT|O_APPEND|
//!   O_CLOEXEC, mode 0600 or 0640 in a set-gid directory, plus O_NOFOLLOW). The recording file itself holds
//!   only messages.
//! * **syslog** writer: a separate line with ident `tlog-rs` (recording lines
//!   use ident `tlog`), whose body is the same JSON object.
//! * **journal** writer: a separate entry with `MESSAGE` in words, e.g.
//!   `tlog-rs session end rec=… user=alice tty=/dev/pts/1 host=h reason=exit status=0`,
//!   `TLOG_RS_EVENT=start|end|resumed`, `TLOG_RS_REC=<rec>`, one `TLOG_RS_<KEY>` field
//!   per JSON key below (upper case, e.g. `TLOG_RS_MESSAGES_DROPPED`), and
//!   `TLOG_RS_JSON` holding the JSON object. It never has a `TLOG_REC` field,
//!   so `tlog-play -r journal -M TLOG_REC=<rec>` only ever sees messages.
//!
//! # The event JSON object
//!
//! One object, keys always present and always in this order, no whitespace:
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `"event"` | `"start"` \| `"end"` \| `"resumed"` | which entry |
//! | `"rec"` | string | recording id, the `rec` of the messages |
//! | `"user"` | string | recorded user |
//! | `"host"` | string | host name as in the messages |
//! | `"tty"` | string or null | terminal of the session; null in pipe mode |
//! | `"session"` | integer | audit session id (4294967295 = no audit) |
//! | `"start"` | number | session start, Unix seconds with 3 decimals |
//! | `"end"` | number or null | session end (null unless `"end"`) |
//! | `"exit_status"` | integer or null | shell-like: code, or 128+signal |
//! | `"end_reason"` | string or null | `"exit"`, `"signal"` (the shell was killed), `"sink_failure"`, `"recorder_signal"` (the recorder got SIGTERM/SIGHUP/...) |
//! | `"signal"` | integer or null | signal number for `"signal"`/`"recorder_signal"` |
//! | `"bytes_in"`, `"bytes_out"` | integer | terminal bytes read from the user / sent to the user |
//! | `"messages_written"` | integer | recording messages stored |
//! | `"messages_dropped"` | integer | messages not stored: rate limiter drops plus messages lost to a failing sink |
//! | `"messages_lost"` | integer | the part of `messages_dropped` lost to a failing sink |
//! | `"first_id"`, `"last_id"` | integer or null | `id` of the first and last recording message counted in `messages_written` or `messages_dropped`; null when there was none. Ids are consecutive, so `last_id - first_id + 1 = messages_written + messages_dropped` |
//! | `"time"` | number | when this entry was made: the start, the end, or when the recorder noticed it had been resumed |
//! | `"service"` | string or null | PAM service of the login (`sshd`, `su-l`, …) |
//! | `"rhost"` | string or null | PAM_RHOST: where the login came from (empty string when PAM had none) |
//! | `"uid"` | integer or null | uid of the recorded user (from the kernel; null only for the ad-hoc recorder's events written before it knew) |
//! | `"groups"` | array of strings or null | group names of the user at login |
//! | `"rule"` | string or null | the rule that decided to record (`policy.toml rule 'dbas'`, …) |
//! | `"source"` | string or null | which source decided: `policy.toml`, `sssd.conf`, `freeipa`, `default`, `error` |
//! | `"fqdn"` | string or null | the host's fully qualified name from the resolver |
//! | `"rport"` | integer or null | the ssh client's TCP port (sshd's `SSH_CONNECTION`, checked against PAM_RHOST; see docs/jump-server.md); null when not sshd |
//! | `"laddr"`, `"lport"` | string or null, integer or null | the address and port of this host the ssh client connected to |
//! | `"charset"` | string | the terminal charset the texts were converted from (`"UTF-8"`: none; `"ISO-8859-1"`, `"KOI8-R"`, `"EUC-JP"`, `"gb18030"`, `"Shift_JIS"`, … as rec/src/charset.rs names them): `tlog-rs export --format raw --charset NAME` gives the original bytes back |
//!
//! `service`, `rhost`, `groups`, `rule`, `source`, `rport`, `laddr` and `lport` come from the trusted PAM
//! hand-off; outside PAM (the ad-hoc `tlog-rs-rec`, or no hand-off) they are
//! null, never guessed. They are in every entry, so an end entry alone
//! identifies the session too.
//!
//! Counters and ids in a start entry are 0 and null; in a `"resumed"` entry
//! they are the totals so far.
//!
//! Example: `{"event":"end","rec":"0dd9…-1d37-530b","user":"alice","host":"h","tty":"/dev/pts/1","session":7,"start":1795700846.847,"end":1795700850.002,"exit_status":0,"end_reason":"exit","signal":null,"bytes_in":12,"bytes_out":3400,"messages_written":3,"messages_dropped":0,"messages_lost":0,"first_id":1,"last_id":3,"time":1795700850.002,"service":"sshd","rhost":"192.0.2.7","uid":1001,"groups":["alice","dbas"],"rule":"policy.toml rule 'dbas'","source":"policy.toml","fqdn":"h.example.com","charset":"UTF-8"}`
//!
//! A start entry without a matching end entry means the recorder was killed
//! (SIGKILL) or the machine stopped. A `"resumed"` entry means the recorder
//! got SIGCONT: someone (root, or the user where the recorder runs as the
//! user) stopped it with SIGSTOP and let it go on; what happened on the
//! terminal meanwhile may be missing from the recording.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{EndReason, EventKind, LoginMeta, RecIdentity, SessionEvent, SinkStats};

/// Ids of the first and last message of a run of consecutive messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdRange(Option<(u64, u64)>);

impl IdRange {
    pub fn from_pair(first: u64, last: u64) -> IdRange {
        IdRange(Some((first, last)))
    }

    /// Count one more message (its id, if it has one).
    pub fn note(&mut self, id: Option<u64>) {
        if let Some(id) = id {
            let first = self.0.map_or(id, |(f, _)| f);
            self.0 = Some((first, id));
        }
    }

    pub fn first(&self) -> Option<u64> {
        self.0.map(|(f, _)| f)
    }

    pub fn last(&self) -> Option<u64> {
        self.0.map(|(_, l)| l)
    }
}

/// The `id` of a tlog message line. JSON strings escape `"`, so the first
/// `,"id":` can only be the key (it follows `"session":N`).
pub fn message_id(line: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b",\"id\":";
    let at = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// A session event with everything resolved, ready to encode for any writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub kind: EventKind,
    pub rec: String,
    pub user: String,
    pub host: String,
    pub tty: Option<String>,
    pub session: u32,
    /// Milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    pub exit_status: Option<i32>,
    pub end_reason: Option<EndReason>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_written: u64,
    pub messages_dropped: u64,
    pub messages_lost: u64,
    pub ids: IdRange,
    /// When the entry was made, milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub login: LoginMeta,
    pub charset: String,
}

fn epoch_ms(t: SystemTime) -> u64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as u64,
        Err(_) => 0,
    }
}

/// `1795700846.847`: seconds with exactly 3 decimals, like tlog's `time`.
pub fn format_ms(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn opt_str(v: &Option<String>) -> String {
    v.as_deref().map_or("null".to_string(), json_str)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

impl EventRecord {
    /// Merge the recorder's event with the sink's own counters. The sink is
    /// the authority on what it stored, so the larger count wins; the id
    /// range is the sink's.
    pub fn new(ev: &SessionEvent, id: &RecIdentity, sink: &SinkStats) -> Self {
        let start_ms = epoch_ms(ev.start_time);
        let event_ms = ev.end_time.map(epoch_ms);
        EventRecord {
            kind: ev.kind,
            rec: id.rec.clone(),
            user: id.user.clone(),
            host: id.host.clone(),
            tty: id.tty.clone(),
            session: id.audit_session,
            start_ms,
            end_ms: event_ms.filter(|_| ev.kind == EventKind::End),
            exit_status: ev.exit_status,
            end_reason: ev.end_reason,
            bytes_in: ev.bytes_in,
            bytes_out: ev.bytes_out,
            messages_written: ev.messages_written.max(sink.written),
            messages_dropped: ev.messages_dropped.max(sink.dropped),
            messages_lost: sink.lost,
            ids: sink.ids,
            time_ms: match ev.kind {
                EventKind::Start => start_ms,
                EventKind::End | EventKind::Resumed => event_ms.unwrap_or(start_ms),
            },
            login: id.login.clone(),
            charset: id.charset.clone(),
        }
    }

    pub fn kind_str(&self) -> &'static str {
        match self.kind {
            EventKind::Start => "start",
            EventKind::End => "end",
            EventKind::Resumed => "resumed",
        }
    }

    pub fn reason_str(&self) -> Option<&'static str> {
        self.end_reason.map(|r| match r {
            EndReason::Exit => "exit",
            EndReason::Signal(_) => "signal",
            EndReason::SinkFailure => "sink_failure",
            EndReason::RecorderSignal(_) => "recorder_signal",
        })
    }

    pub fn signal(&self) -> Option<i32> {
        match self.end_reason {
            Some(EndReason::Signal(s)) | Some(EndReason::RecorderSignal(s)) => Some(s),
            _ => None,
        }
    }

    /// The JSON object documented in this module, without a newline.
    pub fn to_json(&self) -> String {
        format!(
            concat!(
                "{{\"event\":\"{}\",\"rec\":{},\"user\":{},\"host\":{},\"tty\":{},",
                "\"session\":{},\"start\":{},\"end\":{},\"exit_status\":{},",
                "\"end_reason\":{},\"signal\":{},\"bytes_in\":{},\"bytes_out\":{},",
                "\"messages_written\":{},\"messages_dropped\":{},\"messages_lost\":{},",
                "\"first_id\":{},\"last_id\":{},\"time\":{},",
                "\"service\":{},\"rhost\":{},\"uid\":{},\"groups\":{},",
                "\"rule\":{},\"source\":{},\"fqdn\":{},\"charset\":{},",
                "\"rport\":{},\"laddr\":{},\"lport\":{}}}"
            ),
            self.kind_str(),
            json_str(&self.rec),
            json_str(&self.user),
            json_str(&self.host),
            self.tty.as_deref().map_or("null".to_string(), json_str),
            self.session,
            format_ms(self.start_ms),
            opt(self.end_ms.map(format_ms)),
            opt(self.exit_status),
            self.reason_str().map_or("null".to_string(), json_str),
            opt(self.signal()),
            self.bytes_in,
            self.bytes_out,
            self.messages_written,
            self.messages_dropped,
            self.messages_lost,
            opt(self.ids.first()),
            opt(self.ids.last()),
            format_ms(self.time_ms),
            opt_str(&self.login.service),
            opt_str(&self.login.rhost),
            opt(self.login.uid),
            self.login.groups.as_ref().map_or("null".to_string(), |g| {
                format!(
                    "[{}]",
                    g.iter().map(|n| json_str(n)).collect::<Vec<_>>().join(",")
                )
            }),
            opt_str(&self.login.rule),
            opt_str(&self.login.source),
            opt_str(&self.login.fqdn),
            json_str(&self.charset),
            opt(self.login.ssh.map(|c| c.client_port)),
            self.login
                .ssh
                .map_or("null".to_string(), |c| json_str(&c.server_addr.to_string())),
            opt(self.login.ssh.map(|c| c.server_port)),
        )
    }

    /// One line in words for the journal's MESSAGE and for humans.
    pub fn to_words(&self) -> String {
        let mut s = format!(
            "tlog-rs session {} rec={} user={} tty={} host={} session={}",
            self.kind_str(),
            self.rec,
            self.user,
            self.tty.as_deref().unwrap_or("none"),
            self.host,
            self.session
        );
        if self.kind == EventKind::Resumed {
            s.push_str(&format!(
                " time={} (the recorder was stopped and resumed) messages={} last_id={}",
                format_ms(self.time_ms),
                self.messages_written,
                opt(self.ids.last())
            ));
        }
        if self.kind == EventKind::End {
            s.push_str(&format!(
                " reason={} status={} messages={} dropped={} lost={}",
                self.reason_str().unwrap_or("unknown"),
                opt(self.exit_status),
                self.messages_written,
                self.messages_dropped,
                self.messages_lost
            ));
            if let Some(sig) = self.signal() {
                s.push_str(&format!(" signal={sig}"));
            }
        }
        s
    }

    /// `(NAME, value)` pairs for the journal: `TLOG_RS_<KEY>` for every JSON
    /// key (null values are left out) plus `TLOG_RS_JSON`.
    pub fn journal_fields(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("TLOG_RS_EVENT", self.kind_str().to_string()),
            ("TLOG_RS_REC", self.rec.clone()),
            ("TLOG_RS_USER", self.user.clone()),
            ("TLOG_RS_HOST", self.host.clone()),
        ];
        if let Some(t) = &self.tty {
            f.push(("TLOG_RS_TTY", t.clone()));
        }
        f.push(("TLOG_RS_SESSION", self.session.to_string()));
        f.push(("TLOG_RS_START", format_ms(self.start_ms)));
        if let Some(e) = self.end_ms {
            f.push(("TLOG_RS_END", format_ms(e)));
        }
        if let Some(x) = self.exit_status {
            f.push(("TLOG_RS_EXIT_STATUS", x.to_string()));
        }
        if let Some(r) = self.reason_str() {
            f.push(("TLOG_RS_END_REASON", r.to_string()));
        }
        if let Some(s) = self.signal() {
            f.push(("TLOG_RS_SIGNAL", s.to_string()));
        }
        f.push(("TLOG_RS_BYTES_IN", self.bytes_in.to_string()));
        f.push(("TLOG_RS_BYTES_OUT", self.bytes_out.to_string()));
        f.push((
            "TLOG_RS_MESSAGES_WRITTEN",
            self.messages_written.to_string(),
        ));
        f.push((
            "TLOG_RS_MESSAGES_DROPPED",
            self.messages_dropped.to_string(),
        ));
        f.push(("TLOG_RS_MESSAGES_LOST", self.messages_lost.to_string()));
        if let Some(i) = self.ids.first() {
            f.push(("TLOG_RS_FIRST_ID", i.to_string()));
        }
        if let Some(i) = self.ids.last() {
            f.push(("TLOG_RS_LAST_ID", i.to_string()));
        }
        f.push(("TLOG_RS_TIME", format_ms(self.time_ms)));
        let m = &self.login;
        for (k, v) in [
            ("TLOG_RS_SERVICE", &m.service),
            ("TLOG_RS_RHOST", &m.rhost),
            ("TLOG_RS_RULE", &m.rule),
            ("TLOG_RS_SOURCE", &m.source),
            ("TLOG_RS_FQDN", &m.fqdn),
        ] {
            if let Some(v) = v {
                f.push((k, v.clone()));
            }
        }
        if let Some(u) = m.uid {
            f.push(("TLOG_RS_UID", u.to_string()));
        }
        if let Some(g) = &m.groups {
            f.push(("TLOG_RS_GROUPS", g.join(",")));
        }
        if let Some(c) = m.ssh {
            f.push(("TLOG_RS_RPORT", c.client_port.to_string()));
            f.push(("TLOG_RS_LADDR", c.server_addr.to_string()));
            f.push(("TLOG_RS_LPORT", c.server_port.to_string()));
        }
        f.push(("TLOG_RS_CHARSET", self.charset.clone()));
        f.push(("TLOG_RS_JSON", self.to_json()));
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn identity() -> RecIdentity {
        RecIdentity {
            rec: "abc-1-2".into(),
            user: "al\"ice".into(),
            host: "h".into(),
            term: "xterm".into(),
            tty: Some("/dev/pts/3".into()),
            audit_session: 7,
            ident: "tlog-rs-rec".into(),
            login: Default::default(),
            charset: "UTF-8".into(),
        }
    }

    #[test]
    fn login_metadata_from_pam_is_in_json_and_journal_fields() {
        let mut id = identity();
        id.login = LoginMeta {
            service: Some("sshd".into()),
            rhost: Some("192.0.2.7".into()),
            uid: Some(1001),
            groups: Some(vec!["alice".into(), "d\"bas".into()]),
            rule: Some("policy.toml rule 'dbas'".into()),
            source: Some("policy.toml".into()),
            fqdn: Some("h.example.com".into()),
            ssh: Some("192.0.2.7 51234 2001:db8::1 2222".parse().unwrap()),
        };
        let ev = SessionEvent::start_at(
            UNIX_EPOCH + std::time::Duration::from_millis(1_795_700_846_047),
        );
        let r = EventRecord::new(&ev, &id, &SinkStats::default());
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["service"], "sshd");
        assert_eq!(v["rhost"], "192.0.2.7");
        assert_eq!(v["uid"], 1001);
        assert_eq!(v["groups"], serde_json::json!(["alice", "d\"bas"]));
        assert_eq!(v["rule"], "policy.toml rule 'dbas'");
        assert_eq!(v["source"], "policy.toml");
        assert_eq!(v["fqdn"], "h.example.com");
        assert_eq!(v["rport"], 51234);
        assert_eq!(v["laddr"], "2001:db8::1");
        assert_eq!(v["lport"], 2222);
        let f = r.journal_fields();
        let get = |k: &str| f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("TLOG_RS_SERVICE"), Some("sshd"));
        assert_eq!(get("TLOG_RS_UID"), Some("1001"));
        assert_eq!(get("TLOG_RS_GROUPS"), Some("alice,d\"bas"));
        assert_eq!(get("TLOG_RS_RPORT"), Some("51234"));
        assert_eq!(get("TLOG_RS_LADDR"), Some("2001:db8::1"));
    }

    #[test]
    fn end_event_json_has_every_key_in_order() {
        let ev = SessionEvent {
            kind: EventKind::End,
            start_time: UNIX_EPOCH + Duration::from_millis(1_795_700_846_047),
            end_time: Some(UNIX_EPOCH + Duration::from_millis(1_795_700_850_100)),
            exit_status: Some(137),
            end_reason: Some(EndReason::Signal(9)),
            bytes_in: 1,
            bytes_out: 2,
            messages_written: 3,
            messages_dropped: 1,
        };
        let sink = SinkStats {
            written: 2,
            dropped: 4,
            lost: 3,
            ids: IdRange::from_pair(1, 7),
        };
        let r = EventRecord::new(&ev, &identity(), &sink);
        let json = r.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["user"], "al\"ice");
        assert_eq!(v["start"].as_f64().unwrap(), 1795700846.047);
        assert!(json.contains("\"start\":1795700846.047,\"end\":1795700850.100,"));
        assert_eq!(v["end_reason"], "signal");
        assert_eq!(v["signal"], 9);
        assert_eq!(v["messages_written"], 3, "recorder's count is larger");
        assert_eq!(v["messages_dropped"], 4, "sink's count is larger");
        assert_eq!(v["messages_lost"], 3);
        assert_eq!(v["first_id"], 1);
        assert_eq!(v["last_id"], 7);
        assert_eq!(v["time"].as_f64().unwrap(), 1795700850.1);
        assert!(json.contains(",\"first_id\":1,\"last_id\":7,\"time\":1795700850.100,"));
        // Outside PAM the login metadata is null, never guessed.
        assert!(json.ends_with(
            ",\"service\":null,\"rhost\":null,\"uid\":null,\"groups\":null,\"rule\":null,\"source\":null,\"fqdn\":null,\"charset\":\"UTF-8\",\"rport\":null,\"laddr\":null,\"lport\":null}"
        ));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        let mut expected = vec![
            "event",
            "rec",
            "user",
            "host",
            "tty",
            "session",
            "start",
            "end",
            "exit_status",
            "end_reason",
            "signal",
            "bytes_in",
            "bytes_out",
            "messages_written",
            "messages_dropped",
            "messages_lost",
            "first_id",
            "last_id",
            "time",
            "service",
            "rhost",
            "uid",
            "groups",
            "rule",
            "source",
            "fqdn",
            "charset",
            "rport",
            "laddr",
            "lport",
        ];
        expected.sort();
        assert_eq!(sorted, expected);
        assert!(json.starts_with("{\"event\":\"end\",\"rec\":\"abc-1-2\",\"user\":"));
    }

    #[test]
    fn start_event_has_nulls_and_no_tlog_rec_field() {
        let ev = SessionEvent::start_at(UNIX_EPOCH + Duration::from_millis(5));
        let mut id = identity();
        id.tty = None;
        let r = EventRecord::new(&ev, &id, &SinkStats::default());
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert!(v["tty"].is_null() && v["end"].is_null() && v["exit_status"].is_null());
        assert!(v["first_id"].is_null() && v["last_id"].is_null());
        assert_eq!(v["time"].as_f64().unwrap(), 0.005);
        assert_eq!(v["start"].as_f64().unwrap(), 0.005);
        let fields = r.journal_fields();
        assert!(fields.iter().all(|(k, _)| *k != "TLOG_REC"));
        assert!(fields.contains(&("TLOG_RS_EVENT", "start".to_string())));
        assert!(r
            .to_words()
            .starts_with("tlog-rs session start rec=abc-1-2 "));
    }

    #[test]
    fn resumed_event_has_its_own_time_and_no_end() {
        let ev = SessionEvent {
            kind: EventKind::Resumed,
            end_time: Some(UNIX_EPOCH + Duration::from_millis(61_250)),
            bytes_in: 5,
            bytes_out: 9,
            messages_written: 2,
            ..SessionEvent::start_at(UNIX_EPOCH + Duration::from_millis(1_000))
        };
        let sink = SinkStats {
            written: 2,
            ids: IdRange::from_pair(1, 2),
            ..SinkStats::default()
        };
        let r = EventRecord::new(&ev, &identity(), &sink);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["event"], "resumed");
        assert!(v["end"].is_null());
        assert_eq!(v["time"].as_f64().unwrap(), 61.25);
        assert_eq!(v["last_id"], 2);
        assert!(r
            .journal_fields()
            .contains(&("TLOG_RS_EVENT", "resumed".to_string())));
        assert!(
            r.to_words().contains("stopped and resumed"),
            "{}",
            r.to_words()
        );
    }

    #[test]
    fn message_id_is_read_from_the_id_key_only() {
        let line = br#"{"ver":"2.3","host":"h,\"id\":9","rec":"r","user":"u","term":"t","session":4,"id":123,"pos":0}"#;
        assert_eq!(message_id(line), Some(123));
        assert_eq!(message_id(b"{\"ver\":\"2.3\"}"), None);
        assert_eq!(message_id(b"{\"session\":1,\"id\":}"), None);
    }

    #[test]
    fn id_range_spans_first_to_last() {
        let mut r = IdRange::default();
        assert_eq!((r.first(), r.last()), (None, None));
        r.note(None);
        assert_eq!(r, IdRange::default());
        r.note(Some(3));
        r.note(Some(4));
        r.note(Some(5));
        assert_eq!((r.first(), r.last()), (Some(3), Some(5)));
    }
}
