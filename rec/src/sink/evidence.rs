//! Evidence entries that pam_tlog writes at close_session, not the recorder:
//! a selected login where no recorder ran (`not_recorded`: internal-sftp, a
//! ForceCommand, a subsystem), or whose recorder never marked its end
//! (`recorder_lost`: killed with SIGKILL, or the machine stopped).
//!
//! They go to the writer the login's hand-off configured, next to the start
//! and end entries (see `event.rs`), with the same identifiers:
//! file writer: a line in `<file.path>.events`; syslog: ident `tlog-rs`;
//! journal: `TLOG_RS_EVENT=not_recorded|recorder_lost` plus `TLOG_RS_JSON`.
//!
//! # The evidence JSON object
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `"event"` | `"not_recorded"` \| `"recorder_lost"` | which evidence |
//! | `"user"`, `"uid"` | string, integer | the login |
//! | `"host"` | string | host name |
//! | `"service"`, `"tty"`, `"rhost"` | string | from PAM (empty when absent) |
//! | `"rule"` | string | the rule that selected the login |
//! | `"recs"` | array of strings | recordings whose end is missing (`recorder_lost`) |
//! | `"time"` | number | when PAM noticed, Unix seconds with 3 decimals |

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use super::event::format_ms;
use super::journal::{push_field, JOURNAL_SOCKET};
use super::syslog::{facility_code, format_line, priority_code, DEV_LOG, EVENT_IDENT};
use super::{SinkSettings, WriterKind};
use crate::config::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    NotRecorded,
    RecorderLost,
}

impl fmt::Display for EvidenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EvidenceKind::NotRecorded => "not_recorded",
            EvidenceKind::RecorderLost => "recorder_lost",
        })
    }
}

