//! `tlog-rs index --es`: recordings made by the real recorder, delivered as
//! rsyslog's omelasticsearch does (tlog's JSON with `timestamp` in front),
//! read from a protocol double of Elasticsearch (std only, in this test):
//! point in time, `search_after` pages, basic auth. No `from` may be sent.
//! Then played back from the index, the messages read back from the double.
//! Then `tlog-rs purge` of a recording read from ES: archived from the
//! double's documents, deleted there with `_delete_by_query` on host and
//! rec, a held one kept.
//! Tested against a double, not a real Elasticsearch or OpenSearch.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tlog_rs_tests::rec::TempDir;
use tlog_rs_tests::tlog_rs;
use tlog_rs_tests::{artifact, require_root};

const USER: &str = "tlog-reader";
const PASSWORD: &str = "s3cret:with colon";
const INDEX: &str = "tlog-rsyslog";

#[derive(Default)]
struct Es {
    /// (timestamp ms, document), in delivery order (the tie-breaker).
    docs: Vec<(i64, Value)>,
    pits: HashMap<String, bool>,
    next_pit: u64,
    searches: u64,
    with_search_after: u64,
    /// Protocol violations seen (the test fails on any).
    violations: Vec<String>,
    unauthorized: u64,
    /// Queries of `_delete_by_query` requests.
    deleted_by_query: Vec<Value>,
}

fn b64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The sort key of a document for a sort spec, with the tie-breaker.
fn key(field: &str, i: usize, ts: i64, doc: &Value) -> (i64, i64) {
    let v = match field {
        "timestamp" => ts,
        _ => doc[field].as_i64().unwrap_or(i64::MAX),
    };
    (v, i as i64)
}

fn matches(q: &Value, ts: i64, doc: &Value) -> bool {
    if q.get("match_all").is_some() {
        return true;
    }
    if let Some(r) = q.get("range") {
        let (field, spec) = r.as_object().unwrap().iter().next().unwrap();
        let v = if field == "timestamp" {
            ts
        } else {
            doc[field].as_i64().unwrap_or(i64::MIN)
        };
        return v >= spec["gte"].as_i64().unwrap();
    }
    if let Some(t) = q.get("term") {
        let (field, want) = t.as_object().unwrap().iter().next().unwrap();
        return &doc[field] == want;
    }
    if let Some(f) = q.pointer("/bool/filter") {
        return f.as_array().unwrap().iter().all(|c| matches(c, ts, doc));
    }
    panic!("query the double does not know: {q}");
}

fn search(es: &mut Es, body: &Value) -> Result<Value, String> {
    es.searches += 1;
    for banned in ["from", "scroll"] {
        if body.get(banned).is_some() {
            return Err(format!("{banned} sent: {body}"));
        }
    }
    let size = body["size"].as_u64().ok_or("no size")? as usize;
    if size > 10_000 {
        return Err(format!("size {size} above max_result_window"));
    }
    let pit = body
        .pointer("/pit/id")
        .and_then(Value::as_str)
        .ok_or("no pit")?;
    if es.pits.get(pit) != Some(&true) {
        return Err(format!("unknown or closed pit {pit}"));
    }
    let sort = body["sort"].as_array().ok_or("no sort")?;
    let field = sort[0].as_object().unwrap().keys().next().unwrap().clone();
    let after = match body.get("search_after") {
        Some(a) => {
            es.with_search_after += 1;
            let a = a.as_array().ok_or("search_after not an array")?;
            Some((
                a[0].as_i64().unwrap(),
                a[1].as_i64().ok_or("no tie-breaker")?,
            ))
        }
        None => None,
    };
    let mut hits: Vec<((i64, i64), &Value)> = es
        .docs
        .iter()
        .enumerate()
        .filter(|(_, (ts, d))| matches(&body["query"], *ts, d))
        .map(|(i, (ts, d))| (key(&field, i, *ts, d), d))
        .filter(|(k, _)| after.is_none_or(|a| *k > a))
        .collect();
    hits.sort_by_key(|(k, _)| *k);
    hits.truncate(size);
    let hits: Vec<Value> = hits
        .into_iter()
        .map(|(k, d)| json!({"_index": INDEX, "_id": format!("doc{}", k.1), "_source": d, "sort": [k.0, k.1]}))
        .collect();
    Ok(json!({"pit_id": pit, "took": 1, "timed_out": false, "hits": {"hits": hits}}))
}

