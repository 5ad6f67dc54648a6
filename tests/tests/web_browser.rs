//! `tlog-rs web` in a real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from tests/web; no browser download). Recordings are made
//! by the real recorder for throwaway users and indexed; the server runs in a
//! private mount namespace whose /etc has those users (pam_unix passwords in
//! shadow), an `auditors` group and the PAM service `tlog-rs-web`; logins go
//! through the real helper and PAM stack. The browser script checks wrong
//! password, login, list, filters, play, frame steps, the commands pane, the audit pane
//! (a raw audit.log written here for alice's session), search in a
//! recording, exports, ACL (another user's URL is 404), CSRF, logout, the
//! auditor's view and access log, the list's badges, sorting and pages
//! (copies of a session made incomplete and tampered), a scoped auditor
//! (`[[web.auditors]]`: a host group and a user group; copies of bob's
//! recording as another host and with group dba) who sees exactly that
//! scope and 404 elsewhere, and takes a screenshot (into
//! docs/img/web-recording.png when TLOG_RS_UPDATE_SCREENSHOTS is set).
//! A second test follows a live recording written and indexed meanwhile,
//! and checks the input pane (tests/web/follow.mjs).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use tlog_rs_tests::nsenv::NsEnv;
use tlog_rs_tests::play::screen_at;
use tlog_rs_tests::rec::TempDir;
use tlog_rs_tests::web::serve;
use tlog_rs_tests::{artifact, require_program, require_root};

const PASSWORD: &str = "correct horse 42";

struct Users {
    alice: u32,
    bob: u32,
    carol: u32,
    dave: u32,
}

const U: Users = Users {
    alice: 4301,
    bob: 4302,
    carol: 4303,
    dave: 4304,
};

fn environment(dir: &TempDir) -> NsEnv {
    let openssl = require_program("openssl", "openssl");
    let hash = Command::new(&openssl)
        .args(["passwd", "-6", "-salt", "tlogrsweb", PASSWORD])
        .output()
        .unwrap();
    assert!(hash.status.success());
    let hash = String::from_utf8(hash.stdout).unwrap().trim().to_string();
    let mut env = NsEnv::new("web_browser");
    let home = dir.path("home");
    fs::create_dir_all(&home).unwrap();
    let mut passwd = String::new();
    let mut shadow = fs::read_to_string("/etc/shadow").unwrap_or_default();
    let mut group = String::new();
    for (name, uid) in [
        ("alice", U.alice),
        ("bob", U.bob),
        ("carol", U.carol),
        ("dave", U.dave),
    ] {
        passwd.push_str(&format!(
            "{name}:x:{uid}:{uid}::{}:/bin/sh\n",
            home.display()
        ));
        shadow.push_str(&format!("{name}:{hash}:19000:0:99999:7:::\n"));
        group.push_str(&format!("{name}:x:{uid}:\n"));
    }
    group.push_str("auditors:x:4399:carol\n");
    // dave: a scoped auditor ([[web.auditors]] in central.toml).
    group.push_str("nj-auditors:x:4398:dave\n");
    env.etc_host_plus("passwd", &passwd)
        .etc_host_plus("group", &group)
        .etc_mode("shadow", shadow, 0o600)
        .etc(
            "nsswitch.conf",
            "passwd: files\ngroup: files\nshadow: files\nhosts: files\n",
        )
        .etc(
            "pam.d/tlog-rs-web",
            "auth required pam_unix.so\naccount required pam_unix.so\n",
        );
    env
}

/// A copy of the recording in `from` (file writer: `from` and
/// `from.events`) into `to`, as recording `rec` of `host`, each session
/// entry changed by `edit` (dropped if it returns false): recordings of
/// other hosts and groups for the scoped auditor, incomplete and tampered
/// ones for the list's badges.
fn copy_as(from: &Path, to: &Path, host: &str, rec: &str, edit: &dyn Fn(&mut Value) -> bool) {
    let events = PathBuf::from(format!("{}.events", from.display()));
    for (src, dst) in [
        (from.to_path_buf(), to.to_path_buf()),
        (events, PathBuf::from(format!("{}.events", to.display()))),
    ] {
        let mut out = String::new();
        for line in fs::read_to_string(&src).unwrap().lines() {
            let mut v: Value = serde_json::from_str(line).unwrap();
            v["host"] = json!(host);
            v["rec"] = json!(rec);
            if v.get("event").is_some() {
                v["fqdn"] = Value::Null;
                if !edit(&mut v) {
                    continue;
                }
            }
            out.push_str(&v.to_string());
            out.push('\n');
        }
        fs::write(dst, out).unwrap();
    }
}

