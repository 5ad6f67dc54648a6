//! tlog-rs-rec-session honours a verified PAM hand-off, found through its
//! ancestors (nothing in the environment): `record=true` records with the
//! hand-off's settings and shell (the user's TLOG_REC_* env is ignored);
//! `record=false` runs the real shell unrecorded. The hand-off is
//! written with the policy crate's own writer, bound to this test process (an
//! ancestor of the recorder), into a private /run (tmpfs in a private mount
//! namespace). Root only.

use std::process::{Command, Output, Stdio};

use tlog_rs_policy::handoff::{self, Handoff, ProcId};
use tlog_rs_tests::rec::{messages, sq, TempDir};
use tlog_rs_tests::require_root;

const BIN: &str = env!("CARGO_BIN_EXE_tlog-rs-rec-session");

fn run_with_handoff(dir: &TempDir, h: &Handoff, cmd: &str) -> Output {
    let hdir = dir.path("handoff");
    std::fs::create_dir(&hdir).unwrap();
    Command::new("chmod")
        .arg("711")
        .arg(&hdir)
        .status()
        .unwrap();
    let token = handoff::write_in(&hdir, h, ProcId::current().unwrap()).unwrap();
    let setup = format!(
        "set -e; mount -t tmpfs tlogrs-run /run; mkdir -p -m 755 /run/tlog-rs/handoff; \
         mount --bind {} /run/tlog-rs/handoff; exec {} -c {}",
        sq(hdir.to_str().unwrap()),
        sq(BIN),
        sq(cmd)
    );
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &setup])
        // Neither the old token variable nor tlog's variables count.
        .env("TLOG_RS_HANDOFF", token.to_string())
        // Both would be honoured without a hand-off; with one they are not.
        .env("TLOG_REC_SHELL", "/bin/false")
        .env("TLOG_REC_SESSION_CONF_TEXT", "{\"notice\":\"[env]\\n\"}")
        .env_remove("TLOG_RS_RECORDER")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn handoff_for(record: bool, conf_text: String) -> Handoff {
    Handoff {
        // SAFETY: getuid cannot fail.
        uid: unsafe { libc::getuid() },
        record,
        shell: "/bin/sh".into(),
        conf_text,
        service: "test".into(),
        rule: "test-rule".into(),
        ..Default::default()
    }
}

#[test]
fn handoff_record_uses_its_settings_and_shell() {
    if !require_root("handoff_record_uses_its_settings_and_shell") {
        return;
    }
    let dir = TempDir::new("handoff-rec");
    let log = dir.path("pam.log");
    let conf = format!(
        "{{\"writer\":\"file\",\"file\":{{\"path\":{:?}}},\"notice\":\"[pam]\\n\",\"log\":{{\"input\":true}}}}",
        log.to_str().unwrap()
    );
    let o = run_with_handoff(&dir, &handoff_for(true, conf), "echo \"via-pam $SHELL\"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(o.stdout, b"via-pam /bin/sh\n");
    assert!(err.contains("[pam]") && !err.contains("[env]"), "{err}");
    let m = messages(&log);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["out_txt"], "via-pam /bin/sh\n");
}

