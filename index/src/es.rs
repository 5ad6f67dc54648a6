//! Elasticsearch/OpenSearch stores (`tlog-rs index --es URL --es-index
//! NAME`): the documents rsyslog's omelasticsearch wrote (tlog's JSON with
//! a `timestamp`, the relay's receive time, in front), read in pages with
//! a point in time (PIT) and `search_after`, never `from`/`size` (capped at
//! 10,000 hits by `index.max_result_window`, and unstable while indexing).
//!
//! Cursor: the `timestamp` sort value of the last document read. The next
//! run starts [`REREAD_MS`] before it, so documents that became searchable
//! late (bulk queues, refresh interval) are not missed; what is read twice
//! is recognised as a duplicate by (host, rec, id). `timestamp` must be the
//! relay's receive time (tlog's rsyslog template adds it): the records' own
//! times cannot be a cursor, since a host's queue may deliver an hour-old
//! record after newer ones. Documents without it are read on every run
//! (and said so).
//!
//! Reading a message back (`play --db`): the index keeps no copy; the
//! recording's documents are fetched by `host` and `rec` (keyword terms),
//! sorted by `id`, paged with `search_after`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tlog_rs_format::parse_message;

use crate::ingest::message_hash;
use crate::recording::SourceLoc;
use crate::store::MessageRef;

/// Documents per page.
pub const PAGE: usize = 500;
/// How far before the saved cursor a run starts again.
pub const REREAD_MS: i64 = 60_000;
const KEEP_ALIVE: &str = "2m";
const TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response read (a page of 500 messages of a few KiB).
const MAX_BODY: u64 = 256 << 20;

/// An ES/OpenSearch index and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EsSource {
    /// Base URL, e.g. `https://es.example.com:9200`.
    pub url: String,
    pub index: String,
    /// Basic auth: user name, and a file holding the password (first line).
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA(s) that sign the server's certificate; without
    /// it, Mozilla's roots (webpki-roots).
    pub ca_file: Option<PathBuf>,
}

impl EsSource {
    /// The base URL as kept in the index.
    pub fn loc_url(&self) -> String {
        self.url.trim_end_matches('/').to_string()
    }

    pub fn loc(&self) -> SourceLoc {
        SourceLoc::Es {
            url: self.loc_url(),
            index: self.index.clone(),
            key: None,
        }
    }
}

pub struct Hit {
    pub id: String,
    pub source: Value,
    pub sort: Value,
}

/// The `timestamp` sort value of a hit, if it is a real one (a document
/// without `timestamp` sorts with a sentinel at the end).
pub fn hit_time(h: &Hit) -> Option<i64> {
    h.sort
        .get(0)
        .and_then(Value::as_i64)
        .filter(|t| t.unsigned_abs() < 1 << 52)
}

pub struct EsClient {
    agent: ureq::Agent,
    base: String,
    index: String,
    auth: Option<String>,
    /// OpenSearch names its PIT API differently; set after ES's 404.
    opensearch: bool,
}

fn read_password(p: &Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{}: password file readable by others (mode {:o}); chmod 600 it",
            p.display(),
            meta.mode() & 0o777
        ));
    }
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let pw = text.lines().next().unwrap_or("").to_string();
    if pw.is_empty() {
        return Err(format!("{}: empty password file", p.display()));
    }
    Ok(pw)
}

fn load_ca(p: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("{}: {e}", p.display())),
        }
    }
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", p.display()));
    }
    Ok(certs)
}