/// A raw audit.log (as auditd writes it, node = host) for alice's first
/// session: a failed password a minute before it, `ls /` run 0.3 s after
/// the second input line, a file created and a connection 0.3 s after the
/// third. Offsets come from `tlog-rs show --json` (the index's own).
fn audit_log(conf: &Path, host: &str, rec: &str, events: &Path) -> String {
    let o = Command::new(artifact("tlog-rs"))
        .args(["show", "--config", conf.to_str().unwrap(), "--json", rec])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let inputs: Vec<f64> = lines[1..]
        .iter()
        .filter(|l| l["source"] == "input")
        .map(|l| l["offset"].as_f64().unwrap())
        .collect();
    assert!(inputs.len() >= 3, "{lines:?}");
    let start_event: Value =
        serde_json::from_str(fs::read_to_string(events).unwrap().lines().next().unwrap()).unwrap();
    let start = start_event["start"].as_f64().unwrap();
    // The recording's audit session if it has one, else unset (then the
    // join is by host, user and time).
    let ses = start_event["session"]
        .as_u64()
        .filter(|s| *s != 0)
        .unwrap_or(4_294_967_295);
    let u = U.alice;
    let mut log = String::new();
    let mut rec_line = |t: f64, serial: u32, body: &str| {
        for r in body.lines() {
            let (ty, rest) = r.split_once(' ').unwrap_or((r, ""));
            log.push_str(&format!(
                "node={host} type={ty} msg=audit({t:.3}:{serial}): {rest}\n"
            ));
        }
        log.push_str(&format!(
            "node={host} type=EOE msg=audit({t:.3}:{serial}): \n"
        ));
    };
    let sys = |call: u32, pid: u32, comm: &str, exe: &str, key: &str, items: u32, a0: &str| {
        format!(
            "SYSCALL arch=c000003e syscall={call} success=yes exit=0 a0={a0} a1=0 a2=0 a3=0 items={items} ppid=4000 pid={pid} auid={u} uid={u} gid={u} euid={u} suid={u} fsuid={u} egid={u} sgid={u} fsgid={u} tty=pts1 ses={ses} comm=\"{comm}\" exe=\"{exe}\" key=\"{key}\""
        )
    };
    rec_line(
        start - 60.0,
        9001,
        "USER_AUTH pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=192.0.2.9 addr=192.0.2.9 terminal=ssh res=failed'",
    );
    let t = start + inputs[1] + 0.3;
    rec_line(
        t,
        9002,
        &format!(
            "{}\nEXECVE argc=2 a0=\"ls\" a1=\"/\"\nCWD cwd=\"/home/alice\"\nPATH item=0 name=\"/usr/bin/ls\" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL",
            sys(59, 4101, "ls", "/usr/bin/ls", "tlog-rs-exec", 1, "1")
        ),
    );
    rec_line(
        t + 0.01,
        9003,
        &sys(231, 4101, "ls", "/usr/bin/ls", "tlog-rs-exit", 0, "0"),
    );
    let t = start + inputs[2] + 0.3;
    rec_line(
        t,
        9004,
        &format!(
            "{}\nCWD cwd=\"/tmp\"\nPATH item=0 name=\"/tmp\" inode=2 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT\nPATH item=1 name=\"/tmp/audit-pane-proof\" inode=3 dev=fe:00 mode=0100644 ouid={u} ogid={u} rdev=00:00 nametype=CREATE",
            sys(257, 4000, "bash", "/usr/bin/bash", "tlog-rs-file", 2, "ffffff9c")
        ),
    );
    rec_line(
        t + 0.01,
        9005,
        &format!(
            "{}\nSOCKADDR saddr=020026B77F0000010000000000000000",
            sys(42, 4000, "bash", "/usr/bin/bash", "tlog-rs-net", 0, "3")
        ),
    );
    log
}

