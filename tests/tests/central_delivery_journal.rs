//! Delivery of the journal writer's entries to the central store with the
//! shipped configs: systemd-journal-upload (packaging/central/
//! journal-upload.conf, client certificate) -> stunnel requiring client
//! certificates (stunnel-journal-remote.conf) -> systemd-journal-remote
//! (journal-remote.conf) on loopback; then `tlog-rs index --journal` over
//! the remote's output. The journald tools read their config from /etc
//! only, so the substituted files are bind-mounted there inside private
//! mount namespaces.
//!
//! The audit trail takes the same path: journald reads kernel audit itself
//! (Debian's systemd-journald-audit.socket; the test's journald opens the
//! audit netlink socket the same way) and the index groups those entries
//! into events joined to the recording (docs/audit.md §6.1).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tlog_rs_tests::audit_state::AuditState;
use tlog_rs_tests::central::{
    audit_counts, free_port, listening, shipped, substitute, wait_for, Daemon, Pki,
};
use tlog_rs_tests::daemons::{output_with_open_stdin, Journald, TempDir};
use tlog_rs_tests::{artifact, require_program, require_root};

const WAIT: Duration = Duration::from_secs(30);
const REMOTE: &str = "/lib/systemd/systemd-journal-remote";
const UPLOAD: &str = "/lib/systemd/systemd-journal-upload";

/// `prog args` in a private mount namespace where `conf` is bind-mounted
/// over `etc_file`.
fn with_config(etc_file: &str, conf: &Path, prog: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind \"$1\" {etc_file} && shift && exec \"$@\""
        ))
        .arg("sh")
        .arg(conf)
        .arg(prog);
    c
}

struct Central {
    _remote: Daemon,
    stunnel: Daemon,
    out: PathBuf,
    https_port: u16,
}

fn start_central(t: &Path, pki: &Pki) -> Central {
    let (https_port, http_port) = (free_port(), free_port());
    let out = t.join("remote");
    fs::create_dir_all(&out).unwrap();
    let rconf = t.join("journal-remote.conf");
    fs::write(&rconf, shipped("journal-remote.conf")).unwrap();
    let mut remote = Daemon::spawn(
        with_config("/etc/systemd/journal-remote.conf", &rconf, REMOTE)
            .arg(format!("--listen-http=127.0.0.1:{http_port}"))
            .arg(format!("--output={}/", out.display())),
        &t.join("journal-remote.log"),
    );
    let sconf = t.join("stunnel.conf");
    fs::write(
        &sconf,
        substitute(
            &shipped("stunnel-journal-remote.conf"),
            &[
                (
                    "accept = 19532",
                    &format!("accept = 127.0.0.1:{https_port}"),
                ),
                (
                    "connect = 127.0.0.1:19531",
                    &format!("connect = 127.0.0.1:{http_port}"),
                ),
                (
                    "/etc/tlog-rs/pki/central.pem",
                    pki.cert("central1").to_str().unwrap(),
                ),
                (
                    "/etc/tlog-rs/pki/central.key",
                    pki.key("central1").to_str().unwrap(),
                ),
                ("/etc/tlog-rs/pki/ca.pem", pki.ca().to_str().unwrap()),
            ],
        ),
    )
    .unwrap();
    let mut stunnel = Daemon::spawn(Command::new("stunnel").arg(&sconf), &t.join("stunnel.log"));
    wait_for("journal-remote and stunnel to listen", WAIT, || {
        (listening(http_port) && listening(https_port)) || !remote.running() || !stunnel.running()
    });
    assert!(remote.running(), "journal-remote died: {}", remote.log());
    assert!(stunnel.running(), "stunnel died: {}", stunnel.log());
    Central {
        _remote: remote,
        stunnel,
        out,
        https_port,
    }
}