impl FromStr for EvidenceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "not_recorded" => Ok(EvidenceKind::NotRecorded),
            "recorder_lost" => Ok(EvidenceKind::RecorderLost),
            _ => Err(format!("unknown evidence kind \"{s}\"")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub user: String,
    pub uid: u32,
    pub host: String,
    pub service: String,
    pub tty: String,
    pub rhost: String,
    pub rule: String,
    pub recs: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl Evidence {
    pub fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    /// One JSON object, keys in the documented order, no whitespace.
    pub fn to_json(&self) -> String {
        let recs: Vec<String> = self.recs.iter().map(|r| json_str(r)).collect();
        format!(
            "{{\"event\":\"{}\",\"user\":{},\"uid\":{},\"host\":{},\"service\":{},\"tty\":{},\"rhost\":{},\"rule\":{},\"recs\":[{}],\"time\":{}}}",
            self.kind,
            json_str(&self.user),
            self.uid,
            json_str(&self.host),
            json_str(&self.service),
            json_str(&self.tty),
            json_str(&self.rhost),
            json_str(&self.rule),
            recs.join(","),
            format_ms(self.time_ms)
        )
    }

    /// The sentence for syslog/journal readers.
    pub fn to_words(&self) -> String {
        match self.kind {
            EvidenceKind::NotRecorded => format!(
                "tlog-rs: selected session was not recorded: user={} uid={} service={} tty={} rhost={} rule=\"{}\" (no recorder ran: internal-sftp, ForceCommand or a subsystem?)",
                self.user, self.uid, self.service, self.tty, self.rhost, self.rule
            ),
            EvidenceKind::RecorderLost => format!(
                "tlog-rs: recorder ended without its end entry: user={} uid={} service={} rec={} (killed or crashed)",
                self.user,
                self.uid,
                self.service,
                self.recs.join(",")
            ),
        }
    }
}

/// The writer settings of a login: the system configuration of
/// tlog-rs-rec-session overlaid with the hand-off's settings, exactly as the
/// recorder would have merged them.
pub fn settings_for_handoff(conf_text: &str) -> Result<SinkSettings, ConfigError> {
    crate::config::session_config(Some(conf_text)).and_then(|c| c.sink_settings())
}

/// Write `ev` to the configured writer. `owner`: the recorder account, which
/// must own a sidecar that this call creates (so the recorder can still
/// append to it later).
pub fn write(settings: &SinkSettings, ev: &Evidence, owner: Option<u32>) -> io::Result<()> {
    write_to(
        settings,
        ev,
        owner,
        Path::new(DEV_LOG),
        Path::new(JOURNAL_SOCKET),
    )
}

pub fn write_to(
    settings: &SinkSettings,
    ev: &Evidence,
    owner: Option<u32>,
    dev_log: &Path,
    journal_socket: &Path,
) -> io::Result<()> {
    let json = ev.to_json();
    match settings.writer {
        WriterKind::File => {
            let path = settings
                .file_path
                .as_deref()
                .ok_or_else(|| io::Error::other("writer \"file\" has no file.path"))?;
            append_sidecar(&super::file::events_path(path), &json, owner)
        }
        WriterKind::Syslog => {
            let fac = facility_code(&settings.syslog_facility).unwrap_or(libc::LOG_AUTHPRIV);
            let pri = priority_code(&settings.syslog_priority).unwrap_or(libc::LOG_INFO);
            let line = format_line(
                fac | pri.min(libc::LOG_WARNING),
                EVENT_IDENT,
                json.as_bytes(),
            );
            UnixDatagram::unbound()?.send_to(&line, dev_log).map(drop)
        }
        WriterKind::Journal => {
            let mut e = Vec::with_capacity(1024);
            push_field(&mut e, "MESSAGE", ev.to_words().as_bytes());
            push_field(&mut e, "PRIORITY", libc::LOG_WARNING.to_string().as_bytes());
            push_field(&mut e, "SYSLOG_IDENTIFIER", EVENT_IDENT.as_bytes());
            push_field(&mut e, "TLOG_RS_EVENT", ev.kind.to_string().as_bytes());
            push_field(&mut e, "TLOG_RS_USER", ev.user.as_bytes());
            push_field(&mut e, "TLOG_RS_JSON", json.as_bytes());
            UnixDatagram::unbound()?
                .send_to(&e, journal_socket)
                .map(drop)
        }
    }
}

/// Root appends here, so the sidecar must be a regular file that root or the
/// recorder account owns: not a FIFO (O_NONBLOCK: no hang on one) nor a file
/// someone else planted in a shared directory.
fn append_sidecar(path: &Path, json: &str, owner: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(super::file::new_file_mode(path))
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() || (meta.uid() != 0 && Some(meta.uid()) != owner) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a regular file of root or the recorder account (uid {})",
                path.display(),
                meta.uid()
            ),
        ));
    }
    if let Some(uid) = owner.filter(|&u| u != meta.uid()) {
        std::os::unix::fs::fchown(&f, Some(uid), None)?;
    }
    f.write_all(format!("{json}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_settings_name_the_key_that_is_missing() {
        let e = settings_for_handoff(r#"{"writer":"file"}"#).unwrap_err();
        assert_eq!(e.key, "file.path");
        let s = settings_for_handoff(r#"{"writer":"file","file":{"path":"/x"}}"#).unwrap();
        assert_eq!(s.writer, WriterKind::File);
    }

    fn sample(kind: EvidenceKind) -> Evidence {
        Evidence {
            kind,
            user: "alice".into(),
            uid: 2001,
            host: "h.example".into(),
            service: "sshd".into(),
            tty: "ssh".into(),
            rhost: "127.0.0.1".into(),
            rule: "policy.toml rule 'all'".into(),
            recs: vec![],
            time_ms: 1_795_700_846_847,
        }
    }

    #[test]
    fn kinds_round_trip() {
        for k in [EvidenceKind::NotRecorded, EvidenceKind::RecorderLost] {
            assert_eq!(k.to_string().parse::<EvidenceKind>(), Ok(k));
        }
        assert!("start".parse::<EvidenceKind>().is_err());
    }

    #[test]
    fn json_is_one_parseable_object_with_the_documented_keys() {
        let mut ev = sample(EvidenceKind::RecorderLost);
        ev.recs = vec!["r\"1".into()];
        let v: serde_json::Value = serde_json::from_str(&ev.to_json()).unwrap();
        assert_eq!(v["event"], "recorder_lost");
        assert_eq!(v["uid"], 2001);
        assert_eq!(v["recs"][0], "r\"1");
        assert_eq!(v["time"].as_f64(), Some(1_795_700_846.847));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 10);
    }

    #[test]
    fn file_writer_appends_to_the_sidecar() {
        let dir = std::env::temp_dir().join(format!("tlog-evidence-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let settings = SinkSettings {
            writer: WriterKind::File,
            file_path: Some(dir.join("rec.log")),
            syslog_facility: "authpriv".into(),
            syslog_priority: "info".into(),
            journal_priority: "info".into(),
            journal_augment: true,
            limit_rate: 0,
            limit_burst: 0,
            limit_action: super::super::LimitAction::Pass,
            failure_mode: super::super::FailureMode::Strict,
        };
        write(&settings, &sample(EvidenceKind::NotRecorded), None).unwrap();
        write(&settings, &sample(EvidenceKind::NotRecorded), None).unwrap();
        let text = std::fs::read_to_string(dir.join("rec.log.events")).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("{\"event\":\"not_recorded\",\"user\":\"alice\""));
        assert!(
            !dir.join("rec.log").exists(),
            "the recording file is untouched"
        );
        // A FIFO is refused at once, not waited on.
        let fifo = dir.join("fifo.log.events");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut other = settings.clone();
        other.file_path = Some(dir.join("fifo.log"));
        assert!(write(&other, &sample(EvidenceKind::NotRecorded), None).is_err());
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            // A sidecar someone else planted is refused, not appended to.
            let planted = dir.join("planted.log.events");
            std::fs::write(&planted, "forged\n").unwrap();
            std::os::unix::fs::chown(&planted, Some(64_998), None).unwrap();
            other.file_path = Some(dir.join("planted.log"));
            let ev = sample(EvidenceKind::NotRecorded);
            assert!(write(&other, &ev, Some(64_999)).is_err());
            assert_eq!(std::fs::read_to_string(&planted).unwrap(), "forged\n");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
