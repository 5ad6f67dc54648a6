//! Elasticsearch/OpenSearch delivery with the shipped configs
//! (packaging/central/rsyslog-elasticsearch.conf, es-index-template.json),
//! tested against a protocol double (tests/src/es_double.rs): no ES server
//! runs here. A real recording (the recorder's file writer, so its exact
//! bytes are known) is injected line by line into rsyslogd's input as the
//! syslog writer sends it; the double must receive valid typeless NDJSON
//! bulk bodies holding each object unchanged, and the index template must
//! map every key the recorder writes.

use std::collections::BTreeSet;
use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tlog_rs_tests::central::{rsyslogd, shipped, substitute, wait_for};
use tlog_rs_tests::daemons::{send_datagram, TempDir};
use tlog_rs_tests::es_double::{EsDouble, Request};
use tlog_rs_tests::{artifact, require_program, require_root};

/// Text with quotes, backslashes, UTF-8, an escape sequence and a tab.
const SCRIPT: &str = r#"i=0; while [ $i -lt 40 ]; do printf 'row %d "q" back\\slash caf\303\251 \033[1mbold\033[0m\tend\n' $i; i=$((i+1)); done"#;

/// Document-level keys a current ES/OpenSearch mapping may hold.
const MAPPING_KEYS: &[&str] = &["dynamic", "dynamic_templates", "properties", "_source"];
/// Field types that exist in ES 8 and OpenSearch 2.
const FIELD_TYPES: &[&str] = &[
    "keyword", "text", "long", "integer", "short", "double", "date", "boolean", "object",
];

/// (action line, document line) pairs of one bulk request; asserts NDJSON.
fn bulk_pairs(req: &Request) -> Vec<(Value, String)> {
    assert_eq!(req.method, "POST");
    assert_eq!(req.path.split('?').next(), Some("/_bulk"), "{}", req.path);
    let ct = req.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json") || ct.starts_with("application/x-ndjson"),
        "content type {ct}"
    );
    let body = String::from_utf8(req.body.clone()).expect("UTF-8 body");
    assert!(body.ends_with('\n'), "NDJSON ends with a newline");
    let lines: Vec<&str> = body.strip_suffix('\n').unwrap().split('\n').collect();
    assert_eq!(lines.len() % 2, 0, "action and document lines: {body}");
    lines
        .chunks(2)
        .map(|p| {
            let action: Value = serde_json::from_str(p[0]).expect("action line is JSON");
            let _: Value = serde_json::from_str(p[1]).expect("document line is JSON");
            (action, p[1].to_string())
        })
        .collect()
}

