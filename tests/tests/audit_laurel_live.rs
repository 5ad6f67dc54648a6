//! laurel as a live auditd plugin: a private auditd (own config, log and
//! plugin dirs, `name_format = hostname`) starts Debian's laurel as its
//! plugin (private laurel config, output in the test's directory, run as
//! root), under the rules of `tlog-rs audit-rules`. A login (a shell that
//! sets its loginuid, as pam_loginuid does) runs the recorder (file
//! writer) over touch and rm. `tlog-rs index --jsonl` over the recording
//! and laurel's directory stores laurel's events and joins them to the
//! recording by `ses`; `search --exec` finds it; a second index adds
//! nothing. The audit state is restored exactly (Drop guard). Skips where
//! audit netlink is refused (containers), rules are locked, or an auditd
//! already runs.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use tlog_rs_tests::audit_state::{wait_for, AuditState};
use tlog_rs_tests::central::audit_counts;
use tlog_rs_tests::daemons::TempDir;
use tlog_rs_tests::{artifact, require_program, require_root};

const TEST: &str = "laurel_plugin_events_reach_the_index";

fn tlog_rs(t: &Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(artifact("tlog-rs"))
        .args(args)
        .arg("--config")
        .arg(t.join("central.toml"))
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

#[test]
fn laurel_plugin_events_reach_the_index() {
    if !require_root(TEST) {
        return;
    }
    require_program("auditd", "auditd");
    require_program("laurel", "laurel");
    require_program("bash", "bash");
    let Some(mut audit) = AuditState::prepare(TEST) else {
        return;
    };
    let tmp = TempDir::new("audit-laurel");
    let t = tmp.root();
    let work = t.join("work");
    let laurel_dir = t.join("laurel");
    let recs = t.join("recs");
    for d in [&work, &laurel_dir, &recs] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(t.join("central.toml"), "").unwrap();
    // laurel drops privileges to `user`; root keeps the test's private
    // directory reachable. ARGV as an array, as the index reads it.
    let laurel_conf = t.join("laurel.toml");
    fs::write(
        &laurel_conf,
        format!(
            "directory = \"{}\"\nuser = \"root\"\nstatusreport-period = 0\n\
             [auditlog]\nfile = \"audit.log\"\nsize = 5000000\ngenerations = 2\n\
             [transform]\nexecve-argv = [ \"array\" ]\n",
            laurel_dir.display()
        ),
    )
    .unwrap();
    let auditd_dir = t.join("auditd");
    fs::create_dir_all(auditd_dir.join("plugins.d")).unwrap();
    fs::write(
        auditd_dir.join("plugins.d/laurel.conf"),
        format!(
            "active = yes\ndirection = out\ntype = always\nformat = string\n\
             path = /usr/sbin/laurel\nargs = --config {}\n",
            laurel_conf.display()
        ),
    )
    .unwrap();
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

    // node = this host's name, as the recorder's `host`.
    audit.start_auditd(&auditd_dir, None);
    audit.load_rules(&rules);
    let rec_file = recs.join("session.log");
    let inner = format!("cd {}; touch f; rm f", work.display());
    let o = Command::new("bash")
        .arg("-c")
        .arg("echo 1 > /proc/self/loginuid || exit 99; exec \"$@\"")
        .arg("bash")
        .arg(artifact("tlog-rs-rec"))
        .args(["-w", "file", "-o"])
        .arg(&rec_file)
        .args(["--notice=", "sh", "-c", &inner])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // laurel writes an event once auditd passed it on.
    let laurel_log = laurel_dir.join("audit.log");
    wait_for(&laurel_log, "laurel's event of rm", |t| {
        t.contains("\"ARGV\":[\"rm\",\"f\"]")
    });
    audit.restore_and_check();
    // laurel ran as auditd's child and ended with it.
    let text = fs::read_to_string(&laurel_log).unwrap();
    let laurel_events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        laurel_events.iter().all(|e| e["NODE"].is_string()),
        "laurel events without NODE: {text}"
    );

    let recs_s = recs.to_str().unwrap();
    let laurel_s = laurel_dir.to_str().unwrap();
    let (ok, stats, err) = tlog_rs(
        t,
        &["index", "--jsonl", recs_s, "--jsonl", laurel_s, "--stats"],
    );
    assert!(ok, "{err}\n{stats}");
    assert!(stats.contains(" 0 bad lines"), "{stats}\n{err}");
    let (new, total) = audit_counts(&stats);
    assert_eq!(new, laurel_events.len() as u64, "{stats}");
    assert_eq!(total, new, "{stats}");

    // Joined to the recording by ses, with laurel's argv, cwd and paths.
    let (ok, so, se) = tlog_rs(t, &["search", "--json", "--exec", "/usr/bin/rm"]);
    assert!(ok, "{se}\n{so}");
    let hits: Vec<Value> = so
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1, "{so}");
    let rec = hits[0]["rec"].as_str().unwrap().to_string();
    let (ok, so, se) = tlog_rs(t, &["show", "--audit", "--json", &rec]);
    assert!(ok, "{se}");
    let lines: Vec<Value> = so
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["join"], "ses", "{so}");
    let touch = lines[1..]
        .iter()
        .find(|e| e["kind"] == "exec" && e["event"]["argv"] == serde_json::json!(["touch", "f"]))
        .unwrap_or_else(|| panic!("no exec of touch f: {so}"));
    assert_eq!(touch["event"]["cwd"], work.to_str().unwrap(), "{so}");
    assert_eq!(touch["event"]["auid"], 1, "{so}");
    assert!(
        lines[1..].iter().any(|e| e["kind"] == "file"
            && e["event"]["comm"] == "rm"
            && e["event"]["paths"].as_array().is_some_and(|p| p
                .iter()
                .any(|p| p["name"] == "f" && p["nametype"] == "DELETE"))),
        "no deletion of f: {so}"
    );

    // A second run adds nothing.
    let (ok, stats, err) = tlog_rs(
        t,
        &["index", "--jsonl", recs_s, "--jsonl", laurel_s, "--stats"],
    );
    assert!(ok, "{err}");
    assert_eq!(audit_counts(&stats), (0, total), "{stats}");
}