/// Record one session as `uid` into `out` (file writer: `out` and
/// `out.events`); returns (host, rec).
fn record(env: &NsEnv, uid: u32, out: &Path, input: Option<&str>, cmd: &str) -> (String, String) {
    let rec = artifact("tlog-rs-rec");
    let recorder = format!(
        "setpriv --reuid={uid} --regid={uid} --clear-groups -- {} --payload=256 --notice= {} -o {}",
        rec.display(),
        if input.is_some() { "--log-input" } else { "" },
        out.display()
    );
    let script = match input {
        // One line a second, so that the commands have distinct times.
        Some(lines) => format!(
            "(sleep 1; for l in {lines}; do printf '%s\\n' \"$l\"; sleep 1; done) | script -qec \"{recorder} bash --norc --noprofile -i\" /dev/null"
        ),
        None => format!("{recorder} sh -c '{cmd}' </dev/null"),
    };
    let o = env.sh(&script);
    let events = fs::read_to_string(format!("{}.events", out.display())).unwrap_or_else(|e| {
        panic!(
            "{}.events: {e}; recorder: {}",
            out.display(),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let v: Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    (
        v["host"].as_str().unwrap().to_string(),
        v["rec"].as_str().unwrap().to_string(),
    )
}

#[test]
fn browser_login_list_filter_play_acl_csrf() {
    if !require_root("web_browser") {
        return;
    }
    let chromium = require_program("chromium", "chromium");
    let node = require_program("node", "nodejs");
    let web_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix tests/web` (.ci/run does)"
    );
    let dir = TempDir::new("web");
    let env = environment(&dir);
    let recs = dir.path("recs");
    fs::create_dir_all(&recs).unwrap();
    Command::new("chmod")
        .arg("777")
        .arg(&recs)
        .status()
        .unwrap();

    // alice: an interactive session with input, and a pipe-mode one; bob: one.
    let text = "hello-web-4301";
    let (host, a1) = record(
        &env,
        U.alice,
        &recs.join("a1.log"),
        Some(&format!("'echo {text}' 'ls /' 'echo done' exit")),
        "",
    );
    let (_, a2) = record(&env, U.alice, &recs.join("a2.log"), None, "echo second");
    // Over 1 MiB of output: the index keeps keyframes, the player seeks
    // through segments.
    let (_, a3) = record(
        &env,
        U.alice,
        &recs.join("a3.log"),
        // The sleep keeps the screen still for 2 s after the marker, however
        // late a loaded machine ran the queued lines: the seek and frame-step
        // checks look at a moment inside that stillness.
        Some("'seq 1 400000' 'echo after-seq-marker; sleep 2' exit"),
        "",
    );
    let (_, b1) = record(&env, U.bob, &recs.join("b1.log"), None, "echo bob-secret");
    // For the scoped auditor: bob's session as if on an NJ file server, and
    // as if bob had been in group dba.
    let (b_nj, b_dba) = (format!("{b1}-nj"), format!("{b1}-dba"));
    copy_as(
        &recs.join("b1.log"),
        &recs.join("nj.log"),
        "fs1.nj",
        &b_nj,
        &|_| true,
    );
    copy_as(
        &recs.join("b1.log"),
        &recs.join("dba.log"),
        &host,
        &b_dba,
        &|v| {
            v["groups"] = json!(["bob", "dba"]);
            true
        },
    );
    // alice's second session without its end entry (incomplete), and with
    // an end entry that counts fewer messages than there are (tampered).
    let (a_inc, a_tam) = (format!("{a2}-inc"), format!("{a2}-tam"));
    copy_as(
        &recs.join("a2.log"),
        &recs.join("inc.log"),
        &host,
        &a_inc,
        &|v| v["event"] != "end",
    );
    copy_as(
        &recs.join("a2.log"),
        &recs.join("tam.log"),
        &host,
        &a_tam,
        &|v| {
            if v["event"] == "end" {
                v["messages_written"] = json!(0);
            }
            true
        },
    );

    let db = dir.path("central.db");
    let archive = dir.path("archive");
    let conf = dir.write(
        "central.toml",
        format!(
            "db = \"{}\"\n[sources]\njsonl = [\"{}\"]\n[hostgroups]\nnj-fileservers = [\"fs1.nj\"]\n[web]\nauditors_group = \"auditors\"\n[[web.auditors]]\ngroup = \"nj-auditors\"\nhostgroups = [\"nj-fileservers\"]\nusergroups = [\"dba\"]\npurge = true\n[retention]\narchive_dir = \"{}\"\n",
            db.display(),
            recs.display(),
            archive.display()
        )
        .as_bytes(),
    );
    let o = Command::new(artifact("tlog-rs"))
        .args(["index", "--config", conf.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "index: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The scoped auditor may purge; the NJ copy is under legal hold.
    let o = Command::new(artifact("tlog-rs"))
        .args(["hold", "--config", conf.to_str().unwrap(), &b_nj])
        .args(["--reason", "case 42"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "hold: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Audit events for alice's first session, indexed after it.
    let audit = dir.write(
        "audit.log",
        audit_log(&conf, &host, &a1, &recs.join("a1.log.events")).as_bytes(),
    );
    let o = Command::new(artifact("tlog-rs"))
        .args(["index", "--config", conf.to_str().unwrap(), "--audit-log"])
        .arg(&audit)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "index --audit-log: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The emulator's screen (tlog-rs play, straight replay) one second after
    // the marker's output, in the 2 s the session then stays still: what
    // the player must show after seeking there. (Taken from the output, not
    // from when the line was typed: under load the shell runs it late.)
    let seek_at = marker_output_time(&recs.join("a3.log"), "after-seq-marker") + 1.0;
    let mut expected = screen_at(&recs.join("a3.log"), &format!("{seek_at:.3}"));
    while expected.last().is_some_and(|l| l.is_empty()) {
        expected.pop();
    }
    assert!(
        expected.iter().any(|l| l.contains("after-seq-marker")),
        "{expected:?}"
    );

    // The long recording's log as the file writer wrote it: its JSON Lines
    // export (streamed from the index in batches) must give it back.
    let sum = Command::new("sha256sum")
        .arg(recs.join("a3.log"))
        .output()
        .unwrap();
    let seek_log_sha256 = String::from_utf8_lossy(&sum.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let seek_log_lines = fs::read_to_string(recs.join("a3.log"))
        .unwrap()
        .lines()
        .count();
    assert!(
        seek_log_lines > 10_000,
        "{seek_log_lines} messages: more than a few batches"
    );

    let server = serve(&env, &dir.0, &conf);
    let (port, log) = (server.port, server.log.clone());

    // The docs' screenshot is refreshed only on request, so a test run
    // leaves the checkout as it found it.
    let shot: PathBuf = if std::env::var_os("TLOG_RS_UPDATE_SCREENSHOTS").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img/web-recording.png")
    } else {
        dir.path("web-recording.png")
    };
    fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let cfg = json!({
        "base": format!("https://127.0.0.1:{port}"),
        "chromium": chromium,
        "screenshot": shot,
        "alice": {"user": "alice", "password": PASSWORD, "host": host, "recs": [a1, a2, a3, a_inc, a_tam], "incompleteRec": a_inc, "tamperedRec": a_tam, "seekRec": a3, "seekText": "after-seq-marker", "seekAt": seek_at, "seekScreen": expected, "seekLogSha256": seek_log_sha256,
                  "textRec": a1, "text": text, "command": format!("echo {text}")},
        "bob": {"user": "bob", "host": host, "recs": [b1]},
        "auditor": {"user": "carol", "password": PASSWORD},
        "scoped": {"user": "dave", "password": PASSWORD, "host": "fs1.nj", "recs": [b_nj, b_dba], "hostRec": b_nj, "groupRec": b_dba},
    });
    let mut cmd = Command::new(node);
    cmd.arg(web_dir.join("browser.mjs"))
        .arg(cfg.to_string())
        .current_dir(&web_dir)
        .stdin(Stdio::null());
    if std::env::var_os("HOME").is_none() {
        cmd.env("HOME", dir.path("home"));
    }
    let o = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    drop(server);
    eprintln!("{stdout}");
    assert!(
        o.status.success() && stdout.contains("all checks passed"),
        "browser checks failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(stdout.contains("ok another user's recording URL is 404"));
    assert!(stdout.contains("ok CSRF-less POST is rejected"));
    assert!(stdout.contains("ok scoped auditor sees exactly the scope"));
    assert!(stdout.contains("ok audit pane: command 2's trail"));
    assert!(stdout.contains("ok a search hit rewinds the player to it"));
    assert!(stdout.contains("ok list: pages hold every recording once, in order"));
    assert!(stdout.contains("ok scoped auditor: a guessed URL is 404"));
    assert!(stdout.contains("ok at 16x the recording runs ahead of the clock"));
    assert!(stdout.contains("ok scoped auditor: the access log holds exactly the scope"));
    assert!(stdout.contains("ok purge: a CSRF-less purge is rejected"));
    assert!(stdout.contains("ok purge: the button purges the recording"));

    // The purge done through the browser: archived, gone from its JSON
    // Lines file and the index, logged; the held and out-of-scope ones stay.
    let gz = archive.join(&host).join(format!("{b_dba}.jsonl.gz"));
    assert!(
        fs::metadata(&gz).is_ok_and(|m| m.len() > 0),
        "no archive {gz:?}"
    );
    let dba = fs::read_to_string(recs.join("dba.log")).unwrap();
    assert!(!dba.contains(&b_dba), "purged lines are still in dba.log");
    let o = Command::new(artifact("tlog-rs"))
        .args(["search", "--config", conf.to_str().unwrap(), "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&o.stdout);
    assert!(!found.contains(&format!("\"{b_dba}\"")), "{found}");
    for kept in [&b_nj, &a1, &b1] {
        assert!(
            found.contains(&format!("\"{kept}\"")),
            "{kept} is gone: {found}"
        );
    }
    let db_spec: tlog_rs_index::config::DbSpec = db.to_str().unwrap().parse().unwrap();
    let purges: Vec<_> = tlog_rs_index::store::open(&db_spec)
        .unwrap()
        .access_log(10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "purge")
        .map(|e| (e.who, e.rec))
        .collect();
    assert_eq!(
        purges,
        [("dave".to_string(), b_dba.clone())],
        "the access log names the purge, and only the one that happened"
    );
    assert!(fs::metadata(&shot).unwrap().len() > 10_000);
}

/// One tlog message of a hand-written recording: input `inp` (not echoed)
/// and output `out`, `pos` ms into it.
fn message(host: &str, rec: &str, id: u64, pos: u64, inp: &str, out: &str) -> String {
    let mut timing = String::new();
    if id == 1 {
        timing.push_str("=80x24");
    }
    if !inp.is_empty() {
        timing.push_str(&format!("<{}", inp.chars().count()));
    }
    if !out.is_empty() {
        timing.push_str(&format!(">{}", out.chars().count()));
    }
    let v = json!({
        "ver": "2.3", "host": host, "rec": rec, "user": "alice", "term": "xterm",
        "session": 7, "id": id, "pos": pos, "time": 1_800_000_000.0 + pos as f64 / 1000.0,
        "timing": timing, "in_txt": inp, "in_bin": [], "out_txt": out, "out_bin": [],
    });
    format!("{v}\n")
}

/// Follow of a live recording and the input pane. A recording written here
/// as tlog messages without an end entry (so incomplete: it may still run)
/// is indexed; the page follows it; more messages are appended and indexed
/// by the browser script (as the index timer would), and the new output
/// must appear on the player's screen within a bounded wait. The typed
/// input (not echoed by the recorded terminal) is in the input pane and
/// never on the screen.
#[test]
fn browser_follow_live_recording_and_input_pane() {
    if !require_root("web_browser") {
        return;
    }
    let chromium = require_program("chromium", "chromium");
    let node = require_program("node", "nodejs");
    let web_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix tests/web` (.ci/run does)"
    );
    let dir = TempDir::new("web-follow");
    let env = environment(&dir);
    let recs = dir.path("recs");
    fs::create_dir_all(&recs).unwrap();
    Command::new("chmod")
        .arg("777")
        .arg(&recs)
        .status()
        .unwrap();
    let (host, live, done) = ("live.example", "live-rec-1", "done-rec-1");
    let secret = "typed-not-echoed-4301";
    let mut first = message(host, live, 1, 0, "", "$ follow-part-one\r\n$ ");
    first.push_str(&message(
        host,
        live,
        2,
        1500,
        &format!("{secret}\r"),
        "\r\n$ ",
    ));
    let file = recs.join("live.log");
    fs::write(&file, first).unwrap();
    // Bob's live recording: out of alice's scope.
    let bob = message(host, "bob-live-1", 1, 0, "", "bob-live-output\r\n")
        .replace("\"alice\"", "\"bob\"");
    fs::write(recs.join("bob.log"), bob).unwrap();
    // A complete recording (with its end entry) offers no follow.
    let (b_host, b1) = record(&env, U.alice, &recs.join("b1.log"), None, "echo complete");
    let conf = dir.write(
        "central.toml",
        format!(
            "db = \"{}\"\n[sources]\njsonl = [\"{}\"]\n",
            dir.path("central.db").display(),
            recs.display()
        )
        .as_bytes(),
    );
    let index = |what: &str| {
        let o = Command::new(artifact("tlog-rs"))
            .args(["index", "--config", conf.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "index ({what}): {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    index("first part");
    // Both live recordings are in the index (so bob's 404 is the scope's).
    let o = Command::new(artifact("tlog-rs"))
        .args(["search", "--config", conf.to_str().unwrap(), "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&o.stdout);
    for rec in [live, "bob-live-1"] {
        assert!(found.contains(&format!("\"{rec}\"")), "{rec}: {found}");
    }
    // What the browser script appends (then runs the index) while following.
    let more = [
        message(host, live, 3, 3000, "", "follow-part-two\r\n$ "),
        message(host, live, 4, 4000, "", "follow-part-three\r\n$ "),
    ]
    .concat();
    // Then its end entry: the follow ends.
    let end = json!({
        "event": "end", "rec": live, "user": "alice", "host": host, "session": 7,
        "start": 1_800_000_000.0, "end": 1_800_000_005.0, "exit_status": 0,
        "end_reason": "exit", "signal": null, "bytes_in": 22, "bytes_out": 80,
        "messages_written": 4, "messages_dropped": 0, "messages_lost": 0,
        "first_id": 1, "last_id": 4, "time": 1_800_000_005.0,
    });
    let server = serve(&env, &dir.0, &conf);
    let (port, log) = (server.port, server.log.clone());
    let cfg = json!({
        "base": format!("https://127.0.0.1:{port}"),
        "chromium": chromium,
        "user": "alice", "password": PASSWORD, "host": host,
        "liveRec": live, "doneHost": b_host, "doneRec": b1, "otherRec": done, "bobRec": "bob-live-1",
        "append": {"file": file, "text": more},
        "end": {"file": format!("{}.events", file.display()), "text": format!("{end}\n")},
        "index": [artifact("tlog-rs"), "index", "--config", conf],
        "secret": secret,
    });
    let mut cmd = Command::new(node);
    cmd.arg(web_dir.join("follow.mjs"))
        .arg(cfg.to_string())
        .current_dir(&web_dir)
        .stdin(Stdio::null());
    if std::env::var_os("HOME").is_none() {
        cmd.env("HOME", dir.path("home"));
    }
    let o = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    drop(server);
    eprintln!("{stdout}");
    assert!(
        o.status.success() && stdout.contains("all checks passed"),
        "browser checks failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(stdout.contains("ok follow: appended output appears"));
    assert!(stdout.contains("ok follow: ends with the recording"));
    assert!(stdout.contains("ok input pane lists the typed line"));
    assert!(stdout.contains("ok typed input is not on the screen"));
    // Each follow is logged once (the script follows twice), not per poll.
    let db_spec: tlog_rs_index::config::DbSpec =
        dir.path("central.db").to_str().unwrap().parse().unwrap();
    let follows: Vec<_> = tlog_rs_index::store::open(&db_spec)
        .unwrap()
        .access_log(100)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "follow")
        .collect();
    assert_eq!(follows.len(), 2, "{follows:?}");
    assert_eq!(
        (follows[0].who.as_str(), follows[0].rec.as_str()),
        ("alice", live)
    );
}

/// When `marker` first appears as an output line of its own (not in the
/// echo of the typed command; escape sequences may precede it, ending in a
/// carriage return) in the recording at `log`, in seconds.
fn marker_output_time(log: &Path, marker: &str) -> f64 {
    let o = Command::new(artifact("tlog-rs"))
        .args(["export", "--format", "asciicast"])
        .arg(log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| {
            e[1] == "o"
                && e[2]
                    .as_str()
                    .is_some_and(|d| d.split(['\r', '\n']).any(|l| l == marker))
        })
        .and_then(|e| e[0].as_f64())
        .unwrap_or_else(|| {
            let out = String::from_utf8_lossy(&o.stdout);
            let near: Vec<&str> = out.lines().filter(|l| l.contains(marker)).collect();
            panic!("no output line {marker:?} in {}: {near:?}", log.display())
        })
}
