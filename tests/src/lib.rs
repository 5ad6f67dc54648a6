//! Helpers shared by the end-to-end tests: finding the built binaries,
//! requiring root and system tools. Area-specific harnesses live in their own
//! modules (e.g. `sshd`, `slapd`), each declared below.

use std::path::PathBuf;
use std::process::Command;

/// Directory holding the workspace's built binaries and cdylibs (target/debug
/// or target/release, whichever built this test).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(|p| p.parent())
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Path of a workspace binary or library; panics with a clear message if it
/// was not built (run `cargo build --workspace` first, as `tests/run` does).
pub fn artifact(name: &str) -> PathBuf {
    let p = target_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        p.display()
    );
    p
}

/// Run the built `tlog-rs` with `args`, stdin from /dev/null.
pub fn tlog_rs(args: &[&str]) -> std::process::Output {
    std::process::Command::new(artifact("tlog-rs"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tlog-rs")
}

/// Output bytes as text, for assertions and messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// True if the tests run as root (needed for namespaces, sshd, PAM).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fail loudly unless we are root; system-level tests cannot run otherwise.
/// Set TLOG_RS_SKIP_SYSTEM_TESTS=1 to skip them on a developer machine.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var_os("TLOG_RS_SKIP_SYSTEM_TESTS").is_some() {
        eprintln!("SKIP {test}: needs root (TLOG_RS_SKIP_SYSTEM_TESTS is set)");
        return false;
    }
    panic!(
        "{test} needs root: run the suite as root (tests/run) or set TLOG_RS_SKIP_SYSTEM_TESTS=1"
    );
}

/// Path of a required system program; panics naming the missing package.
pub fn require_program(prog: &str, package: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "{prog} is not installed: apt-get install {package} (.ci/run does this)"
    );
    PathBuf::from(path)
}
pub mod audit_state;
pub mod bench;
pub mod central;
pub mod daemons;
pub mod es_double;
pub mod kdc;
pub mod nsenv;
pub mod play;
pub mod postgres;
pub mod rec;
pub mod slapd;
pub mod sshd;
pub mod sssd_table;
mod tempdir;
pub mod web;

pub use tempdir::TempDir;
