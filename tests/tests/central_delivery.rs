//! Delivery to the central store with the shipped rsyslog configs
//! (packaging/central/rsyslog-{client,central}.conf): the real recorder's
//! syslog writer -> client rsyslogd (imuxsock) -> RELP with mutual TLS ->
//! two central rsyslogd on loopback writing `<dir>/<host>/<yyyy-mm-dd>.jsonl`.
//! The primary crashes mid-stream and comes back; `tlog-rs index` over both
//! central directories then holds every message exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tlog_rs_tests::central::{
    free_port, jsonl_lines, listening, rsyslogd, shipped, substitute, wait_for, Daemon, Pki,
};
use tlog_rs_tests::daemons::{with_private_dev_log, TempDir};
use tlog_rs_tests::{artifact, require_program, require_root};

const WAIT: Duration = Duration::from_secs(30);

/// A central rsyslogd from the shipped config: RELP/TLS on `port`, files
/// under `out`, accepting the client names in `permitted`.
fn central_conf(t: &Path, name: &str, pki: &Pki, port: u16, permitted: &str) -> PathBuf {
    let out = t.join(name);
    let work = t.join(format!("{name}-work"));
    fs::create_dir_all(&work).unwrap();
    let inc = substitute(
        &shipped("rsyslog-central.conf"),
        &[
            ("/var/log/tlog-rs-central/", &format!("{}/", out.display())),
            (
                "port=\"2514\"",
                &format!("address=\"127.0.0.1\" port=\"{port}\""),
            ),
            ("\"/etc/tlog-rs/pki/ca.pem\"", &format!("{:?}", pki.ca())),
            (
                "\"/etc/tlog-rs/pki/central.pem\"",
                &format!("{:?}", pki.cert(name)),
            ),
            (
                "\"/etc/tlog-rs/pki/central.key\"",
                &format!("{:?}", pki.key(name)),
            ),
            ("[\"*.example.com\"]", &format!("[\"{permitted}\"]")),
        ],
    );
    fs::write(t.join(format!("{name}.inc")), inc).unwrap();
    let conf = t.join(format!("{name}.conf"));
    fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{}\" maxMessageSize=\"64k\")\ninclude(file=\"{}/{name}.inc\")\n",
            work.display(),
            t.display()
        ),
    )
    .unwrap();
    conf
}

/// A client rsyslogd from the shipped config, reading its own socket
/// `<name>.sock` (never /dev/log), forwarding to `ports` (primary,
/// secondary) as `cert_name` from `pki`.
fn client_conf(
    t: &Path,
    file: &str,
    name: &str,
    pki: &Pki,
    cert_name: &str,
    ports: [u16; 2],
) -> PathBuf {
    let work = t.join(format!("{name}-work"));
    fs::create_dir_all(&work).unwrap();
    let inc = substitute(
        &shipped(file),
        &[
            (
                "target=\"central1.example.com\" port=\"2514\"",
                &format!("target=\"127.0.0.1\" port=\"{}\"", ports[0]),
            ),
            (
                "target=\"central2.example.com\" port=\"2514\"",
                &format!("target=\"127.0.0.1\" port=\"{}\"", ports[1]),
            ),
            ("[\"central1.example.com\"]", "[\"central1\"]"),
            ("[\"central2.example.com\"]", "[\"central2\"]"),
            ("\"/etc/tlog-rs/pki/ca.pem\"", &format!("{:?}", pki.ca())),
            (
                "\"/etc/tlog-rs/pki/host.pem\"",
                &format!("{:?}", pki.cert(cert_name)),
            ),
            (
                "\"/etc/tlog-rs/pki/host.key\"",
                &format!("{:?}", pki.key(cert_name)),
            ),
        ],
    );
    fs::write(t.join(format!("{name}.inc")), inc).unwrap();
    let conf = t.join(format!("{name}.conf"));
    fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{w}\" maxMessageSize=\"64k\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{t}/{name}.sock\")\n\
             include(file=\"{t}/{name}.inc\")\n",
            w = work.display(),
            t = t.display()
        ),
    )
    .unwrap();
    conf
}

fn start_central(conf: &Path, port: u16) -> Daemon {
    let mut d = rsyslogd(conf);
    wait_for(&format!("central rsyslogd on port {port}"), WAIT, || {
        listening(port) || !d.running()
    });
    assert!(d.running(), "central rsyslogd died: {}", d.log());
    d
}

fn start_client(conf: &Path) -> Daemon {
    let sock = conf.with_extension("sock");
    let mut d = rsyslogd(conf);
    wait_for("client rsyslogd's socket", WAIT, || {
        sock.exists() || !d.running()
    });
    assert!(d.running(), "client rsyslogd died: {}", d.log());
    d
}

