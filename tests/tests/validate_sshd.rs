//! `tlog-rs validate` reads sshd's effective configuration with the real
//! sshd (`sshd -T` on private config files) and warns where internal-sftp
//! would serve a selected user without the login shell, i.e. unrecorded:
//! globally, through `Match User`, through `Match Group` of a group the
//! policy names, by client address in an included file. Other users and
//! other forced commands (run through the shell, so recorded) give no
//! warning. Warnings keep exit status 0.
//! Runs in a private mount namespace: /run is a tmpfs (sshd -T needs
//! /run/sshd) and /etc an overlay holding the throwaway users.

use std::process::Command;

use tlog_rs_tests::play::tlog_rs;
use tlog_rs_tests::rec::TempDir;
use tlog_rs_tests::{require_program, require_root};

const POLICY: &str = "recorder = \"/bin/sh\"\n\
    [[rule]]\nname = \"admins\"\nusers = [\"tlogsshalice\"]\n\
    [[rule]]\nname = \"ops\"\ngroups = [\"tlogsshops\"]\n";

struct Env {
    dir: TempDir,
    sshd: std::path::PathBuf,
    n: std::cell::Cell<u32>,
}

impl Env {
    fn new() -> Env {
        let sshd = require_program("sshd", "openssh-server");
        let keygen = require_program("ssh-keygen", "openssh-client");
        let dir = TempDir::new("validate-sshd");
        let st = Command::new(keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.path("hostkey"))
            .status()
            .unwrap();
        assert!(st.success());
        dir.write("policy.toml", POLICY.as_bytes());
        Env {
            dir,
            sshd,
            n: 0.into(),
        }
    }

    /// `tlog-rs validate` with this sshd_config body (after the host key);
    /// returns (exit status, stdout).
    fn validate(&self, sshd_config: &str, extra: &[&str]) -> (i32, String) {
        let n = self.n.get() + 1;
        self.n.set(n);
        let conf = self.dir.write(
            &format!("sshd_config.{n}"),
            format!(
                "HostKey {}\n{sshd_config}",
                self.dir.path("hostkey").display()
            )
            .as_bytes(),
        );
        let ovl = self.dir.path(&format!("etc-ovl.{n}"));
        for d in ["up", "work"] {
            std::fs::create_dir_all(ovl.join(d)).unwrap();
        }
        let script = format!(
            "set -e\n\
             mount -t tmpfs tlogrs-run /run\n\
             mkdir -m 755 /run/sshd\n\
             mount -t overlay tlogrs-etc -o lowerdir=/etc,upperdir={up},workdir={work} /etc\n\
             echo 'tlogsshcarol:x:64011:64011::/nonexistent:/bin/sh' >> /etc/passwd\n\
             echo 'tlogsshbob:x:64013:64011::/nonexistent:/bin/sh' >> /etc/passwd\n\
             echo 'tlogsshcarol:x:64011:' >> /etc/group\n\
             echo 'tlogsshops:x:64012:tlogsshcarol' >> /etc/group\n\
             exec \"$@\"",
            up = ovl.join("up").display(),
            work = ovl.join("work").display(),
        );
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
            .arg(tlog_rs())
            .args(["validate", "--policy"])
            .arg(self.dir.path("policy.toml"))
            .arg("--sshd-config")
            .arg(&conf)
            .arg("--sshd")
            .arg(&self.sshd)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.stderr.is_empty(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap(), stdout)
    }
}

/// The sshd check's warnings (the test's recorder is a plain /bin/sh, which
/// validate also warns about: that one is not what these tests look at).
fn warnings(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with("warning:") && !l.contains("is not set-uid"))
        .collect()
}

#[test]
fn internal_sftp_for_selected_users_is_a_warning() {
    if !require_root("validate_sshd") {
        return;
    }
    let env = Env::new();

    // Nothing bypasses the shell: an external sftp server, a forced
    // command (run through the login shell), internal-sftp for a user the
    // policy does not select.
    let (rc, out) = env.validate(
        "Subsystem sftp /opt/sftp-server\n\
         Match User tlogsshalice\n  ForceCommand /bin/true\n\
         Match User tlogsshbob\n  ForceCommand internal-sftp\n",
        &[],
    );
    assert_eq!(rc, 0, "{out}");
    assert!(warnings(&out).is_empty(), "{out}");
    assert!(out.contains(": valid"), "{out}");

    // Globally.
    let (rc, out) = env.validate("Subsystem sftp internal-sftp\n", &[]);
    assert_eq!(rc, 0, "warnings keep exit status 0: {out}");
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{out}");
    assert!(
        w[0].contains("Subsystem sftp internal-sftp for every user")
            && w[0].contains("not recorded"),
        "{out}"
    );

    // Through Match User and Match Group (carol is a listed member of the
    // group a rule names); bob is not selected.
    let (rc, out) = env.validate(
        "Subsystem sftp /opt/sftp-server\n\
         Match User tlogsshalice,tlogsshbob\n  ForceCommand internal-sftp -l INFO\n\
         Match Group tlogsshops\n  ForceCommand internal-sftp\n",
        &[],
    );
    assert_eq!(rc, 0, "{out}");
    let w = warnings(&out);
    assert_eq!(w.len(), 2, "{out}");
    assert!(
        w.iter()
            .any(|l| l.contains("ForceCommand internal-sftp for selected user tlogsshalice")),
        "{out}"
    );
    assert!(
        w.iter()
            .any(|l| l.contains("ForceCommand internal-sftp for selected user tlogsshcarol")),
        "{out}"
    );
    assert!(!out.contains("tlogsshbob"), "{out}");

    // By client address, in an included file: sshd -T cannot apply it
    // without a client, the file scan finds it.
    let inc = env.dir.write(
        "by-address.conf",
        b"Match Address 10.0.0.0/8 User tlogsshalice\n  ForceCommand internal-sftp\n",
    );
    let (rc, out) = env.validate(
        &format!(
            "Subsystem sftp /opt/sftp-server\nInclude {}\n",
            inc.display()
        ),
        &[],
    );
    assert_eq!(rc, 0, "{out}");
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{out}");
    assert!(
        w[0].contains(&format!("({}:2): ForceCommand internal-sftp under \"Match Address 10.0.0.0/8 User tlogsshalice\"", inc.display())),
        "{out}"
    );
}

#[test]
fn missing_sshd_or_config_is_said_and_not_an_error() {
    if !require_root("validate_sshd") {
        return;
    }
    let env = Env::new();
    let (rc, out) = env.validate("", &["--sshd", "/nonexistent/sshd"]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("note: sshd not found at /nonexistent/sshd: sshd check skipped"),
        "{out}"
    );
    let (rc, out) = env.validate("", &["--sshd-config", "/nonexistent/sshd_config"]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("warning: sshd configuration /nonexistent/sshd_config does not exist"),
        "{out}"
    );
    // sshd -T refuses a broken file: its message is shown.
    let (rc, out) = env.validate("NoSuchKeyword yes\n", &[]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("-T -f") && out.contains("NoSuchKeyword"),
        "{out}"
    );
}