fn handle(
    es: &Mutex<Es>,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let mut es = es.lock().unwrap();
    let want = format!("Basic {}", b64(format!("{USER}:{PASSWORD}").as_bytes()));
    if auth != Some(want.as_str()) {
        es.unauthorized += 1;
        return (
            401,
            json!({"error": {"type": "security_exception", "reason": "unable to authenticate user"}, "status": 401}),
        );
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return (400, json!({"error": {"reason": e.to_string()}})),
        }
    };
    let (route, _query) = path.split_once('?').unwrap_or((path, ""));
    match (method, route) {
        ("POST", r) if r == format!("/{INDEX}/_pit") => {
            es.next_pit += 1;
            let id = format!("pit-{}", es.next_pit);
            es.pits.insert(id.clone(), true);
            (200, json!({"id": id}))
        }
        ("POST", "/_search") => match search(&mut es, &body) {
            Ok(v) => (200, v),
            Err(e) => {
                es.violations.push(e.clone());
                (400, json!({"error": {"reason": e}}))
            }
        },
        // Retention (tlog-rs purge): delete by query, as ES answers it.
        ("POST", r) if r == format!("/{INDEX}/_delete_by_query") => {
            let before = es.docs.len();
            let q = body["query"].clone();
            es.docs.retain(|(ts, d)| !matches(&q, *ts, d));
            es.deleted_by_query.push(q);
            let n = before - es.docs.len();
            (
                200,
                json!({"took": 1, "timed_out": false, "total": n, "deleted": n, "failures": []}),
            )
        }
        ("DELETE", "/_pit") => {
            let id = body["id"].as_str().unwrap_or("").to_string();
            es.pits.insert(id, false);
            (200, json!({"succeeded": true, "num_freed": 1}))
        }
        _ => {
            es.violations.push(format!("unexpected {method} {path}"));
            (404, json!({"error": {"reason": "no handler"}}))
        }
    }
}

fn serve(conn: TcpStream, es: Arc<Mutex<Es>>) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let (mut len, mut auth) = (0usize, None);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap(),
                "authorization" => auth = Some(v.trim().to_string()),
                "transfer-encoding" => panic!("chunked request to the double"),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let (status, v) = handle(&es, &method, &path, auth.as_deref(), &body);
        let text = v.to_string();
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn start_double() -> (String, Arc<Mutex<Es>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let es = Arc::new(Mutex::new(Es::default()));
    let es2 = es.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let es = es2.clone();
            std::thread::spawn(move || serve(c, es));
        }
    });
    (url, es)
}

fn count(stats: &str, what: &str) -> u64 {
    stats
        .split(what)
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {what:?} count in {stats}"))
}

