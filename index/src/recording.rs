//! `tlog-rs play --db` and `export --db`: a recording read back from the
//! stores the index points into, in id order, optionally from a stored
//! keyframe. The player gets it as [`tlog_rs_play::stored::Stored`].
//!
//! Every message is checked against the hash stored when it was indexed:
//! a source rewritten since is reported, never played as if it were the
//! recording.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use tlog_rs_format::{parse_message, Message, Packet, PacketData};
use tlog_rs_play::asciicast::Meta;
use tlog_rs_play::stored::{Stored, StoredArgs};

use crate::config::{Config, DbSpec};
use crate::es::{EsMessageSource, EsSource};
use crate::ingest::message_hash;
use crate::store::{self, Keyframe, MessageRef};

/// Where indexed messages lie, as kept in the index (`files.path`): a file
/// path, or a prefixed location for the other stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLoc {
    /// A JSON Lines file: messages by (offset, length).
    File(PathBuf),
    /// A journal directory or file, as given to `--journal`: messages by
    /// realtime timestamp (see `journal`).
    Journal(PathBuf),
    /// An Elasticsearch/OpenSearch index; message refs point to one
    /// recording's documents there (`key`: host and rec), read by id.
    Es {
        url: String,
        index: String,
        key: Option<(String, String)>,
    },
}

const JOURNAL_PREFIX: &str = "journal:";
const ES_PREFIX: &str = "es:";