impl EsClient {
    pub fn new(src: &EsSource) -> Result<Self, String> {
        let base = src.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!("--es {base:?}: an http:// or https:// URL"));
        }
        // Names, aliases, patterns and lists (`tlog-rs-*`) are all fine
        // for a PIT; nothing that would change the URL.
        if src.index.is_empty() || src.index.contains(['/', '?', '#', ' ', '&', '%']) {
            return Err(format!(
                "--es-index {:?}: an index name, alias or pattern (tlog-rs-*)",
                src.index
            ));
        }
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT));
        if let Some(ca) = &src.ca_file {
            let certs = load_ca(ca)?;
            cfg = cfg.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                    .build(),
            );
        }
        let auth = match (&src.user, &src.password_file) {
            (Some(u), Some(p)) => {
                use base64::Engine;
                let pw = read_password(p)?;
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{pw}"));
                Some(format!("Basic {token}"))
            }
            (None, None) => None,
            _ => return Err("--es-user and --es-password-file go together".into()),
        };
        Ok(EsClient {
            agent: cfg.build().into(),
            base,
            index: src.index.clone(),
            auth,
            opensearch: false,
        })
    }

    /// A request with a JSON body; the parsed answer, or the server's
    /// error with its status.
    fn call(&self, method: &str, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "POST" => self.agent.post(&url),
            _ => self.agent.delete(&url).force_send_body(),
        };
        let req = req.header("Content-Type", "application/json");
        let req = match &self.auth {
            Some(a) => req.header("Authorization", a),
            None => req,
        };
        let resp = if body.is_null() {
            req.send_empty()
        } else {
            req.send(body.to_string())
        }
        .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .into_body()
            .into_with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|e| format!("{method} {url}: HTTP {status}, not JSON: {e}"))?
        };
        Ok((status, v))
    }

    fn ok(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        let (status, v) = self.call(method, path, body)?;
        if (200..300).contains(&status) {
            return Ok(v);
        }
        let reason = v
            .pointer("/error/reason")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| v.to_string());
        Err(match status {
            401 => format!(
                "{}{path}: HTTP 401: wrong user or password ({reason})",
                self.base
            ),
            403 => format!(
                "{}{path}: HTTP 403: the user may not read index {} ({reason})",
                self.base, self.index
            ),
            _ => format!("{}{path}: HTTP {status}: {reason}", self.base),
        })
    }

    /// Retention: delete every document of recording (host, rec); the
    /// number deleted.
    pub fn delete_recording(&self, host: &str, rec: &str) -> Result<u64, String> {
        let path = format!(
            "/{}/_delete_by_query?refresh=true&conflicts=proceed",
            self.index
        );
        let body = json!({ "query": { "bool": { "filter": [
            { "term": { "host": host } },
            { "term": { "rec": rec } },
        ] } } });
        let v = self.ok("POST", &path, &body)?;
        Ok(v.get("deleted").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Open a point in time on the index (ES 7.10+, or OpenSearch 2.4+).
    pub fn open_pit(&mut self) -> Result<String, String> {
        let es = format!("/{}/_pit?keep_alive={KEEP_ALIVE}", self.index);
        let (status, v) = self.call("POST", &es, &Value::Null)?;
        if (200..300).contains(&status) {
            if let Some(id) = v.get("id").and_then(Value::as_str) {
                return Ok(id.to_string());
            }
        }
        if status == 404 || status == 400 {
            let os = format!(
                "/{}/_search/point_in_time?keep_alive={KEEP_ALIVE}",
                self.index
            );
            if let Ok(v) = self.ok("POST", &os, &Value::Null) {
                if let Some(id) = v.get("pit_id").and_then(Value::as_str) {
                    self.opensearch = true;
                    return Ok(id.to_string());
                }
            }
        }
        self.ok("POST", &es, &Value::Null)?;
        Err(format!("{}{es}: no PIT id in the answer", self.base))
    }

    pub fn close_pit(&self, id: &str) {
        // Best effort: an unclosed PIT expires after KEEP_ALIVE.
        let _ = if self.opensearch {
            self.call(
                "DELETE",
                "/_search/point_in_time",
                &json!({ "pit_id": [id] }),
            )
        } else {
            self.call("DELETE", "/_pit", &json!({ "id": id }))
        };
    }

    /// One page: the hits (`_id`, `_source`, `sort`) and the PIT id to go
    /// on with.
    pub fn page(
        &self,
        pit: &str,
        query: &Value,
        sort: &Value,
        after: Option<&Value>,
    ) -> Result<(Vec<Hit>, String), String> {
        let mut body = json!({
            "size": PAGE,
            "query": query,
            "sort": sort,
            "pit": { "id": pit, "keep_alive": KEEP_ALIVE },
            "track_total_hits": false,
        });
        if let Some(a) = after {
            body["search_after"] = a.clone();
        }
        let v = self.ok("POST", "/_search", &body)?;
        let next_pit = v
            .get("pit_id")
            .and_then(Value::as_str)
            .unwrap_or(pit)
            .to_string();
        let hits = v
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{}/_search: no hits.hits in the answer", self.base))?;
        let out = hits
            .iter()
            .map(|h| Hit {
                id: h
                    .get("_id")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                source: h.get("_source").cloned().unwrap_or(Value::Null),
                sort: h.get("sort").cloned().unwrap_or(Value::Null),
            })
            .collect();
        Ok((out, next_pit))
    }
}

/// The documents a run reads: everything from `REREAD_MS` before the
/// cursor (a `timestamp` in epoch ms), in timestamp order.
pub fn ingest_query(cursor: Option<i64>) -> (Value, Value) {
    let query = match cursor {
        Some(ms) => {
            json!({ "range": { "timestamp": { "gte": ms - REREAD_MS, "format": "epoch_millis" } } })
        }
        None => json!({ "match_all": {} }),
    };
    // The PIT adds its own tie-breaker (_shard_doc) to the sort values.
    let sort = json!([{ "timestamp": { "order": "asc", "unmapped_type": "date" } }]);
    (query, sort)
}

/// A document as the line `ingest` classifies: the tlog message or tlog-rs
/// event as delivered (rsyslog's `timestamp` is ignored like any extra key).
pub fn document_line(src: &Value) -> Vec<u8> {
    src.to_string().into_bytes()
}

/// Reads indexed messages back from ES: the recording's documents by id.
pub struct EsMessageSource {
    client: Result<EsClient, String>,
    /// Hash of a wanted message → its line, once fetched.
    found: HashMap<u64, Vec<u8>>,
    wanted: Vec<MessageRef>,
    /// (host, rec) of the wanted messages, learnt from the first fetched.
    key: Option<(String, String)>,
    loaded: bool,
}

impl EsMessageSource {
    pub fn new(src: &EsSource, wanted: Vec<MessageRef>, key: Option<(String, String)>) -> Self {
        EsMessageSource {
            client: EsClient::new(src),
            found: HashMap::new(),
            wanted,
            key,
            loaded: false,
        }
    }

    fn load(&mut self) -> Result<(), String> {
        let client = self.client.as_mut().map_err(|e| e.clone())?;
        let Some((host, rec)) = self.key.clone() else {
            return Err("reading from Elasticsearch needs the recording's host and rec".into());
        };
        let want: HashMap<u64, ()> = self.wanted.iter().map(|r| (r.hash, ())).collect();
        let first = self.wanted.iter().map(|r| r.id).min().unwrap_or(1);
        let query = json!({ "bool": { "filter": [
            { "term": { "host": host } },
            { "term": { "rec": rec } },
            { "range": { "id": { "gte": first } } },
        ] } });
        let sort = json!([{ "id": { "order": "asc" } }]);
        let mut pit = client.open_pit()?;
        let mut after: Option<Value> = None;
        let res = loop {
            let (hits, next) = match client.page(&pit, &query, &sort, after.as_ref()) {
                Ok(p) => p,
                Err(e) => break Err(e),
            };
            pit = next;
            let Some(last) = hits.last() else {
                break Ok(());
            };
            after = Some(last.sort.clone());
            for h in &hits {
                let line = document_line(&h.source);
                if let Ok(m) = parse_message(&line) {
                    let h = message_hash(&m);
                    if want.contains_key(&h) {
                        self.found.entry(h).or_insert(line);
                    }
                }
            }
            if hits.len() < PAGE {
                break Ok(());
            }
        };
        client.close_pit(&pit);
        res
    }
}

impl crate::recording::MessageSource for EsMessageSource {
    fn line(&mut self, r: &MessageRef) -> Result<Vec<u8>, String> {
        if !self.loaded {
            self.loaded = true;
            self.load()?;
        }
        self.found.remove(&r.hash).ok_or_else(|| {
            format!(
                "Elasticsearch: message id {} is no longer in the index (deleted by retention?)",
                r.id
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_query_rereads_before_the_cursor_and_never_pages_by_from() {
        let (q, s) = ingest_query(Some(1_000_000));
        assert_eq!(q["range"]["timestamp"]["gte"], 940_000);
        assert_eq!(s[0]["timestamp"]["order"], "asc");
        let (q, _) = ingest_query(None);
        assert!(q.get("match_all").is_some());
    }

    #[test]
    fn bad_settings_are_refused() {
        let s = |url: &str, index: &str| EsSource {
            url: url.into(),
            index: index.into(),
            ..EsSource::default()
        };
        assert!(EsClient::new(&s("es.example.com:9200", "tlog")).is_err());
        assert!(EsClient::new(&s("http://x:9200", "a/b")).is_err());
        assert!(EsClient::new(&s("http://x:9200", "a&b")).is_err());
        assert!(EsClient::new(&s("http://x:9200", "tlog-rs-*")).is_ok());
        assert!(EsClient::new(&s("http://x:9200", "")).is_err());
        let mut one = s("http://x:9200", "tlog");
        one.user = Some("u".into());
        let e = EsClient::new(&one).err().unwrap();
        assert!(e.contains("go together"), "{e}");
        assert_eq!(
            s("http://x:9200/", "tlog").loc().to_string(),
            "es:http://x:9200#tlog"
        );
    }
}