/// A recording of `script` (pipe mode, small messages): (rec, log, lines
/// in delivery order: start entry, messages, end entry).
fn record(dir: &TempDir, name: &str, script: &str) -> (String, std::path::PathBuf, Vec<String>) {
    let log = dir.path(name);
    let o = Command::new(artifact("tlog-rs-rec"))
        .args([
            "--payload=256",
            "--notice=",
            "-o",
            log.to_str().unwrap(),
            "sh",
            "-c",
            script,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let msgs: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let events: Vec<String> = std::fs::read_to_string(format!("{}.events", log.display()))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let rec = serde_json::from_str::<Value>(&msgs[0]).unwrap()["rec"]
        .as_str()
        .unwrap()
        .to_string();
    let mut all = vec![events[0].clone()];
    all.extend(msgs);
    all.extend(events[1..].iter().cloned());
    (rec, log, all)
}

/// Deliver lines as rsyslog's tlog template does: `timestamp` first.
fn deliver(es: &Mutex<Es>, lines: &[String], first_ms: i64) {
    let mut es = es.lock().unwrap();
    for (i, l) in lines.iter().enumerate() {
        let ms = first_ms + i as i64 * 7;
        let body = l.strip_prefix('{').unwrap();
        let doc = format!(
            "{{\"timestamp\":\"{}.{:03}+00:00\",{body}",
            ms / 1000,
            ms % 1000
        );
        es.docs.push((ms, serde_json::from_str(&doc).unwrap()));
    }
}

#[test]
fn es_source_pages_with_pit_and_search_after_and_plays_back() {
    if !require_root("central_es") {
        return;
    }
    let dir = TempDir::new("central-es");
    let (url, es) = start_double();
    let (rec_a, log_a, lines_a) = record(&dir, "a.log", "echo first; seq 1 30000");
    let n_a = lines_a.len() as u64 - 2;
    assert!(n_a > 600, "several pages of 500: {n_a}");
    deliver(&es, &lines_a, 1_796_000_000_000);
    let pw = dir.write("pw", format!("{PASSWORD}\n").as_bytes());
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let db = dir.path("index.db");
    let (db_s, pw_s) = (db.to_str().unwrap(), pw.to_str().unwrap());
    let base = [
        "index",
        "--db",
        db_s,
        "--es",
        &url,
        "--es-index",
        INDEX,
        "--es-user",
        USER,
        "--es-password-file",
        pw_s,
        "--stats",
    ];
    let run = || {
        let o = tlog_rs(&base);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            err,
        )
    };
    let (code, stats, err) = run();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(count(&stats, " new messages"), n_a, "{stats}");
    assert_eq!(count(&stats, " events"), 2, "{stats}");
    {
        let es = es.lock().unwrap();
        assert!(es.violations.is_empty(), "{:?}", es.violations);
        assert!(
            es.with_search_after >= 2,
            "pages after the first use search_after"
        );
        assert!(es.pits.values().all(|open| !open), "PITs closed");
    }

    // Nothing new: a second run adds nothing (it re-reads the last minute,
    // recognised as duplicates).
    let (code, stats, err) = run();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(count(&stats, " new messages"), 0, "{stats}");

    // A second recording delivered later, and one duplicate delivery of an
    // old message: only the new recording is added.
    let (rec_b, _, lines_b) = record(&dir, "b.log", "echo second; seq 1 100");
    deliver(&es, &lines_b, 1_796_000_600_000);
    deliver(&es, &lines_a[5..6], 1_796_000_700_000);
    let (code, stats, err) = run();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        count(&stats, " new messages"),
        lines_b.len() as u64 - 2,
        "{stats}"
    );
    assert!(count(&stats, " duplicates") >= 1, "{stats}");
    let o = tlog_rs(&["search", "--db", db_s, "--text", "second", "--json"]);
    let hits: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(hits[0]["rec"], rec_b.as_str());
    assert_eq!(hits[0]["state"], "complete");

    // Played back from the index: the messages come from the double, with
    // the credentials of the central config's [[sources.es]].
    let conf = dir.write(
        "central.toml",
        format!(
            "db = \"{db_s}\"\n[[sources.es]]\nurl = \"{url}\"\nindex = \"{INDEX}\"\nuser = \"{USER}\"\npassword_file = \"{pw_s}\"\n"
        )
        .as_bytes(),
    );
    let want = tlog_rs(&["export", "--format", "asciicast", log_a.to_str().unwrap()]);
    let got = tlog_rs(&[
        "export",
        "--format",
        "asciicast",
        "--config",
        conf.to_str().unwrap(),
        &rec_a,
    ]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(want.stdout.len() > 100_000);
    assert!(
        got.stdout == want.stdout,
        "export from ES differs from the file's"
    );
    // Without the credentials the double refuses, and play says why.
    let o = tlog_rs(&["export", "--format", "asciicast", "--db", db_s, &rec_a]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Wrong password, a password file others can read, a missing CA file:
    // reported, nothing indexed, never a crash.
    let bad = dir.write("bad", b"nope\n");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = tlog_rs(&[
        "index",
        "--db",
        db_s,
        "--es",
        &url,
        "--es-index",
        INDEX,
        "--es-user",
        USER,
        "--es-password-file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("wrong user or password"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = tlog_rs(&[
        "index",
        "--db",
        db_s,
        "--es",
        &url,
        "--es-index",
        INDEX,
        "--es-user",
        USER,
        "--es-password-file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("readable by others"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = tlog_rs(&[
        "index",
        "--db",
        db_s,
        "--es",
        &url,
        "--es-index",
        INDEX,
        "--es-ca",
        "/nonexistent/ca.pem",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/nonexistent/ca.pem"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(es.lock().unwrap().violations.is_empty());
}

#[test]
fn es_purge_archives_and_deletes_by_rec_and_keeps_held() {
    if !require_root("central_es") {
        return;
    }
    let dir = TempDir::new("central-es-purge");
    let (url, es) = start_double();
    let (rec_a, _, lines_a) = record(&dir, "a.log", "echo gone; seq 1 50");
    let (rec_b, _, lines_b) = record(&dir, "b.log", "echo held; seq 1 50");
    deliver(&es, &lines_a, 1_796_000_000_000);
    deliver(&es, &lines_b, 1_796_000_100_000);
    let pw = dir.write("pw", format!("{PASSWORD}\n").as_bytes());
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let archive = dir.path("archive");
    let conf = dir.write(
        "central.toml",
        format!(
            "db = \"{}\"\n[[sources.es]]\nurl = \"{url}\"\nindex = \"{INDEX}\"\nuser = \"{USER}\"\npassword_file = \"{}\"\n[retention]\ndefault_max_age = \"0m\"\narchive_dir = \"{}\"\n",
            dir.path("index.db").display(),
            pw.display(),
            archive.display()
        )
        .as_bytes(),
    );
    let c = conf.to_str().unwrap();
    let ok = |args: &[&str]| {
        let o = tlog_rs(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(&["index", "--config", c, "--quiet"]);
    ok(&["hold", &rec_b, "--config", c]);
    let host = serde_json::from_str::<Value>(&lines_a[1]).unwrap()["host"]
        .as_str()
        .unwrap()
        .to_string();
    let out = ok(&["purge", "--config", c]);
    assert!(out.contains(&format!("purged {host} {rec_a}")), "{out}");
    assert!(
        out.contains(&format!(
            "{} documents deleted from Elasticsearch index {INDEX}",
            lines_a.len()
        )),
        "the messages and both session entries: {out}"
    );
    assert!(
        out.contains(&format!("kept {host} {rec_b}: legal hold")),
        "{out}"
    );
    {
        let es = es.lock().unwrap();
        assert!(es.violations.is_empty(), "{:?}", es.violations);
        assert_eq!(es.deleted_by_query.len(), 1);
        let filter = es.deleted_by_query[0].pointer("/bool/filter").unwrap();
        assert!(filter
            .as_array()
            .unwrap()
            .contains(&json!({"term": {"rec": rec_a}})));
        assert!(filter
            .as_array()
            .unwrap()
            .contains(&json!({"term": {"host": host}})));
        assert!(es.docs.iter().all(|(_, d)| d["rec"] != rec_a.as_str()));
        assert_eq!(
            es.docs
                .iter()
                .filter(|(_, d)| d["rec"] == rec_b.as_str())
                .count(),
            lines_b.len()
        );
    }
    // The archive: the recording's messages as the documents held them
    // (the recorder's fields, plus rsyslog's timestamp).
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(archive.join(&host).join(format!("{rec_a}.jsonl.gz"))).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let got: Vec<Value> = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("timestamp");
            v
        })
        .collect();
    let want: Vec<Value> = lines_a[1..lines_a.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got, want);
    let found = ok(&["search", "--config", c, "--json"]);
    assert!(!found.contains(&rec_a) && found.contains(&rec_b), "{found}");
}
