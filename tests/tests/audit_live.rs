//! Live audit trail: a private auditd (Debian's, own config and log dir,
//! ENRICHED format with node=) records a "login" (a shell that sets its
//! loginuid, as pam_loginuid does) of a user at level "session", with the
//! rules from `tlog-rs audit-rules`. Asserts: `tlog-rs audit-export` turns
//! the real log into events carrying the commands (argv, cwd), the file
//! changes (create, rename, chmod, unlink), the loopback connection, the
//! exit status, and the login's `ses`; the grouping equals `ausearch`'s on
//! the same file; and the audit state (`auditctl -s` settings, `auditctl -l`)
//! is exactly restored (Drop guard: auditd stopped, our rules deleted by
//! key, `enabled` as before). Skips where audit netlink is refused, rules
//! are locked (enabled 2), or an auditd already runs (never displaced).

use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tlog_rs_tests::audit_state::{wait_for, AuditState};
use tlog_rs_tests::nsenv::NsEnv;
use tlog_rs_tests::{artifact, require_program, require_root};

const TEST: &str = "audit_live_session_to_json_events";

/// Events as sets of raw lines (enriched tail and EOE dropped), the LOGIN
/// record apart (auparse ends an event there; see audit/tests/parse.rs).
fn ausearch_events(file: &Path) -> BTreeSet<Vec<String>> {
    let out = Command::new("ausearch")
        .arg("-if")
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split("----\n")
        .map(|b| {
            let mut v: Vec<String> = b
                .lines()
                .filter(|l| !l.starts_with("time->") && !l.is_empty() && !l.contains("type=EOE "))
                .map(str::to_string)
                .collect();
            v.sort();
            v
        })
        .filter(|v| !v.is_empty())
        .collect()
}

#[test]
fn audit_live_session_to_json_events() {
    if !require_root(TEST) {
        return;
    }
    require_program("auditd", "auditd");
    require_program("ausearch", "auditd");
    require_program("bash", "bash");
    let Some(mut audit) = AuditState::prepare(TEST) else {
        return;
    };

    let env = NsEnv::new("audit-live");
    let dir = env.root().to_path_buf();
    std::fs::create_dir_all(dir.join("work")).unwrap();
    let policy = env.write(
        "policy.toml",
        "[[rule]]\nname = \"svc\"\nusers = [\"daemon\"]\naudit_level = \"session\"\n",
    );
    let rules = dir.join("50-tlog-rs.rules");
    let st = Command::new(artifact("tlog-rs"))
        .args(["audit-rules", "--policy"])
        .arg(&policy)
        .arg("--output")
        .arg(&rules)
        .status()
        .unwrap();
    assert!(st.success());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "echo 1 > /proc/self/loginuid || exit 99; cd {work}; touch f; mv f g; chmod 600 g; rm g; \
         exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; exit 3",
        work = dir.join("work").display()
    );

    let log = audit.start_auditd(&dir, Some("tlogtest"));
    audit.load_rules(&rules);
    let accept = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut b = Vec::new();
        let _ = s.read_to_end(&mut b);
    });
    let st = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(3), "the session script failed");
    accept.join().unwrap();
    // The exit of the session's shell is the last record we wait for.
    wait_for(&log, "the exit record", |t| {
        t.lines()
            .any(|l| l.contains("syscall=231 a0=3 ") && l.contains("comm=\"bash\""))
    });
    audit.restore_and_check();

    // Our JSON events.
    let out = Command::new(artifact("tlog-rs"))
        .arg("audit-export")
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let login = events
        .iter()
        .find(|e| e["kind"] == "login" && e["auid"] == 1 && e["old_auid"] == 4294967295u64)
        .expect("LOGIN event of the session");
    let ses = login["ses"].clone();
    assert!(ses.as_u64().unwrap() < 4294967295);
    let ours: Vec<&Value> = events.iter().filter(|e| e["ses"] == ses).collect();
    let has = |pred: &dyn Fn(&Value) -> bool, what: &str| {
        assert!(ours.iter().any(|e| pred(e)), "no {what} in {ours:#?}");
    };
    let work = dir.join("work").display().to_string();
    has(
        &|e| {
            e["kind"] == "exec"
                && e["argv"] == serde_json::json!(["touch", "f"])
                && e["cwd"] == work.as_str()
        },
        "exec of touch f",
    );
    has(
        &|e| e["kind"] == "exec" && e["argv"] == serde_json::json!(["rm", "g"]),
        "exec of rm g",
    );
    let path_is = |e: &Value, name: &str, nt: &str| {
        e["paths"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == name && p["nametype"] == nt))
    };
    has(
        &|e| e["kind"] == "file" && e["comm"] == "touch" && path_is(e, "f", "CREATE"),
        "create of f",
    );
    has(
        &|e| {
            e["kind"] == "file"
                && e["comm"] == "mv"
                && path_is(e, "g", "CREATE")
                && path_is(e, "f", "DELETE")
        },
        "rename f -> g",
    );
    has(
        &|e| e["kind"] == "file" && e["comm"] == "chmod",
        "chmod of g",
    );
    has(
        &|e| e["kind"] == "file" && e["comm"] == "rm" && path_is(e, "g", "DELETE"),
        "unlink of g",
    );
    has(
        &|e| {
            e["kind"] == "net"
                && e["sockaddr"]
                    == serde_json::json!({"family": "inet", "addr": "127.0.0.1", "port": port})
        },
        "connect to the loopback listener",
    );
    has(
        &|e| e["kind"] == "exit" && e["comm"] == "bash" && e["status"] == 3,
        "exit 3 of the shell",
    );
    assert!(
        ours.iter()
            .all(|e| e["node"] == "tlogtest" && e["auid"] == 1),
        "{ours:#?}"
    );
    // Enriched tails were read.
    assert!(events
        .iter()
        .any(|e| e["records"][0]["enriched"]["AUID"] == "daemon"));

    // Grouping equals ausearch's on the same file.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut mine = BTreeSet::new();
    for e in &events {
        let recs = e["records"].as_array().unwrap();
        let (login, rest): (Vec<&Value>, Vec<&Value>) =
            recs.iter().partition(|r| r["type"] == "LOGIN");
        for part in [login, rest] {
            let mut v: Vec<String> = part
                .iter()
                .map(|r| {
                    let n = r["line"].as_u64().unwrap() as usize;
                    lines[n - 1].split('\x1d').next().unwrap().to_string()
                })
                .collect();
            v.sort();
            if !v.is_empty() {
                mine.insert(v);
            }
        }
    }
    assert_eq!(
        mine,
        ausearch_events(&log),
        "grouping differs from ausearch"
    );
}