impl std::str::FromStr for SourceLoc {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix(JOURNAL_PREFIX) {
            Ok(SourceLoc::Journal(PathBuf::from(p)))
        } else if let Some(u) = s.strip_prefix(ES_PREFIX) {
            // Neither a base URL, an index name, a host name nor a rec id
            // holds '#'.
            let parts: Vec<&str> = u.split('#').collect();
            let (url, index, key) = match parts[..] {
                [url, index] => (url, index, None),
                [url, index, host, rec] => (url, index, Some((host.to_string(), rec.to_string()))),
                _ => return Err(format!("{s:?}: expected es:URL#INDEX[#HOST#REC]")),
            };
            Ok(SourceLoc::Es {
                url: url.to_string(),
                index: index.to_string(),
                key,
            })
        } else {
            Ok(SourceLoc::File(PathBuf::from(s)))
        }
    }
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceLoc::File(p) => write!(f, "{}", p.display()),
            SourceLoc::Journal(p) => write!(f, "{JOURNAL_PREFIX}{}", p.display()),
            SourceLoc::Es { url, index, key } => {
                write!(f, "{ES_PREFIX}{url}#{index}")?;
                match key {
                    Some((host, rec)) => write!(f, "#{host}#{rec}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Gives the line of one indexed message (checked by the caller).
pub trait MessageSource: Send {
    fn line(&mut self, r: &MessageRef) -> Result<Vec<u8>, String>;
}

struct FileSource {
    path: PathBuf,
    file: Option<File>,
}

impl MessageSource for FileSource {
    fn line(&mut self, r: &MessageRef) -> Result<Vec<u8>, String> {
        if self.file.is_none() {
            self.file =
                Some(File::open(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?);
        }
        let f = self.file.as_ref().expect("just opened");
        let mut buf = vec![0u8; r.len as usize];
        f.read_exact_at(&mut buf, r.offset).map_err(|e| {
            format!(
                "{}: message id {} at byte {}: {e}",
                self.path.display(),
                r.id,
                r.offset
            )
        })?;
        Ok(buf)
    }
}

/// `wanted`: the messages that will be asked for from this source, in
/// the order they will be asked for; `es`: credentials of ES sources.
fn source_for(
    loc: &SourceLoc,
    wanted: Vec<MessageRef>,
    es: &[EsSource],
) -> Result<Box<dyn MessageSource>, String> {
    match loc {
        SourceLoc::File(p) => Ok(Box::new(FileSource {
            path: p.clone(),
            file: None,
        })),
        SourceLoc::Journal(p) => Ok(Box::new(crate::journal::JournalSource::new(p, wanted))),
        SourceLoc::Es { url, index, key } => {
            // Credentials are not in the index: those of the same source
            // given to this run or in the central config, else none.
            let src = es
                .iter()
                .find(|e| {
                    e.loc()
                        == SourceLoc::Es {
                            url: url.clone(),
                            index: index.clone(),
                            key: None,
                        }
                })
                .cloned()
                .unwrap_or_else(|| EsSource {
                    url: url.clone(),
                    index: index.clone(),
                    ..EsSource::default()
                });
            Ok(Box::new(EsMessageSource::new(&src, wanted, key.clone())))
        }
    }
}

/// Reads a recording's messages from wherever each one lies, checking
/// each against the hash stored when it was indexed.
pub struct Fetcher {
    es: Vec<EsSource>,
    paths: HashMap<i64, String>,
    wanted: HashMap<i64, Vec<MessageRef>>,
    by_file: HashMap<i64, Box<dyn MessageSource>>,
}

impl Fetcher {
    /// `refs`: the messages that will be fetched, in that order.
    pub fn new(refs: &[(MessageRef, String)]) -> Self {
        let mut paths = HashMap::new();
        let mut wanted: HashMap<i64, Vec<MessageRef>> = HashMap::new();
        for (r, p) in refs {
            paths.entry(r.file).or_insert_with(|| p.clone());
            wanted.entry(r.file).or_default().push(r.clone());
        }
        Fetcher {
            es: Vec::new(),
            paths,
            wanted,
            by_file: HashMap::new(),
        }
    }

    /// Credentials for Elasticsearch sources.
    pub fn es(mut self, es: &[EsSource]) -> Self {
        self.es = es.to_vec();
        self
    }

    /// The message's line and its parse.
    pub fn get(&mut self, r: &MessageRef) -> Result<(Vec<u8>, Message), String> {
        let path = self.paths.get(&r.file).map_or("?", String::as_str);
        let src = match self.by_file.entry(r.file) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let wanted = self.wanted.remove(&r.file).unwrap_or_default();
                e.insert(source_for(&path.parse()?, wanted, &self.es)?)
            }
        };
        let line = src.line(r)?;
        let changed = || {
            format!(
                "{path}: message id {} changed since it was indexed (run `tlog-rs index`: a rewritten store is reported there)",
                r.id
            )
        };
        let m = parse_message(&line).map_err(|_| changed())?;
        if m.id != r.id || message_hash(&m) != r.hash {
            return Err(changed());
        }
        Ok((line, m))
    }
}

/// One recording's messages as lines, read on demand.
pub struct MessageLines {
    refs: std::vec::IntoIter<(MessageRef, String)>,
    fetch: Fetcher,
    buf: Vec<u8>,
    pos: usize,
}

impl MessageLines {
    fn new(refs: Vec<(MessageRef, String)>, es: &[EsSource]) -> Self {
        MessageLines {
            fetch: Fetcher::new(&refs).es(es),
            refs: refs.into_iter(),
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn next_line(&mut self) -> Result<Option<(Vec<u8>, Message)>, String> {
        match self.refs.next() {
            Some((r, _)) => self.fetch.get(&r).map(Some),
            None => Ok(None),
        }
    }
}

impl Read for MessageLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for MessageLines {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            match self.next_line() {
                Ok(Some((mut line, _))) => {
                    line.push(b'\n');
                    self.buf = line;
                    self.pos = 0;
                }
                Ok(None) => return Ok(&[]),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}

/// The keyframe to start from for time `ms`: the last at or before it.
pub fn keyframe_for(kfs: &[Keyframe], ms: u64) -> Option<&Keyframe> {
    kfs.iter()
        .filter(|k| k.t_ms >= 0 && k.t_ms as u64 <= ms)
        .max_by_key(|k| (k.t_ms, k.msg_id, k.packet))
}

/// What a player must be given to start at keyframe `k` of message `m`:
/// the window size and the keyframe's painting at its time, then the
/// packets of `m` after the keyframe's.
pub fn lead_packets(k: &Keyframe, m: &Message) -> Vec<Packet> {
    let ts = k.t_ms.max(0) as u64;
    let mut lead = vec![
        Packet {
            ts,
            data: PacketData::Window {
                cols: k.cols,
                rows: k.rows,
            },
        },
        Packet {
            ts,
            data: PacketData::Output(k.screen.clone()),
        },
    ];
    let (packets, _) = m.decode();
    lead.extend(
        packets
            .into_iter()
            .skip(k.packet as usize + 1)
            .map(|p| Packet {
                ts: p.ts.max(ts),
                ..p
            }),
    );
    lead
}

/// `play --db` / `export --db`: open `a.rec` (on `a.host`) from the index.
pub fn open(a: &StoredArgs, at: Option<u64>) -> Result<Stored, String> {
    let config = Config::load(a.config.as_deref()).map_err(|e| e.to_string())?;
    let db: DbSpec = match &a.db {
        Some(d) => d.parse()?,
        None => config.db.clone(),
    };
    if let DbSpec::Sqlite(p) = &db {
        if !p.exists() {
            return Err(format!(
                "{}: no index there; run `tlog-rs index` first",
                p.display()
            ));
        }
    }
    let mut st = store::open(&db).map_err(|e| e.to_string())?;
    let found = st.find_recordings(&a.rec).map_err(|e| e.to_string())?;
    let found: Vec<_> = found
        .into_iter()
        .filter(|(_, h)| a.host.as_deref().is_none_or(|want| want == h))
        .collect();
    let (key, host) = match found.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(match &a.host {
                Some(h) => format!("no recording {} on host {h} in the index {db}", a.rec),
                None => format!("no recording {} in the index {db}", a.rec),
            })
        }
        many => {
            let hosts: Vec<&str> = many.iter().map(|(_, h)| h.as_str()).collect();
            return Err(format!(
                "recording {} exists on several hosts ({}): choose one with --host",
                a.rec,
                hosts.join(", ")
            ));
        }
    };
    let refs = st.messages(key).map_err(|e| e.to_string())?;
    if refs.is_empty() {
        return Err(format!(
            "recording {} on {host}: the index has its session entries but no messages",
            a.rec
        ));
    }
    let name = format!("recording {} on {host}", a.rec);
    // The header facts come from the first message.
    let mut first = MessageLines::new(refs[..1].to_vec(), &config.es);
    let meta = match first.next_line()? {
        Some((_, m)) => Meta::from_message(m),
        None => Meta::default(),
    };
    let kfs = match at {
        Some(_) => st.keyframes(&host, &a.rec).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let start = at.and_then(|ms| keyframe_for(&kfs, ms));
    let Some(k) = start else {
        return Ok(Stored {
            name,
            lead: Vec::new(),
            lines: Box::new(MessageLines::new(refs, &config.es)),
            keyframe_ms: None,
            meta,
        });
    };
    let i = refs.partition_point(|(r, _)| r.id < k.msg_id);
    if refs.get(i).map(|(r, _)| r.id) != Some(k.msg_id) {
        return Err(format!(
            "{name}: keyframe at message id {} but no such message in the index (run `tlog-rs index`)",
            k.msg_id
        ));
    }
    let mut lines = MessageLines::new(refs[i..].to_vec(), &config.es);
    let (_, m) = lines.next_line()?.expect("one ref left at least");
    Ok(Stored {
        name,
        lead: lead_packets(k, &m),
        lines: Box::new(lines),
        keyframe_ms: Some(k.t_ms.max(0) as u64),
        meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_locations_round_trip() {
        for (s, want) in [
            (
                "/srv/central/h1/2026-11-28.jsonl",
                SourceLoc::File("/srv/central/h1/2026-11-28.jsonl".into()),
            ),
            (
                "journal:/var/log/journal/remote",
                SourceLoc::Journal("/var/log/journal/remote".into()),
            ),
            (
                "es:https://es.example.com:9200#tlog-rsyslog",
                SourceLoc::Es {
                    url: "https://es.example.com:9200".into(),
                    index: "tlog-rsyslog".into(),
                    key: None,
                },
            ),
            (
                "es:http://127.0.0.1:9200#tlog#fs1.example.com#abc-1",
                SourceLoc::Es {
                    url: "http://127.0.0.1:9200".into(),
                    index: "tlog".into(),
                    key: Some(("fs1.example.com".into(), "abc-1".into())),
                },
            ),
        ] {
            let got: SourceLoc = s.parse().unwrap();
            assert_eq!(got, want);
            assert_eq!(got.to_string(), s);
        }
        assert!("es:http://x".parse::<SourceLoc>().is_err());
    }

    #[test]
    fn keyframe_choice_and_lead() {
        let kf = |t_ms, msg_id, packet| Keyframe {
            t_ms,
            msg_id,
            packet,
            cols: 100,
            rows: 30,
            screen: b"\x1b[Hscreen".to_vec(),
        };
        let kfs = [kf(1000, 3, 2), kf(5000, 9, 0)];
        assert_eq!(keyframe_for(&kfs, 999), None);
        assert_eq!(keyframe_for(&kfs, 1000).map(|k| k.msg_id), Some(3));
        assert_eq!(keyframe_for(&kfs, 4999).map(|k| k.msg_id), Some(3));
        assert_eq!(keyframe_for(&kfs, 99999).map(|k| k.msg_id), Some(9));
        // Packets: window, output "a" at 0, output "b" at 1000, output "c" at 1200.
        let m = parse_message(br#"{"ver":"2.3","host":"h","rec":"r","user":"u","term":"xterm","session":1,"id":3,"pos":0,"timing":"=80x24>1+1000>1+200>1","in_txt":"","in_bin":[],"out_txt":"abc","out_bin":[]}"#).unwrap();
        let lead = lead_packets(&kfs[0], &m);
        let kinds: Vec<(u64, PacketData)> = lead.into_iter().map(|p| (p.ts, p.data)).collect();
        assert_eq!(
            kinds,
            [
                (
                    1000,
                    PacketData::Window {
                        cols: 100,
                        rows: 30
                    }
                ),
                (1000, PacketData::Output(b"\x1b[Hscreen".to_vec())),
                (1200, PacketData::Output(b"c".to_vec())),
            ]
        );
    }
}
