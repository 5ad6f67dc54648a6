//! The real shell comes from the passwd services *after* our own NSS module.
//! A stand-in `libnss_tlog.so.2` (compiled here) answers first with a
//! recorder shell, as nss_tlog does for recorded users; `getent` shows that
//! override, while `tlog-rs check` (tlog_rs_policy::sys) must report the shell
//! from /etc/passwd.

use serde_json::Value;
use tlog_rs_tests::nsenv::{shell_quote, NsEnv};
use tlog_rs_tests::{artifact, require_program, require_root};

const FAKE_MODULE: &str = r#"
#include <nss.h>
#include <pwd.h>
#include <string.h>
#include <errno.h>
static enum nss_status fill(struct passwd *pw, char *buf, size_t len, int *errnop) {
    const char *name = "user1", *shell = "/fake/tlog-rs-rec-session";
    if (len < 64) { *errnop = ERANGE; return NSS_STATUS_TRYAGAIN; }
    strcpy(buf, name); strcpy(buf + 16, shell); buf[60] = 0;
    pw->pw_name = buf; pw->pw_passwd = buf + 60; pw->pw_uid = 1001; pw->pw_gid = 2001;
    pw->pw_gecos = buf + 60; pw->pw_dir = buf + 60; pw->pw_shell = buf + 16;
    return NSS_STATUS_SUCCESS;
}
enum nss_status _nss_tlog_getpwnam_r(const char *n, struct passwd *pw, char *b, size_t l, int *e) {
    if (strcmp(n, "user1") != 0) return NSS_STATUS_NOTFOUND;
    return fill(pw, b, l, e);
}
enum nss_status _nss_tlog_getpwuid_r(uid_t u, struct passwd *pw, char *b, size_t l, int *e) {
    if (u != 1001) return NSS_STATUS_NOTFOUND;
    return fill(pw, b, l, e);
}
"#;

#[test]
fn underlying_shell_skips_our_own_nss_module() {
    if !require_root("underlying_shell_skips_our_own_nss_module") {
        return;
    }
    let gcc = require_program("gcc", "gcc");
    let mut env = NsEnv::new("underlying");
    let src = env.write("fake_nss.c", FAKE_MODULE);
    std::fs::create_dir_all(env.root().join("lib")).unwrap();
    let lib = env.root().join("lib/libnss_tlog.so.2");
    let out = std::process::Command::new(gcc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.etc(
        "passwd",
        "root:x:0:0::/root:/bin/sh\nuser1:x:1001:2001::/home/user1:/bin/zsh\nuser2:x:1002:2001::/home/user2:\n",
    )
    .etc("group", "root:x:0:\ngroup1:x:2001:\n")
    .etc("nsswitch.conf", "passwd: tlog [NOTFOUND=return] files\ngroup: files\n")
    .etc("tlog-rs/policy.toml", "[[rule]]\nname = \"all\"\nall_users = true\n");
    let bin = shell_quote(artifact("tlog-rs").as_os_str());
    let libdir = shell_quote(env.root().join("lib").as_os_str());
    let out = env.sh(&format!(
        "export LD_LIBRARY_PATH={libdir}; getent passwd user1; echo ---; \
         {bin} check user1 --json; echo ---; {bin} check user2 --json"
    ));
    let s = String::from_utf8_lossy(&out.stdout);
    let parts: Vec<&str> = s.split("---\n").collect();
    assert_eq!(
        parts.len(),
        3,
        "{s}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The stand-in module is really consulted first by glibc...
    assert_eq!(
        parts[0].trim(),
        "user1::1001:2001:::/fake/tlog-rs-rec-session",
        "{s}"
    );
    // ...but the policy crate reads the entry behind it.
    let u1: Value = serde_json::from_str(parts[1].trim()).unwrap();
    assert_eq!(u1["passwd_shell"], "/bin/zsh", "{u1}");
    assert_eq!(u1["shell"], "/bin/zsh");
    assert_eq!(u1["env"]["TLOG_REC_SESSION_SHELL"], "/bin/zsh");
    // A user the stand-in does not know: its [NOTFOUND=return] must not
    // stop our lookup (we skip our own service entirely, actions included).
    let u2: Value = serde_json::from_str(parts[2].trim()).unwrap();
    assert_eq!(u2["uid"], 1002, "{u2}");
    assert_eq!(u2["shell"], "/bin/sh");
}
