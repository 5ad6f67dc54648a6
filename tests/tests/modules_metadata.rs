//! The session start entry carries what PAM knew about the login (issue
//! "Central store", part 1): service, rhost, uid, groups, rule, source and
//! fqdn, from the trusted hand-off, over a real sshd and `su -`, with the
//! set-uid recorder. Outside PAM those keys are null.

use tlog_rs_tests::rec::events;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{file_settings, World, WorldConfig};

fn start_entry(w: &World, user: &str, service: &str) -> serde_json::Value {
    events(&w.rec_path(user))
        .into_iter()
        .find(|e| e["event"] == "start" && e["service"] == service)
        .unwrap_or_else(|| panic!("no {service} start entry for {user}:\n{}", w.sshd_log()))
}

#[test]
fn start_entries_describe_the_login() {
    if !require_root("start_entries_describe_the_login") {
        return;
    }
    let mut cfg = WorldConfig::new("metadata");
    cfg.setuid_recorder = true;
    cfg.user("dora", &["dbas", "ops"])
        .group("dbas")
        .group("ops");
    cfg.policy(&format!(
        "[[rule]]\nname = \"dbas\"\ngroups = [\"dbas\"]\naction = \"record\"\n[rule.settings]\n{}",
        file_settings("dora")
    ));
    let w = World::start(cfg);
    let out = w.ssh("dora", &[], Some("echo meta-mark"), b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("meta-mark"));
    let e = start_entry(&w, "dora", "sshd");
    assert_eq!(e["user"], "dora");
    assert_eq!(e["uid"], w.users[0].uid);
    assert_eq!(e["rhost"], "127.0.0.1");
    assert!(
        e["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("policy.toml rule 'dbas'")),
        "{e}"
    );
    assert_eq!(e["source"], "policy.toml");
    let groups: Vec<&str> = e["groups"]
        .as_array()
        .expect("groups is an array")
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert!(groups.contains(&"dbas") && groups.contains(&"ops"), "{e}");
    assert!(e["fqdn"].as_str().is_some_and(|f| !f.is_empty()), "{e}");
    // The end entry names the same login.
    let end = events(&w.rec_path("dora"))
        .into_iter()
        .find(|x| x["event"] == "end" && x["rec"] == e["rec"])
        .expect("end entry");
    assert_eq!(end["service"], "sshd");

    let out = w.ns_sh("su - dora -c 'echo su-meta-mark' </dev/null");
    assert!(String::from_utf8_lossy(&out.stdout).contains("su-meta-mark"));
    let e = start_entry(&w, "dora", "su-l");
    assert_eq!(e["rhost"], "", "su has no remote host: {e}");
}

#[test]
fn outside_pam_the_login_keys_are_null() {
    let dir = tlog_rs_tests::rec::TempDir::new("meta-adhoc");
    let log = dir.path("adhoc.log");
    let out = std::process::Command::new(tlog_rs_tests::artifact("tlog-rs-rec"))
        .args(["-w", "file", "-o"])
        .arg(&log)
        .args(["sh", "-c", "echo adhoc"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = events(&log).remove(0);
    assert_eq!(e["event"], "start");
    for k in ["service", "rhost", "groups", "rule", "source"] {
        assert!(e[k].is_null(), "{k}: {e}");
    }
    // SAFETY: getuid cannot fail.
    assert_eq!(e["uid"], unsafe { libc::getuid() });
}
