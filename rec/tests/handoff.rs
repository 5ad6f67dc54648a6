//! tlog-rs-rec-session honours a verified PAM hand-off: `record=true` records
//! with the hand-off's settings and shell (the user's TLOG_REC_* env is then
//! ignored); `record=false` runs the real shell unrecorded. The hand-off is
//! written with the policy crate's own writer, bound to this test process (an
//! ancestor of the recorder), into a private /run (tmpfs in a private mount
//! namespace). Root only.

use std::process::{Command, Output, Stdio};

use tlog_policy::handoff::{self, Handoff, ProcId};
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
        .env("TLOG_RS_HANDOFF", token)
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
