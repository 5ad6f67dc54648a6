//! scp/sftp for a recorded user. Decision (docs/deployment.md): they are
//! recorded like any other session, as tlog does: sshd runs them through the
//! login shell (`$SHELL -c sftp-server`), so the recorder sees the stream.
//! Auditors get the evidence of what left the host (downloads are output,
//! recorded by default; uploads are input, recorded with log_input = true).
//! Skipping them by command name is bypassable (open-bastion#287), and
//! recording only the command line would lose the content. Volume is bounded
//! with the rate-limit settings, per rule.

use std::process::Command;

use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{file_settings, run_with_stdin, World, WorldConfig};
use tlog_rs_tests::text;

#[test]
fn scp_and_sftp_work_and_are_recorded() {
    if !require_root("scp_and_sftp_work_and_are_recorded") {
        return;
    }
    let mut cfg = WorldConfig::new("transfer");
    cfg.user("alice", &[]);
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n[rule.settings]\nlog_input = true\n{}",
        file_settings("alice")
    ));
    let w = World::start(cfg);
    let home = w.dir.join("home/alice");
    let secret = "quarterly-figures-7f3a9c";
    std::fs::write(home.join("report.txt"), format!("{secret}\n")).unwrap();
    assert!(Command::new("chown")
        .arg("2001:2001")
        .arg(home.join("report.txt"))
        .status()
        .unwrap()
        .success());

    // scp download (OpenSSH 9 scp speaks the SFTP protocol).
    let local = w.dir.join("downloaded.txt");
    let mut scp = Command::new("scp");
    scp.args([
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args(["-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-i"])
    .arg(w.key("alice"))
    .args(["-P", &w.port.to_string()])
    .arg(format!("alice@127.0.0.1:{}/report.txt", home.display()))
    .arg(&local);
    let out = run_with_stdin(scp, b"");
    assert!(out.status.success(), "scp: {}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&local).unwrap(),
        format!("{secret}\n")
    );
    let rec = w.recording("alice");
    assert!(
        rec.contains(secret),
        "downloaded content not in the recording"
    );

    // sftp upload, with input logging on for this rule.
    let upload = w.dir.join("upload.txt");
    std::fs::write(&upload, "uploaded-payload-42c1\n").unwrap();
    let mut sftp = Command::new("sftp");
    sftp.args([
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args(["-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-i"])
    .arg(w.key("alice"))
    .args(["-P", &w.port.to_string(), "-b", "-"])
    .arg("alice@127.0.0.1");
    let out = run_with_stdin(
        sftp,
        format!("put {} {}/up.txt\n", upload.display(), home.display()).as_bytes(),
    );
    assert!(
        out.status.success(),
        "sftp: {} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(home.join("up.txt")).unwrap(),
        "uploaded-payload-42c1\n"
    );
    assert!(
        w.recording("alice").contains("uploaded-payload-42c1"),
        "uploaded content not in the recording"
    );
}