/// Upload `dir` once (no following) with the client certificate `name` of
/// `pki`, trusting `ca`; returns the exit status and stderr.
fn upload(t: &Path, c: &Central, pki: &Pki, name: &str, ca: &Path, dir: &Path) -> (bool, String) {
    let conf = t.join(format!("journal-upload-{name}.conf"));
    fs::write(
        &conf,
        substitute(
            &shipped("journal-upload.conf"),
            &[
                (
                    "https://central1.example.com:19532",
                    &format!("https://127.0.0.1:{}", c.https_port),
                ),
                ("/etc/tlog-rs/pki/host.key", pki.key(name).to_str().unwrap()),
                (
                    "/etc/tlog-rs/pki/host.pem",
                    pki.cert(name).to_str().unwrap(),
                ),
                ("/etc/tlog-rs/pki/ca.pem", ca.to_str().unwrap()),
            ],
        ),
    )
    .unwrap();
    let o = output_with_open_stdin(
        with_config("/etc/systemd/journal-upload.conf", &conf, UPLOAD)
            .arg("--follow=no")
            .arg(format!("--directory={}", dir.display()))
            .arg(format!(
                "--save-state={}",
                t.join(format!("state-{name}")).display()
            )),
        WAIT,
    );
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn remote_entries(out: &Path, matches: &[&str]) -> Vec<Value> {
    let o = Command::new("journalctl")
        .args(["--no-pager", "--all", "-o", "json", "-D"])
        .arg(out)
        .args(matches)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn prerequisites(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    require_program("stunnel", "stunnel4");
    require_program("journalctl", "systemd");
    assert!(
        Path::new(REMOTE).exists() && Path::new(UPLOAD).exists(),
        "apt-get install systemd-journal-remote (.ci/run does this)"
    );
    true
}

#[test]
fn journal_upload_over_mutual_tls_reaches_remote_and_index() {
    if !prerequisites("journal_upload_over_mutual_tls_reaches_remote_and_index") {
        return;
    }
    let tmp = TempDir::new("central-journal-upload");
    let t = tmp.root();
    let pki = Pki::new(&t.join("pki"), &["central1", "client1"]);

    // A recording by the real recorder's journal writer in a private journald.
    let jd = Journald::start("central-upload");
    let rec_out = output_with_open_stdin(
        jd.command(artifact("tlog-rs-rec"))
            .args(["-w", "journal", "--notice=", "--payload=256", "sh", "-c"])
            .arg("i=0; while [ $i -lt 50 ]; do echo \"uploaded line $i caf\u{e9}\"; i=$((i+1)); done"),
        WAIT,
    );
    assert!(
        rec_out.status.success(),
        "{}",
        String::from_utf8_lossy(&rec_out.stderr)
    );
    let starts = jd.wait_entries(&["TLOG_RS_EVENT=start"], 1);
    assert_eq!(starts.len(), 1, "{}", jd.log());
    let rec = starts[0]["TLOG_RS_REC"].as_str().unwrap().to_string();
    let ends = jd.wait_entries(&["TLOG_RS_EVENT=end", &format!("TLOG_RS_REC={rec}")], 1);
    assert_eq!(ends.len(), 1, "{}", jd.log());
    let local = jd.entries(&[&format!("TLOG_REC={rec}")]);
    assert!(local.len() >= 3, "several messages: {}", local.len());

    let c = start_central(t, &pki);
    let (ok, err) = upload(t, &c, &pki, "client1", &pki.ca(), &jd.journal_dir());
    assert!(ok, "upload failed: {err}\nstunnel: {}", c.stunnel.log());

    // Every message arrived, unchanged, plus both session entries.
    let remote = remote_entries(&c.out, &[&format!("TLOG_REC={rec}")]);
    let msg = |v: &Value| v["MESSAGE"].as_str().unwrap().to_string();
    assert_eq!(
        remote.iter().map(msg).collect::<Vec<_>>(),
        local.iter().map(msg).collect::<Vec<_>>(),
        "the recording's messages, in order"
    );
    let events = remote_entries(&c.out, &[&format!("TLOG_RS_REC={rec}")]);
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e["TLOG_RS_EVENT"].as_str())
        .collect();
    assert_eq!(kinds, ["start", "end"]);

    // A second upload resumes from the saved cursor: nothing twice.
    let (ok, err) = upload(t, &c, &pki, "client1", &pki.ca(), &jd.journal_dir());
    assert!(ok, "{err}");
    assert_eq!(
        remote_entries(&c.out, &[&format!("TLOG_REC={rec}")]).len(),
        local.len()
    );

    // The central index reads the remote's output.
    let db = t.join("index.db");
    let conf = t.join("central.toml");
    fs::write(&conf, "").unwrap();
    let run = |args: &[&str]| {
        Command::new(artifact("tlog-rs"))
            .args(args)
            .args([
                "--config",
                conf.to_str().unwrap(),
                "--db",
                db.to_str().unwrap(),
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = run(&["index", "--journal", c.out.to_str().unwrap(), "--stats"]);
    let stats = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{stats}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stats.contains(&format!("index: 1 recordings, {} messages", local.len())),
        "{stats}"
    );
    let o = run(&["search", "--json"]);
    let found: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["rec"], rec.as_str());
    assert_eq!(found[0]["complete"], true, "{:?}", found[0]);
}

/// `tlog-rs ARGS --config CONF --db DB`: (success, stdout, stderr).
fn tlog_rs_db(t: &Path, args: &[&str]) -> (bool, String, String) {
    let conf = t.join("central.toml");
    if !conf.exists() {
        fs::write(&conf, "").unwrap();
    }
    let o = Command::new(artifact("tlog-rs"))
        .args(args)
        .arg("--config")
        .arg(&conf)
        .arg("--db")
        .arg(t.join("index.db"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const AUDIT_TEST: &str = "audit_records_ride_the_journal_upload_into_the_index";

/// Host: auditd (private config) under the rules of `tlog-rs audit-rules`,
/// journald collecting the kernel's audit records, a recording whose shell
/// has a login uid (as pam_loginuid gives) and runs touch and rm. Central:
/// journal-upload -> stunnel -> journal-remote, `tlog-rs index --journal`:
/// the events are joined to the recording by `ses`, `search --exec` finds
/// it, and a second upload and index add nothing.
#[test]
fn audit_records_ride_the_journal_upload_into_the_index() {
    if !prerequisites(AUDIT_TEST) {
        return;
    }
    require_program("auditd", "auditd");
    let Some(mut audit) = AuditState::prepare(AUDIT_TEST) else {
        return;
    };
    let tmp = TempDir::new("central-journal-audit");
    let t = tmp.root();
    let work = t.join("work");
    fs::create_dir_all(&work).unwrap();
    let pki = Pki::new(&t.join("pki"), &["central1", "client1"]);
    let policy = t.join("policy.toml");
    fs::write(
        &policy,
        "[[rule]]\nname = \"svc\"\nusers = [\"daemon\"]\naudit_level = \"session\"\n",
    )
    .unwrap();
    let rules = t.join("50-tlog-rs.rules");
    let st = Command::new(artifact("tlog-rs"))
        .args(["audit-rules", "--policy"])
        .arg(&policy)
        .arg("--output")
        .arg(&rules)
        .status()
        .unwrap();
    assert!(st.success());

    // auditd first: journald must leave audit enabled when it starts
    // (Audit= empty, as packaging/central/journald-audit.conf sets).
    audit.start_auditd(&t.join("auditd"), None);
    let jd = Journald::start("central-audit");
    audit.load_rules(&rules);
    // The login: loginuid 1 (daemon, audited at level session), then the
    // recorder (journal writer) with the session's commands.
    let inner = format!("cd {}; touch f; rm f", work.display());
    let rec_out = output_with_open_stdin(
        jd.command("sh")
            .arg("-c")
            .arg("echo 1 > /proc/self/loginuid || exit 99; exec \"$@\"")
            .arg("sh")
            .arg(artifact("tlog-rs-rec"))
            .args(["-w", "journal", "--notice=", "sh", "-c", &inner]),
        WAIT,
    );
    assert!(
        rec_out.status.success(),
        "{}",
        String::from_utf8_lossy(&rec_out.stderr)
    );
    let starts = jd.wait_entries(&["TLOG_RS_EVENT=start"], 1);
    assert_eq!(starts.len(), 1, "{}", jd.log());
    let rec = starts[0]["TLOG_RS_REC"].as_str().unwrap().to_string();
    assert_eq!(
        jd.wait_entries(&["TLOG_RS_EVENT=end", &format!("TLOG_RS_REC={rec}")], 1)
            .len(),
        1
    );
    // rm's exec and unlink, as journald wrote them.
    let rm = jd.wait_entries(&["_TRANSPORT=audit", "_EXE=/usr/bin/rm"], 2);
    assert!(rm.len() >= 2, "journald got no audit records of rm: {rm:?}");
    let ses = rm[0]["_AUDIT_SESSION"].as_str().unwrap().to_string();
    audit.restore_and_check();
    // The records of the restore (rules deleted, audit disabled) reach
    // journald asynchronously: upload once they are all there.
    let audit_entries = |jd: &Journald| jd.entries(&["_TRANSPORT=audit"]).len();
    let mut n = audit_entries(&jd);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let m = audit_entries(&jd);
        if m == n {
            break;
        }
        n = m;
    }

    let c = start_central(t, &pki);
    let (ok, err) = upload(t, &c, &pki, "client1", &pki.ca(), &jd.journal_dir());
    assert!(ok, "upload failed: {err}\nstunnel: {}", c.stunnel.log());
    let remote_rm = remote_entries(&c.out, &["_TRANSPORT=audit", "_EXE=/usr/bin/rm"]);
    assert_eq!(remote_rm.len(), rm.len(), "the audit entries were uploaded");

    let out = c.out.to_str().unwrap();
    let (ok, stats, err) = tlog_rs_db(t, &["index", "--journal", out, "--stats"]);
    assert!(ok, "{err}\n{stats}");
    assert!(stats.contains("0 bad lines"), "{stats}\n{err}");
    let (new, total) = audit_counts(&stats);
    assert!(new > 5 && new == total, "{stats}");

    // Joined to the recording by ses, with the session's commands and files.
    let (ok, so, se) = tlog_rs_db(t, &["show", "--audit", "--json", &rec]);
    assert!(ok, "{se}");
    let lines: Vec<Value> = so
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["join"], "ses", "{so}");
    assert_eq!(lines[0]["session"].to_string(), ses, "{so}");
    let exec = |argv: Value| {
        lines[1..]
            .iter()
            .find(|e| e["kind"] == "exec" && e["event"]["argv"] == argv)
            .unwrap_or_else(|| panic!("no exec {argv} in {so}"))
    };
    let touch = exec(serde_json::json!(["touch", "f"]));
    assert_eq!(touch["event"]["cwd"], work.to_str().unwrap(), "{so}");
    assert_eq!(touch["event"]["auid"], 1, "{so}");
    exec(serde_json::json!(["rm", "f"]));
    assert!(
        lines[1..].iter().any(|e| e["kind"] == "file"
            && e["event"]["comm"] == "rm"
            && e["event"]["paths"].as_array().is_some_and(|p| p
                .iter()
                .any(|p| p["name"] == "f" && p["nametype"] == "DELETE"))),
        "no deletion of f: {so}"
    );
    let (ok, so, se) = tlog_rs_db(t, &["search", "--json", "--exec", "/usr/bin/rm"]);
    assert!(ok, "{se}");
    let hits: Vec<Value> = so
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1, "{so}");
    assert_eq!(hits[0]["rec"], rec.as_str());

    // A second upload and index: nothing new.
    let (ok, err) = upload(t, &c, &pki, "client1", &pki.ca(), &jd.journal_dir());
    assert!(ok, "{err}");
    // journal-upload sends the entry at its saved cursor again when it
    // resumes: the remote may hold a copy of the last entry, nothing else.
    let records = || -> std::collections::BTreeSet<(String, String)> {
        remote_entries(&c.out, &["_TRANSPORT=audit"])
            .iter()
            .map(|e| (e["_AUDIT_ID"].to_string(), e["MESSAGE"].to_string()))
            .collect()
    };
    assert_eq!(records().len(), n);
    let (ok, stats, err) = tlog_rs_db(t, &["index", "--journal", out, "--stats"]);
    assert!(ok, "{err}");
    assert_eq!(audit_counts(&stats), (0, total), "{stats}");
}

#[test]
fn journal_upload_without_a_valid_certificate_is_refused() {
    if !prerequisites("journal_upload_without_a_valid_certificate_is_refused") {
        return;
    }
    let tmp = TempDir::new("central-journal-rogue");
    let t = tmp.root();
    let pki = Pki::new(&t.join("pki"), &["central1"]);
    let rogue = Pki::new(&t.join("rogue"), &["client1"]);
    let jd = Journald::start("central-rogue");
    let o = output_with_open_stdin(
        jd.command(artifact("tlog-rs-rec")).args([
            "-w",
            "journal",
            "--notice=",
            "sh",
            "-c",
            "echo secret",
        ]),
        WAIT,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(jd.wait_entries(&["TLOG_RS_EVENT=end"], 1).len(), 1);

    let c = start_central(t, &pki);
    // Trusts the right server CA, but its own certificate is from another CA.
    let (ok, err) = upload(t, &c, &rogue, "client1", &pki.ca(), &jd.journal_dir());
    assert!(
        !ok,
        "a client with a foreign certificate was accepted: {err}"
    );
    wait_for("stunnel to report the refused certificate", WAIT, || {
        c.stunnel.log().contains("certificate verify failed")
    });
    let files: Vec<_> = fs::read_dir(&c.out).unwrap().flatten().collect();
    assert!(files.is_empty(), "nothing may be written: {files:?}");
}