/// Parsed lines of a central directory; each line must be exactly one JSON
/// object, a tlog message (`ver`) or a session entry (`event`).
fn objects(dir: &Path) -> Vec<Value> {
    jsonl_lines(dir)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {l:?}"));
            assert!(
                v.get("ver").is_some() != v.get("event").is_some(),
                "neither a message nor an entry: {l}"
            );
            v
        })
        .collect()
}

fn tlog_rs(args: &[&str]) -> std::process::Output {
    Command::new(artifact("tlog-rs"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// What a delivery run left on the two central servers.
struct Delivered {
    t: PathBuf,
    dirs: [PathBuf; 2],
    /// Every line of both servers, parsed.
    objs: Vec<Value>,
    end: Value,
    /// Message ids below the end entry's count that reached neither server.
    missing: Vec<u64>,
}

/// Two centrals and a client using `client_file` (rsyslog-client*.conf);
/// the real recorder streams through it; the primary is killed (SIGKILL)
/// after its first messages, comes back once the secondary has taken some,
/// and the stream ends once the primary receives again. Returns when the
/// end entry has reached `end_on` of the servers (its queue order puts
/// every earlier message ahead of it).
fn deliver(tmp: &TempDir, client_file: &str, end_on: usize) -> Delivered {
    let t = tmp.root();
    let pki = Pki::new(&t.join("pki"), &["central1", "central2", "client1"]);
    let ports = [free_port(), free_port()];
    let c1 = central_conf(t, "central1", &pki, ports[0], "client1");
    let c2 = central_conf(t, "central2", &pki, ports[1], "client1");
    let mut primary = start_central(&c1, ports[0]);
    let _secondary = start_central(&c2, ports[1]);
    let client_c = client_conf(t, client_file, "client", &pki, "client1", ports);
    let client = start_client(&client_c);

    // The recorder's output runs until the test says stop.
    let stop = t.join("STOP");
    let script = format!(
        "i=0; while [ ! -e '{}' ]; do echo \"line $i of the stream\"; i=$((i+1)); sleep 0.02; done",
        stop.display()
    );
    let scratch = TempDir::new("central-relp-ns");
    let mut rec = with_private_dev_log(
        scratch.root(),
        Some(&client_c.with_extension("sock")),
        true,
        artifact("tlog-rs-rec"),
    )
    .args(["-w", "syslog", "--latency=1", "--payload=256", "--notice="])
    .args(["sh", "-c", &script])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    let (d1, d2) = (t.join("central1"), t.join("central2"));
    let count = |d: &Path| jsonl_lines(d).len();
    wait_for("the primary to receive messages", WAIT, || count(&d1) >= 5);
    primary.kill();
    let at_kill = count(&d2);
    wait_for("the secondary to take the stream", WAIT, || {
        count(&d2) >= at_kill + 5
    });
    let before = count(&d1);
    let mut primary = start_central(&c1, ports[0]);
    wait_for("the primary to receive again", WAIT, || {
        count(&d1) >= before + 3
    });
    fs::write(&stop, "").unwrap();
    let st = rec.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(rec.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(st.success(), "recorder: {st:?} {err}");

    let has_end = |d: &Path| objects(d).iter().any(|o| o["event"] == "end");
    wait_for("the end entry", WAIT, || {
        [&d1, &d2].iter().filter(|d| has_end(d)).count() >= end_on
    });
    primary.stop();
    drop(client);

    let mut objs = objects(&d1);
    objs.extend(objects(&d2));
    let end = objs.iter().find(|o| o["event"] == "end").cloned().unwrap();
    let ids: BTreeSet<u64> = objs.iter().filter_map(|o| o["id"].as_u64()).collect();
    let written = end["messages_written"].as_u64().unwrap();
    let missing = (1..=written).filter(|i| !ids.contains(i)).collect();
    Delivered {
        t: t.to_path_buf(),
        dirs: [d1, d2],
        objs,
        end,
        missing,
    }
}

/// Layout, one recording, duplicates, and what `tlog-rs index` and
/// `tlog-rs search` make of both servers' directories.
fn check_index(d: &Delivered) {
    let rec_id = d.end["rec"].as_str().unwrap();
    let written = d.end["messages_written"].as_u64().unwrap();
    // The waits in deliver(): lines on the primary, more on the secondary,
    // then more on the primary again.
    assert!(written >= 10, "a stream, not a few messages: {written}");
    let mut per_id: BTreeMap<u64, usize> = BTreeMap::new();
    for o in d.objs.iter().filter(|o| o.get("ver").is_some()) {
        assert_eq!(o["rec"], rec_id);
        *per_id.entry(o["id"].as_u64().unwrap()).or_default() += 1;
    }
    let events: BTreeSet<String> = d
        .objs
        .iter()
        .filter_map(|o| o["event"].as_str().map(str::to_string))
        .collect();
    assert_eq!(events, BTreeSet::from(["start".into(), "end".into()]));
    let dups = d.objs.len() - per_id.len() - events.len();
    // Layout: <dir>/<host>/<yyyy-mm-dd>.jsonl on both servers.
    for dir in &d.dirs {
        for host in fs::read_dir(dir).unwrap().flatten() {
            assert!(host.path().is_dir(), "{}", host.path().display());
            for f in fs::read_dir(host.path()).unwrap().flatten() {
                let n = f.file_name().to_string_lossy().to_string();
                let digits = |r: std::ops::Range<usize>| {
                    n.get(r)
                        .is_some_and(|x| x.bytes().all(|c| c.is_ascii_digit()))
                };
                assert!(
                    n.len() == 16
                        && n.ends_with(".jsonl")
                        && &n[4..5] == "-"
                        && &n[7..8] == "-"
                        && digits(0..4)
                        && digits(5..7)
                        && digits(8..10),
                    "day file name: {n}"
                );
            }
        }
    }

    let conf = d.t.join("central.toml");
    fs::write(&conf, "").unwrap();
    let db = d.t.join("index.db");
    let (conf_s, db_s) = (conf.to_str().unwrap(), db.to_str().unwrap());
    let (d1s, d2s) = (d.dirs[0].to_str().unwrap(), d.dirs[1].to_str().unwrap());
    let o = tlog_rs(&[
        "index", "--config", conf_s, "--db", db_s, "--jsonl", d1s, "--jsonl", d2s, "--stats",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    let indexed = per_id.len();
    assert!(
        out.contains(&format!(
            "{indexed} new messages, {dups} duplicates, 0 conflicting, 2 events, 0 bad lines"
        )),
        "{out} (lines: {})",
        d.objs.len()
    );
    assert!(
        out.contains(&format!("index: 1 recordings, {indexed} messages")),
        "{out}"
    );
    let o = tlog_rs(&["search", "--config", conf_s, "--db", db_s, "--json"]);
    let found: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["rec"], rec_id);
    // A lost message is an id gap: the recording is not complete.
    assert_eq!(
        found[0]["complete"],
        d.missing.is_empty(),
        "{:?}, missing {:?}",
        found[0],
        d.missing
    );
}

/// The shipped fail-over chain (rsyslog-client.conf). omrelp counts a
/// message as done once librelp has sent it (rsyslog#2610), so what was in
/// flight to the primary when it died reaches neither server: the index
/// shows the recording with an id gap (incomplete), everything else once.
#[test]
fn relp_tls_failover_indexes_each_message_once_and_shows_the_gap() {
    if !require_root("relp_tls_failover_indexes_each_message_once_and_shows_the_gap") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let tmp = TempDir::new("central-relp-failover");
    let d = deliver(&tmp, "rsyslog-client.conf", 1);
    // Fail-over: the secondary holds a middle part of the stream, and the
    // primary the first and last messages.
    let ids = |i: usize| -> BTreeSet<u64> {
        objects(&d.dirs[i])
            .iter()
            .filter_map(|o| o["id"].as_u64())
            .collect()
    };
    let (p, s) = (ids(0), ids(1));
    let written = d.end["messages_written"].as_u64().unwrap();
    assert!(p.contains(&1) && p.contains(&written), "primary {p:?}");
    assert!(!s.is_empty() && !s.contains(&1), "secondary {s:?}");
    // At most the messages in flight to the dying primary are lost.
    assert!(d.missing.len() <= 2, "lost {:?}", d.missing);
    check_index(&d);
}

/// rsyslog-client-both.conf: every message to both servers, each retried
/// until it takes it; nothing is lost across the crash and the index keeps
/// each message once.
#[test]
fn relp_tls_to_both_servers_loses_nothing_across_a_crash() {
    if !require_root("relp_tls_to_both_servers_loses_nothing_across_a_crash") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let tmp = TempDir::new("central-relp-both");
    let d = deliver(&tmp, "rsyslog-client-both.conf", 2);
    assert_eq!(d.missing, Vec::<u64>::new(), "nothing lost");
    check_index(&d);
}

/// A client whose certificate is not from the central's CA, or names a
/// host the central does not permit, is refused: nothing is written.
#[test]
fn relp_tls_refuses_clients_without_a_valid_certificate() {
    if !require_root("relp_tls_refuses_clients_without_a_valid_certificate") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let tmp = TempDir::new("central-relp-neg");
    let t = tmp.root();
    let pki = Pki::new(&t.join("pki"), &["central1", "client1", "intruder"]);
    let rogue = Pki::new(&t.join("rogue"), &["client1"]);
    let port = free_port();
    let conf = central_conf(t, "central1", &pki, port, "client1");
    let central = start_central(&conf, port);
    let out = t.join("central1");

    // (client config, certificate authority, the central's complaint)
    let cases: [(&str, &Pki, &str); 2] = [
        ("rogue", &rogue, "certificate validation failed"),
        ("intruder", &pki, "intruder"),
    ];
    for (name, ca, complaint) in cases {
        let cert = if name == "rogue" {
            "client1"
        } else {
            "intruder"
        };
        // The client trusts the real central (so only the central refuses).
        let cc = client_conf(t, "rsyslog-client.conf", name, ca, cert, [port, port]);
        let text = fs::read_to_string(t.join(format!("{name}.inc"))).unwrap();
        fs::write(
            t.join(format!("{name}.inc")),
            text.replace(&format!("{:?}", ca.ca()), &format!("{:?}", pki.ca())),
        )
        .unwrap();
        let client = start_client(&cc);
        tlog_rs_tests::daemons::send_datagram(
            &cc.with_extension("sock"),
            b"<13>Dec  4 12:00:00 tlog[1]: {\"ver\":\"2.3\",\"host\":\"h\",\"rec\":\"r\",\"id\":1}",
        )
        .unwrap();
        wait_for(&format!("the central to refuse {name}"), WAIT, || {
            let log = central.log();
            log.contains("authentication error") && log.contains(complaint)
        });
        drop(client);
        assert!(
            jsonl_lines(&out).is_empty() && !out.exists(),
            "{name}: nothing may be written"
        );
    }
}

/// The audit trail rides along: laurel's JSON log, tailed by the shipped
/// rsyslog-client-audit.conf (imfile) into the same forwarding ruleset,
/// lands in the central's per-host day file beside the recordings, and
/// `tlog-rs index` stores every event once, also when the file grows
/// after a first indexing.
#[test]
fn audit_events_ride_the_relp_path_into_the_index() {
    if !require_root("audit_events_ride_the_relp_path_into_the_index") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let tmp = TempDir::new("central-relp-audit");
    let t = tmp.root();
    let pki = Pki::new(&t.join("pki"), &["central1", "client1"]);
    let port = free_port();
    let central = central_conf(t, "central1", &pki, port, "client1");
    let _central = start_central(&central, port);
    // The secondary is never up: the primary takes everything.
    let client_c = client_conf(
        t,
        "rsyslog-client.conf",
        "client",
        &pki,
        "client1",
        [port, free_port()],
    );
    let laurel_log = t.join("laurel-audit.log");
    let events: Vec<String> = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../index/tests/data/laurel-live.jsonl"),
    )
    .unwrap()
    .lines()
    .map(str::to_string)
    .collect();
    let (first, rest) = events.split_at(events.len() / 2);
    fs::write(&laurel_log, first.join("\n") + "\n").unwrap();
    let audit_inc = substitute(
        &shipped("rsyslog-client-audit.conf"),
        &[(
            "/var/log/laurel/audit.log",
            &laurel_log.display().to_string(),
        )],
    );
    fs::write(t.join("client-audit.inc"), audit_inc).unwrap();
    let mut conf = fs::read_to_string(&client_c).unwrap();
    conf.push_str(&format!(
        "include(file=\"{}\")\n",
        t.join("client-audit.inc").display()
    ));
    fs::write(&client_c, conf).unwrap();
    let _client = start_client(&client_c);

    let out = t.join("central1");
    let audit_lines = |d: &Path| {
        jsonl_lines(d)
            .iter()
            .filter(|l| l.starts_with("{\"ID\":"))
            .count()
    };
    wait_for("the first audit events on the central", WAIT, || {
        audit_lines(&out) == first.len()
    });
    let db = t.join("index.db");
    let count = || {
        let o = tlog_rs(&[
            "index",
            "--db",
            db.to_str().unwrap(),
            "--jsonl",
            out.to_str().unwrap(),
            "--stats",
        ]);
        // Exit 0: no line was reported bad.
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "index: {err}");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.starts_with("audit:"))
            .unwrap_or_default()
            .to_string()
    };
    let line = count();
    assert!(
        line.contains(&format!("index: {} audit events", first.len())),
        "{line}"
    );
    // More events arrive; the next indexing adds exactly those.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&laurel_log)
        .unwrap();
    std::io::Write::write_all(&mut f, (rest.join("\n") + "\n").as_bytes()).unwrap();
    drop(f);
    wait_for("the rest of the audit events", WAIT, || {
        audit_lines(&out) == events.len()
    });
    let line = count();
    assert!(
        line.contains(&format!("audit: {} new events", rest.len()))
            && line.contains(&format!("index: {} audit events", events.len())),
        "{line}"
    );
}