#[test]
fn omelasticsearch_sends_typeless_bulk_with_objects_unchanged() {
    if !require_root("omelasticsearch_sends_typeless_bulk_with_objects_unchanged") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let tmp = TempDir::new("central-es");
    let t = tmp.root();

    // A real recording.
    let log = t.join("rec.log");
    let o = Command::new(artifact("tlog-rs-rec"))
        .arg("-o")
        .arg(&log)
        .args(["--payload=256", "--notice=", "sh", "-c", SCRIPT])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let messages: Vec<String> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let events: Vec<String> = fs::read_to_string(t.join("rec.log.events"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(messages.len() >= 5 && events.len() == 2);
    // In the order the syslog writer sends them: start, messages, end.
    let mut sent: Vec<(&str, &String)> = vec![("tlog-rs", &events[0])];
    sent.extend(messages.iter().map(|m| ("tlog", m)));
    sent.push(("tlog-rs", &events[1]));

    let es = EsDouble::start();
    let inc = substitute(
        &shipped("rsyslog-elasticsearch.conf"),
        &[
            ("server=\"es.example.com\"", "server=\"127.0.0.1\""),
            (
                "serverport=\"9200\"",
                &format!("serverport=\"{}\"", es.port()),
            ),
            // the double speaks plain HTTP
            ("usehttps=\"on\"", "usehttps=\"off\""),
            ("tls.cacert=\"/etc/tlog-rs/pki/ca.pem\"", ""),
            (
                "/var/log/tlog-rs-elasticsearch-errors.json",
                &t.join("es-errors.json").display().to_string(),
            ),
        ],
    );
    fs::write(t.join("es.inc"), inc).unwrap();
    fs::create_dir_all(t.join("work")).unwrap();
    let conf = t.join("relay.conf");
    fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{t}/work\" maxMessageSize=\"64k\")\n\
             include(file=\"{t}/es.inc\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{t}/relay.sock\" ruleset=\"tlog_rs_elasticsearch\")\n",
            t = t.display()
        ),
    )
    .unwrap();
    let mut relay = rsyslogd(&conf);
    let sock = t.join("relay.sock");
    wait_for("rsyslogd's socket", Duration::from_secs(30), || {
        sock.exists() || !relay.running()
    });
    assert!(relay.running(), "rsyslogd died: {}", relay.log());
    // Not ours: rsyslog drops it by ident.
    send_datagram(&sock, b"<13>Dec  4 12:00:00 other[7]: {\"ver\":\"2.3\"}").unwrap();
    for (ident, line) in &sent {
        let d = format!("<110>Dec  4 12:00:00 {ident}[4242]: {line}");
        send_datagram(&sock, d.as_bytes()).unwrap();
    }

    let docs = || -> Vec<(Value, String)> {
        es.requests()
            .iter()
            .filter(|r| r.path.starts_with("/_bulk"))
            .flat_map(bulk_pairs)
            .collect()
    };
    wait_for(
        "every line in a bulk request",
        Duration::from_secs(30),
        || docs().len() >= sent.len(),
    );
    relay.stop();
    let got = docs();
    let expected: Vec<String> = sent.iter().map(|(_, l)| l.to_string()).collect();
    let bodies: Vec<String> = got.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(bodies, expected, "each object unchanged, in order, once");
    let mut index_names = BTreeSet::new();
    for (action, _) in &got {
        let o = action.as_object().unwrap();
        assert_eq!(o.len(), 1, "{action}");
        let meta = o["index"].as_object().expect("index action");
        assert_eq!(
            meta.keys().collect::<Vec<_>>(),
            ["_index"],
            "typeless: no _type: {action}"
        );
        index_names.insert(meta["_index"].as_str().unwrap().to_string());
    }
    for name in &index_names {
        let day = name.strip_prefix("tlog-rs-").expect("daily index");
        let b = day.as_bytes();
        assert!(
            b.len() == 10
                && b[4] == b'.'
                && b[7] == b'.'
                && day.replace('.', "").bytes().all(|c| c.is_ascii_digit()),
            "{name}"
        );
    }
    for r in es
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/_bulk"))
    {
        // uid/pwd of the shipped config, as HTTP basic auth
        // ("tlog-rs-writer:CHANGE-ME" in base64)
        assert_eq!(
            r.header("authorization"),
            Some("Basic dGxvZy1ycy13cml0ZXI6Q0hBTkdFLU1F")
        );
    }
    assert!(
        !t.join("es-errors.json").exists(),
        "no bulk errors: {}",
        fs::read_to_string(t.join("es-errors.json")).unwrap_or_default()
    );

    // The template maps every key the recorder wrote, in current syntax.
    let tpl: Value = serde_json::from_str(&shipped("es-index-template.json")).unwrap();
    let patterns: Vec<&str> = tpl["index_patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for name in &index_names {
        assert!(
            patterns
                .iter()
                .any(|p| p.strip_suffix('*').is_some_and(|pre| name.starts_with(pre))),
            "{name} is not matched by {patterns:?}"
        );
    }
    let mappings = tpl["template"]["mappings"].as_object().unwrap();
    for k in mappings.keys() {
        assert!(
            MAPPING_KEYS.contains(&k.as_str()),
            "mapping key {k}: a mapping type or an old option (ES >= 7 has none)"
        );
    }
    let props = mappings["properties"].as_object().unwrap();
    for (field, m) in props {
        let ty = m["type"].as_str().unwrap_or_default();
        assert!(FIELD_TYPES.contains(&ty), "{field}: type {ty:?}");
    }
    for f in ["rec", "host", "user"] {
        assert_eq!(props[f]["type"], "keyword", "{f}");
    }
    for (f, ty) in [("id", "long"), ("out_txt", "text"), ("in_txt", "text")] {
        assert_eq!(props[f]["type"], ty, "{f}");
    }
    for line in &expected {
        let v: Value = serde_json::from_str(line).unwrap();
        for k in v.as_object().unwrap().keys() {
            assert!(props.contains_key(k), "template lacks {k:?} (from {line})");
        }
    }
    let text = shipped("es-index-template.json");
    for old in [
        "not_analyzed",
        "\"type\": \"string\"",
        "_default_",
        "\"_type\"",
    ] {
        assert!(!text.contains(old), "ES 2.x syntax {old} in the template");
    }
}