#[test]
fn handoff_no_record_runs_the_shell_unrecorded() {
    if !require_root("handoff_no_record_runs_the_shell_unrecorded") {
        return;
    }
    let dir = TempDir::new("handoff-norec");
    let o = run_with_handoff(
        &dir,
        &handoff_for(false, String::new()),
        "echo \"plain $SHELL\"",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(o.stdout, b"plain /bin/sh\n");
    // No notice, and nothing tried to open the default journal sink (which
    // does not exist here and would have refused the session).
    assert!(
        !err.contains("ATTENTION") && !err.contains("[env]"),
        "{err}"
    );
}

#[test]
fn nested_recorder_in_the_same_login_does_not_record_twice() {
    if !require_root("nested_recorder_in_the_same_login_does_not_record_twice") {
        return;
    }
    // The outer recorder records this login; the inner one inherits the same
    // hand-off token and the outer's marker: same login, so it runs the shell.
    let dir = TempDir::new("handoff-nested");
    let log = dir.path("pam.log");
    let conf = format!(
        "{{\"writer\":\"file\",\"file\":{{\"path\":{:?}}},\"notice\":\"\"}}",
        log.to_str().unwrap()
    );
    let inner = format!("{} -c 'echo inner-$$'", sq(BIN));
    let o = run_with_handoff(&dir, &handoff_for(true, conf), &inner);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = messages(&log);
    let recs: std::collections::BTreeSet<_> = m.iter().map(|x| x["rec"].to_string()).collect();
    assert_eq!(recs.len(), 1, "one recording, not two: {m:?}");
    let out: String = m.iter().filter_map(|x| x["out_txt"].as_str()).collect();
    assert_eq!(out.matches("inner-").count(), 1, "{out}");
}

#[test]
fn a_process_posing_as_a_recorder_cannot_unrecord_a_new_login_below_it() {
    if !require_root("a_process_posing_as_a_recorder_cannot_unrecord_a_new_login_below_it") {
        return;
    }
    // A user's own process named like the recorder exports a marker naming
    // itself, then a new login (PAM, here a stand-in shell) happens below it.
    // The hand-off's PAM process is a descendant of the marked process, so
    // the marker must be ignored and the new login recorded.
    let dir = TempDir::new("handoff-fake");
    let fake = dir.path("tlog-rec-session"); // comm: tlog-rec-sessio
    std::os::unix::fs::symlink("/bin/sh", &fake).unwrap();
    let hdir = dir.path("handoff");
    std::fs::create_dir(&hdir).unwrap();
    Command::new("chmod")
        .arg("711")
        .arg(&hdir)
        .status()
        .unwrap();
    let pidfile = dir.path("pam.pid");
    let tokenfile = dir.path("token");
    let log = dir.path("login.log");
    let recorder = format!(
        "mount -t tmpfs tlogrs-run /run; mkdir -p -m 755 /run/tlog-rs/handoff; \
         mount --bind {} /run/tlog-rs/handoff; exec {} -c 'echo new-login'",
        sq(hdir.to_str().unwrap()),
        sq(BIN)
    );
    let pam = format!(
        "echo $$ > {pid}; while [ ! -s {tok} ]; do sleep 0.05; done; \
         TLOG_RS_HANDOFF=$(cat {tok}) unshare -m --propagation private sh -c {rec}",
        pid = sq(pidfile.to_str().unwrap()),
        tok = sq(tokenfile.to_str().unwrap()),
        rec = sq(&recorder)
    );
    let fake_script = format!(
        "export TLOG_RS_RECORDER=\"$$:$(cut -d' ' -f22 /proc/$$/stat)\"; sh -c {}",
        sq(&pam)
    );
    let child = Command::new(&fake)
        .arg("-c")
        .arg(&fake_script)
        .env_remove("TLOG_RS_RECORDER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pam_pid: u32 = loop {
        if let Ok(s) = std::fs::read_to_string(&pidfile) {
            if let Ok(p) = s.trim().parse() {
                break p;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let conf = format!(
        "{{\"writer\":\"file\",\"file\":{{\"path\":{:?}}},\"notice\":\"\"}}",
        log.to_str().unwrap()
    );
    let token = handoff::write_in(
        &hdir,
        &handoff_for(true, conf),
        ProcId::of(pam_pid).unwrap(),
    )
    .unwrap();
    std::fs::write(&tokenfile, token.to_string()).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(o.stdout, b"new-login\n");
    let m = messages(&log);
    assert_eq!(m.len(), 1, "the new login must be recorded: {err}");
    assert_eq!(m[0]["out_txt"], "new-login\n");
}
