//! A protocol double of Elasticsearch/OpenSearch for delivery tests: an
//! HTTP/1.1 server on loopback (std only, keep-alive, `Expect:
//! 100-continue`, Content-Length or chunked bodies) that answers `GET /` like
//! ES 8, `POST /_bulk` with a bulk response reporting every item created,
//! anything else with `{}`, and records every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct EsDouble {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl EsDouble {
    pub fn start() -> EsDouble {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = l.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(vec![]));
        let r = requests.clone();
        // Threads end with the test process; connections are few.
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let r = r.clone();
                std::thread::spawn(move || serve(s, r));
            }
        });
        EsDouble { port, requests }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(s: TcpStream, log: Arc<Mutex<Vec<Request>>>) {
    let mut w = s.try_clone().expect("clone stream");
    let mut r = BufReader::new(s);
    while let Some(req) = read_request(&mut r, &mut w) {
        let body = if req.method == "GET" && req.path == "/" {
            r#"{"name":"double","cluster_name":"tlog-rs-test","version":{"number":"8.11.0","build_flavor":"default"},"tagline":"You Know, for Search"}"#.to_string()
        } else if req.method == "POST" && req.path.starts_with("/_bulk") {
            bulk_response(&req.body)
        } else {
            "{}".to_string()
        };
        log.lock().unwrap().push(req);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if w.write_all(head.as_bytes()).is_err() || w.write_all(body.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_line(r: &mut impl BufRead) -> Option<String> {
    let mut l = String::new();
    match r.read_line(&mut l) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(l.trim_end_matches(['\r', '\n']).to_string()),
    }
}

fn read_request(r: &mut BufReader<TcpStream>, w: &mut TcpStream) -> Option<Request> {
    let line = read_line(r)?;
    let mut parts = line.split(' ');
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = vec![];
    loop {
        let h = read_line(r)?;
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let mut body = vec![];
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let size = usize::from_str_radix(read_line(r)?.split(';').next()?.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = get("content-length") {
        body = vec![0; n.parse().ok()?];
        r.read_exact(&mut body).ok()?;
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// `{"errors":false,"items":[...]}` with one created item per action line.
fn bulk_response(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut items = vec![];
    let mut lines = text.lines().filter(|l| !l.is_empty());
    while let Some(action) = lines.next() {
        let v: serde_json::Value = serde_json::from_str(action).unwrap_or_default();
        let (op, meta) = v
            .as_object()
            .and_then(|o| o.iter().next())
            .map(|(k, m)| (k.clone(), m.clone()))
            .unwrap_or_else(|| ("index".into(), serde_json::Value::Null));
        if op != "delete" {
            lines.next();
        }
        let n = items.len() + 1;
        let mut item = serde_json::Map::new();
        item.insert(
            op,
            serde_json::json!({
                "_index": meta["_index"], "_id": format!("double-{n}"), "_version": 1,
                "result": "created", "status": 201
            }),
        );
        items.push(serde_json::Value::Object(item));
    }
    serde_json::json!({ "took": 1, "errors": false, "items": items }).to_string()
}
