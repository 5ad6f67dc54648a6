//! `make install` / `make uninstall` for real, inside a mount namespace whose
//! /usr, /etc, /var and /run are overlays (upper layers in a temp dir), so the
//! host is untouched. Also a DESTDIR staging install.

use std::path::{Path, PathBuf};
use std::process::Command;

use tlog_rs_tests::{require_program, require_root, target_dir};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn multiarch() -> String {
    let out = Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .expect("gcc");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tlog-rs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const INSTALLED: &[&str] = &[
    "/usr/bin/tlog-rs",
    "/usr/bin/tlog-rs-rec",
    "/usr/bin/tlog-rs-rec-session",
    "/lib/@MA@/security/pam_tlog.so",
    "/lib/@MA@/libnss_tlog.so.2",
    "/lib/@MA@/tlog-rs/libnss_tlog_fallback.so",
    "/usr/share/man/man8/pam_tlog.8",
    "/usr/share/man/man8/nss_tlog.8",
    "/usr/share/man/man8/tlog-rs-rec-session.8",
    "/usr/share/man/man1/tlog-rs.1",
    "/usr/share/man/man5/tlog-rs-policy.toml.5",
    "/lib/systemd/system/tlog-rs-sync.service",
    "/lib/systemd/system/tlog-rs-sync.timer",
    "/lib/systemd/system/tlog-rs-index.service",
    "/lib/systemd/system/tlog-rs-index.timer",
    "/lib/systemd/system/tlog-rs-purge.service",
    "/lib/systemd/system/tlog-rs-purge.timer",
    "/lib/systemd/system/tlog-rs-web.service",
    "/lib/systemd/system/tlog-rs-snapshot.service",
    "/lib/systemd/system/tlog-rs-snapshot.path",
    "/usr/bin/tlog-rs-web-auth",
    "/etc/pam.d/tlog-rs-web",
    "/etc/tlog-rs/policy.toml",
    "/etc/tlog-rs/rec-session.conf",
];

#[test]
fn make_install_and_uninstall_in_an_overlay_namespace() {
    if !require_root("make_install_and_uninstall_in_an_overlay_namespace") {
        return;
    }
    require_program("make", "make");
    let t = tmpdir("install");
    for d in ["usr", "etc", "var", "run"] {
        std::fs::create_dir_all(t.join(format!("{d}-up"))).unwrap();
        std::fs::create_dir_all(t.join(format!("{d}-wk"))).unwrap();
    }
    let ma = multiarch();
    let files: Vec<String> = INSTALLED.iter().map(|f| f.replace("@MA@", &ma)).collect();
    let exists = |list: &[String]| {
        list.iter()
            .map(|f| format!("test -e {f} && echo HAVE {f}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let script = format!(
        r#"set -e
T={t}
for d in usr etc var run; do mount -t overlay tlog_rs_$d -o lowerdir=/$d,upperdir=$T/$d-up,workdir=$T/$d-wk /$d; done
cd {repo}
make -s install TARGET={target} >$T/install1.log 2>&1
set +e
echo "=== after install"; {exists}
# The units as systemd reads them (offline; the binaries are installed).
command -v systemd-analyze >/dev/null && systemd-analyze verify --man=no /lib/systemd/system/tlog-rs-*.service /lib/systemd/system/tlog-rs-*.timer /lib/systemd/system/tlog-rs-*.path 2>&1 | sed 's/^/UNIT-PROBLEM /'
echo "=== nss"
printf 'passwd: tlog files\ngroup: files\n' > /etc/nsswitch.conf
LD_DEBUG=libs getent passwd root 2>&1 | grep -c 'libnss_tlog.so.2' | sed 's/^/NSS-LOADS /'
# Without a snapshot the module hands the lookup to its installed fallback.
rm -f /run/tlog-rs/policy.snapshot
LD_DEBUG=libs getent passwd root 2>&1 | grep -c 'calling init: .*/tlog-rs/libnss_tlog_fallback.so' | sed 's/^/FALLBACK-LOADS /'
getent passwd root | cut -d: -f7 | sed 's/^/ROOT-SHELL /'
echo "=== recorder account"
stat -c 'RECORDER %U:%G %a' /usr/bin/tlog-rs-rec-session
stat -c 'LOGDIR %U:%G %a' /var/log/tlog-rs
# The file writer out of the box, for two users at once, no chmod anywhere.
printf '{{"writer":"file","file":{{"path":"/var/log/tlog-rs/rec.log"}},"notice":""}}\n' > /etc/tlog-rs/rec-session.conf
useradd -m -s /bin/sh tlogrs-inst-a && useradd -m -s /bin/sh tlogrs-inst-b
su tlogrs-inst-a -s /usr/bin/tlog-rs-rec-session -c 'echo from-a; sleep 1' </dev/null &
su tlogrs-inst-b -s /usr/bin/tlog-rs-rec-session -c 'echo from-b; sleep 1' </dev/null &
wait
stat -c 'LOG %U:%G %a' /var/log/tlog-rs/rec.log /var/log/tlog-rs/rec.log.events
grep -c from-a /var/log/tlog-rs/rec.log | sed 's/^/A-RECORDED /'
grep -c from-b /var/log/tlog-rs/rec.log | sed 's/^/B-RECORDED /'
su tlogrs-inst-a -s /bin/sh -c ': > /var/log/tlog-rs/rec.log' 2>/dev/null && echo USER-TRUNCATED
su tlogrs-inst-a -s /bin/sh -c 'cat /var/log/tlog-rs/rec.log' >/dev/null 2>&1 && echo USER-READ
cp etc/tlog-rs/rec-session.conf /etc/tlog-rs/rec-session.conf
echo "=== web UI as its own account"
stat -c 'WEBAUTH %U:%G %a' /usr/bin/tlog-rs-web-auth
stat -c 'STATEDIR %U:%G %a' /var/lib/tlog-rs
WEBGID=$(getent group tlog-rs-web | cut -d: -f3)
useradd -M -s /bin/sh tlogrs-web-u && echo 'tlogrs-web-u:pw-42-web' | chpasswd
# The index as tlog-rs-index.service makes it: root, group tlog-rs-web, umask 0007.
printf 'db = "/var/lib/tlog-rs/central.db"\n[sources]\njsonl = ["/var/log/tlog-rs"]\n' > /etc/tlog-rs/central.toml
(umask 0007; setpriv --regid=$WEBGID --clear-groups /usr/bin/tlog-rs index --quiet)
stat -c 'DB %U:%G %a' /var/lib/tlog-rs/central.db
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout $T/web.key -out $T/web.pem 2>/dev/null
chmod 0644 $T/web.key
# As tlog-rs-web.service starts it.
(umask 0007; exec setpriv --reuid=tlog-rs-web --regid=$WEBGID --init-groups /usr/bin/tlog-rs web --listen 127.0.0.1:{web_port} --tls-cert $T/web.pem --tls-key $T/web.key) >$T/web.log 2>&1 &
WEBPID=$!
B=https://127.0.0.1:{web_port}
for i in $(seq 150); do curl -ks -o /dev/null $B/login && break; sleep 0.1; done
awk '/^Uid:/ {{print "WEB-UIDS", $2, $3, $4, $5}}' /proc/$WEBPID/status
id -u tlog-rs-web | sed 's/^/WEB-ACCOUNT /'
login() {{
    rm -f $T/jar
    tok=$(curl -ks -c $T/jar -b $T/jar $B/login | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
    curl -ks -c $T/jar -b $T/jar -o /dev/null -w "$1 %{{http_code}}\n" --data-urlencode user=tlogrs-web-u --data-urlencode "password=$2" --data-urlencode "csrf=$tok" $B/login
}}
login LOGIN-WRONG wrong-password
login LOGIN-RIGHT pw-42-web
curl -ks -b $T/jar -o $T/home.html -w 'HOME %{{http_code}}\n' $B/
grep -c tlogrs-web-u $T/home.html | sed 's/^/HOME-NAMES-USER /'
# Control: without its set-uid bit the helper cannot read /etc/shadow.
chmod 0750 /usr/bin/tlog-rs-web-auth
login LOGIN-NOSUID pw-42-web
chmod 4750 /usr/bin/tlog-rs-web-auth
kill $WEBPID; wait $WEBPID 2>/dev/null
echo "=== reinstall keeps config"
echo '# admin edit' >> /etc/tlog-rs/policy.toml
make -s install TARGET={target} >$T/install2.log 2>&1
grep -c 'admin edit' /etc/tlog-rs/policy.toml | sed 's/^/KEPT /'
test -e /etc/tlog-rs/policy.toml.example && echo EXAMPLE-SHIPPED
echo "=== uninstall"
make -s uninstall >$T/uninstall.log 2>&1
{exists}
test -e /etc/tlog-rs/policy.toml && echo MODIFIED-POLICY-KEPT
echo END"#,
        t = t.display(),
        repo = repo().display(),
        target = target_dir().display(),
        exists = exists(&files),
        web_port = tlog_rs_tests::slapd::free_port(),
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let o = String::from_utf8_lossy(&out.stdout).into_owned();
    let logs = std::fs::read_to_string(t.join("install1.log")).unwrap_or_default();
    assert!(
        o.contains("END"),
        "script failed: {o}\n{}\n{logs}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (after_install, rest) = o.split_once("=== nss").unwrap();
    for f in &files {
        assert!(
            after_install.contains(&format!("HAVE {f}")),
            "{f} not installed:\n{o}\n{logs}"
        );
    }
    assert!(
        !o.contains("NSS-LOADS 0"),
        "glibc did not load the installed NSS module: {o}"
    );
    assert!(
        o.contains("FALLBACK-LOADS 1"),
        "the NSS module did not load its installed fallback: {o}"
    );
    // The fallback parsed the installed policy (without it every user,
    // root included, would get the recorder: fail secure).
    assert!(o.contains("ROOT-SHELL /bin/bash"), "{o}");
    assert!(!o.contains("UNIT-PROBLEM"), "systemd-analyze verify: {o}");
    // The recorder account and the file writer's directory (issue 9).
    assert!(o.contains("RECORDER tlog-rs:root 4755"), "{o}\n{logs}");
    assert!(o.contains("LOGDIR tlog-rs:adm 2750"), "{o}");
    // The web UI (issue 12): its own account, the set-uid helper only that
    // account may run, the index shared through the group.
    assert!(o.contains("WEBAUTH root:tlog-rs-web 4750"), "{o}\n{logs}");
    assert!(o.contains("STATEDIR root:tlog-rs-web 2770"), "{o}");
    assert!(o.contains("DB root:tlog-rs-web 660"), "{o}");
    let web_log = std::fs::read_to_string(t.join("web.log")).unwrap_or_default();
    let account = o
        .lines()
        .find_map(|l| l.strip_prefix("WEB-ACCOUNT "))
        .unwrap_or_else(|| panic!("no account: {o}"));
    assert!(
        o.contains(&format!("WEB-UIDS {account} {account} {account} {account}")),
        "the server does not run as tlog-rs-web: {o}\n{web_log}"
    );
    assert!(o.contains("LOGIN-RIGHT 303"), "{o}\n{web_log}");
    assert!(!o.contains("LOGIN-WRONG 303"), "{o}");
    assert!(
        o.contains("HOME 200") && !o.contains("HOME-NAMES-USER 0"),
        "{o}"
    );
    assert!(
        !o.contains("LOGIN-NOSUID 303"),
        "a login worked without the helper's privilege: {o}"
    );
    assert!(o.contains("LOG tlog-rs:adm 640"), "log files: {o}");
    assert!(
        o.contains("A-RECORDED 1") && o.contains("B-RECORDED 1"),
        "both users recorded into the shared log: {o}"
    );
    assert!(
        !o.contains("USER-TRUNCATED") && !o.contains("USER-READ"),
        "a recorded user could touch the log: {o}"
    );
    assert!(
        o.contains("KEPT 1") && o.contains("EXAMPLE-SHIPPED"),
        "reinstall overwrote config: {o}"
    );
    let after_uninstall = rest.split_once("=== uninstall").unwrap().1;
    for f in &files {
        if f != "/etc/tlog-rs/policy.toml" {
            assert!(
                !after_uninstall.contains(&format!("HAVE {f}")),
                "{f} left after uninstall:\n{o}"
            );
        }
    }
    assert!(
        o.contains("MODIFIED-POLICY-KEPT"),
        "uninstall removed the admin's policy: {o}"
    );
    // The host saw none of it.
    assert!(
        !Path::new(&format!("/lib/{ma}/security/pam_tlog.so")).exists(),
        "installed on the host!"
    );
    let _ = std::fs::remove_dir_all(&t);
}

#[test]
fn make_install_with_destdir_stages_everything() {
    require_program("make", "make");
    let t = tmpdir("destdir");
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo())
        .arg("install")
        .arg(format!("DESTDIR={}", t.display()))
        .arg(format!("TARGET={}", target_dir().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ma = multiarch();
    for f in INSTALLED {
        let p = t.join(f.replace("@MA@", &ma).trim_start_matches('/'));
        assert!(p.exists(), "{} missing", p.display());
    }
    let _ = std::fs::remove_dir_all(&t);
}
