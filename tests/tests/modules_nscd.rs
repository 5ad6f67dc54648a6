//! End-to-end with Debian's real nscd caching passwd inside the login world:
//! a stale cached answer never gives a recorded user an unrecorded session.
//!
//! nscd runs inside the world's mount namespace (private /run, so its socket
//! /run/nscd/socket is reachable only from there), with a private config:
//! passwd cached for an hour, not shared (every lookup goes over the socket,
//! so `nscd -g` counts the hits), no file checks. sshd, su and getent in the
//! namespace all ask it; pam_tlog's real-shell lookup must not.
//! - `nscd_caches_the_recorder_shell_and_the_login_runs_the_real_shell`:
//!   nscd serves the recorder shell for a selected user, the ssh login is
//!   recorded, and the hand-off names the real shell from /etc/passwd (not
//!   the fallback pam_tlog uses when it sees its own cached answer).
//! - `stale_nscd_answers_after_a_policy_change_give_no_unrecorded_session`:
//!   after the policy changes under nscd, a user no longer selected (cached
//!   shell still the recorder) gets the real shell unrecorded (hand-off
//!   record=false, syslog record=no), and a newly selected user (cached shell
//!   still plain) is refused (fail=closed) on ssh and su.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tlog_rs_tests::sshd::{file_settings, World, WorldConfig};
use tlog_rs_tests::text;
use tlog_rs_tests::{require_program, require_root};

const NSCD_CONF: &str = "\
logfile {T}/nscd.log
debug-level 1
threads 2
max-threads 4
paranoia no
enable-cache passwd yes
positive-time-to-live passwd 3600
negative-time-to-live passwd 3600
suggested-size passwd 211
check-files passwd no
persistent passwd no
shared passwd no
enable-cache group no
enable-cache hosts no
enable-cache services no
enable-cache netgroup no
";

fn policy_recording(user: &str) -> String {
    format!(
        "[[rule]]\nname = \"{user}\"\nusers = [\"{user}\"]\naction = \"record\"\n[rule.settings]\n{}",
        file_settings(user)
    )
}

fn world(tag: &str, selected: &str) -> World {
    let mut cfg = WorldConfig::new(tag);
    cfg.capture_syslog = true;
    cfg.user("alice", &[]).user("bob", &[]);
    cfg.policy(&policy_recording(selected));
    World::start(cfg)
}

/// nscd in the foreground (`-F`), entered into the world's namespace by
/// nsenter (which execs it: the child is nscd). Stopped on drop.
struct Nscd<'a> {
    w: &'a World,
    child: Option<Child>,
}

impl<'a> Nscd<'a> {
    fn start(w: &'a World) -> Nscd<'a> {
        require_program("nscd", "nscd");
        let conf = w.dir.join("nscd.conf");
        std::fs::write(
            &conf,
            NSCD_CONF.replace("{T}", &w.dir.display().to_string()),
        )
        .unwrap();
        // The namespace's /run is its own tmpfs, not the host's, and holds no
        // nscd socket yet: nothing we do can reach or disturb a host nscd.
        let host_run = std::fs::metadata("/run").expect("stat /run");
        let out = w.ns_sh("stat -c %d /run; test ! -e /run/nscd/socket && echo no-socket");
        let o = text(&out.stdout);
        let ns_dev: u64 = o.lines().next().unwrap_or("").trim().parse().unwrap_or(0);
        use std::os::unix::fs::MetadataExt;
        assert_ne!(
            ns_dev,
            host_run.dev(),
            "the world's /run is the host's /run"
        );
        assert!(
            o.contains("no-socket"),
            "an nscd socket is already in the world: {o}"
        );
        let out = w.ns_sh("mkdir -m 755 /run/nscd");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let child = Command::new("nsenter")
            .args([
                "-t",
                &w.sshd_pid().to_string(),
                "-m",
                "--",
                "nscd",
                "-F",
                "-f",
            ])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nscd");
        let mut n = Nscd {
            w,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !w.ns_sh("nscd -g >/dev/null 2>&1").status.success() {
            if let Some(Ok(Some(st))) = n.child.as_mut().map(|c| c.try_wait()) {
                panic!("nscd exited: {st}\n{}", n.log());
            }
            assert!(
                Instant::now() < deadline,
                "nscd did not answer:\n{}",
                n.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The socket nscd -g talks to belongs to OUR nscd, and the host does
        // not see it.
        let pid = text(&w.ns_sh("cat /run/nscd/nscd.pid").stdout);
        let our = n.child.as_ref().unwrap().id();
        if !pid.trim().is_empty() {
            assert_eq!(
                pid.trim(),
                our.to_string(),
                "another nscd answers in the world"
            );
        }
        let ns_sock = text(&w.ns_sh("stat -c %d:%i /run/nscd/socket").stdout);
        if let Ok(m) = std::fs::metadata("/run/nscd/socket") {
            assert_ne!(
                ns_sock.trim(),
                format!("{}:{}", m.dev(), m.ino()),
                "the world's nscd socket is the host's"
            );
        }
        n
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.w.dir.join("nscd.log")).unwrap_or_default()
    }

    /// "cache hits on positive entries" of the passwd cache (`nscd -g`).
    fn passwd_hits(&self) -> u64 {
        let out = self.w.ns_sh("nscd -g");
        let g = text(&out.stdout);
        let passwd = g.split("passwd cache:").nth(1).expect("passwd section");
        passwd
            .lines()
            .find(|l| l.contains("cache hits on positive entries"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no hit count in nscd -g:\n{g}"))
    }
}

impl Drop for Nscd<'_> {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = self.w.ns_sh("nscd -K");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn shell_of(passwd_line: &str) -> &str {
    passwd_line.trim().rsplit(':').next().unwrap_or("")
}

/// `getent passwd KEY` in the world, through nscd (or with `-s SERVICES`,
/// which makes glibc skip nscd and ask the services itself).
fn getent(w: &World, services: Option<&str>, key: &str) -> String {
    let s = services.map(|s| format!("-s '{s}' ")).unwrap_or_default();
    let out = w.ns_sh(&format!("getent {s}passwd {key}"));
    assert!(
        out.status.success(),
        "getent {s}passwd {key}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

/// The shell field of `user` in the world's /etc/passwd file.
fn file_shell(w: &World, user: &str) -> String {
    let line = text(&w.ns_sh(&format!("grep '^{user}:' /etc/passwd")).stdout);
    shell_of(&line).to_string()
}

fn recorder(w: &World) -> String {
    w.dir.join("bin/tlog-rs-rec-session").display().to_string()
}

/// What the login saw: an ssh session that prints its shell and its parent,
/// then waits on stdin while we read the hand-off PAM wrote for it.
struct Login {
    stdout: String,
    handoff: serde_json::Value,
}

fn login_reading_handoff(w: &World, user: &str, mark: &str) -> Login {
    let mut c = w.ssh_cmd(user, &[]);
    c.arg(format!(
        "echo exe=$(readlink /proc/$$/exe) parent=$(cat /proc/$PPID/comm) arg0=$0; echo {mark}; read x"
    ))
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("ssh");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(mark) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                seen.push_str(&l);
                seen.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "{user}'s session did not start: {seen}\nstderr: {}\nsshd: {}",
                    text(&out.stderr),
                    w.sshd_log()
                );
            }
        }
    }
    // Exactly one open session, so exactly one hand-off file.
    let names = w.handoffs();
    assert_eq!(names.len(), 1, "hand-offs: {names:?}");
    let raw = text(
        &w.ns_sh(&format!("cat /run/tlog-rs/handoff/{}", names[0]))
            .stdout,
    );
    let handoff: serde_json::Value =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("hand-off {raw:?}: {e}"));
    let mut si = child.stdin.take().unwrap();
    let _ = si.write_all(b"\n");
    drop(si);
    let status = child.wait().expect("wait ssh");
    let _ = reader.join();
    assert!(status.success(), "{user}'s session: {status}");
    Login {
        stdout: seen,
        handoff,
    }
}

#[test]
fn nscd_caches_the_recorder_shell_and_the_login_runs_the_real_shell() {
    if !require_root("nscd_caches_the_recorder_shell_and_the_login_runs_the_real_shell") {
        return;
    }
    let w = world("nscd-cached", "alice");
    let nscd = Nscd::start(&w);
    let rec = recorder(&w);
    let real = file_shell(&w, "alice");
    assert_ne!(real, rec);

    // (a) The selected user's entry, through nscd: the recorder shell, and
    // the second lookup is a cache hit.
    let first = getent(&w, None, "alice");
    let hits = nscd.passwd_hits();
    let second = getent(&w, None, "alice");
    assert_eq!(shell_of(&first), rec, "{first}");
    assert_eq!(second, first);
    assert!(
        nscd.passwd_hits() > hits,
        "nscd did not serve the second lookup:\n{}",
        nscd.log()
    );

    // (b) The login while nscd caches the recorder shell: sshd's lookup is a
    // cache hit, the recorder runs as the login shell, and the real shell it
    // starts is the one from /etc/passwd, not pam_tlog's fallback.
    let hits = nscd.passwd_hits();
    let l = login_reading_handoff(&w, "alice", "nscd-cached-mark");
    assert!(
        nscd.passwd_hits() > hits,
        "the login did not go through nscd:\n{}",
        nscd.log()
    );
    assert_eq!(l.handoff["record"], true, "{}", l.handoff);
    assert_eq!(l.handoff["shell"], real.as_str(), "{}", l.handoff);
    let exe = std::fs::canonicalize(&real).unwrap();
    assert!(
        l.stdout
            .contains(&format!("exe={} parent=tlog-rec-sessio ", exe.display())),
        "not the real shell under the recorder: {}",
        l.stdout
    );
    assert!(
        w.recording("alice").contains("nscd-cached-mark"),
        "no recording: {}",
        w.recording("alice")
    );
    let log = w.syslog().join("\n");
    assert!(
        !log.contains("is the recorder itself"),
        "pam_tlog's real-shell lookup got nscd's answer:\n{log}"
    );
}

#[test]
fn stale_nscd_answers_after_a_policy_change_give_no_unrecorded_session() {
    if !require_root("stale_nscd_answers_after_a_policy_change_give_no_unrecorded_session") {
        return;
    }
    let w = world("nscd-stale", "alice");
    let nscd = Nscd::start(&w);
    let rec = recorder(&w);
    // Cache both users, by name and by uid (sshd and su ask both ways).
    for key in ["alice", "bob", "2001", "2002"] {
        getent(&w, None, key);
    }
    assert_eq!(shell_of(&getent(&w, None, "alice")), rec);
    let bob_plain = getent(&w, None, "bob");
    assert_ne!(shell_of(&bob_plain), rec);

    // Now bob is selected and alice is not.
    let p = w.dir.join("policy-bob.toml");
    std::fs::write(
        &p,
        format!(
            "recorder = \"{rec}\"\n{}",
            policy_recording("bob").replace("{T}", &w.dir.display().to_string())
        ),
    )
    .unwrap();
    let out = w.ns_sh(&format!("cp {} /etc/tlog-rs/policy.toml", p.display()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The services themselves say so; nscd still gives the old answers.
    assert_ne!(shell_of(&getent(&w, Some("tlog files"), "alice")), rec);
    assert_eq!(shell_of(&getent(&w, Some("tlog files"), "bob")), rec);
    let hits = nscd.passwd_hits();
    assert_eq!(shell_of(&getent(&w, None, "alice")), rec);
    assert_eq!(getent(&w, None, "bob"), bob_plain);
    assert!(nscd.passwd_hits() >= hits + 2, "{}", nscd.log());

    // (c) alice, no longer selected, still gets the recorder from nscd: it
    // runs her real shell, unrecorded, as the hand-off says.
    let real = file_shell(&w, "alice");
    let l = login_reading_handoff(&w, "alice", "nscd-stale-alice");
    assert_eq!(l.handoff["record"], false, "{}", l.handoff);
    assert_eq!(l.handoff["shell"], real.as_str(), "{}", l.handoff);
    // The recorder was the login shell (pam_tlog writes a hand-off only when
    // NSS gave it the recorder) and exec'd the real shell: no recorder is left
    // between sshd and the shell.
    let exe = std::fs::canonicalize(&real).unwrap();
    assert!(
        l.stdout
            .contains(&format!("exe={} parent=sshd ", exe.display())),
        "not the real shell straight under sshd: {}",
        l.stdout
    );
    assert!(
        !w.recording("alice").contains("nscd-stale-alice"),
        "alice was recorded: {}",
        w.recording("alice")
    );
    let log = w.syslog().join("\n");
    assert!(
        log.lines()
            .any(|l| l.contains("user=alice service=sshd") && l.contains("record=no")),
        "no record=no decision for alice:\n{log}"
    );

    // (d) bob, newly selected, still gets his plain shell from nscd: the
    // consistency check refuses the session (fail=closed), on ssh and on su.
    let out = w.ssh("bob", &[], Some("echo bob-must-not-run"), b"");
    assert!(
        !text(&out.stdout).contains("bob-must-not-run"),
        "bob's session ran unrecorded: {}",
        text(&out.stdout)
    );
    assert!(!out.status.success());
    let out = w.ns_sh("su - bob -c 'echo bob-must-not-run-su' 2>&1 </dev/null");
    let o = text(&out.stdout);
    assert!(!o.contains("bob-must-not-run-su"), "su ran unrecorded: {o}");
    assert!(
        o.contains("Session recording could not be set up"),
        "no message to the user: {o}"
    );
    let log = w.syslog().join("\n");
    for service in ["sshd", "su"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("user=bob service={service}"))
                    && l.contains("session refused (fail=closed)")
                    && l.contains(&format!(
                        "login shell from NSS is '{}'",
                        shell_of(&bob_plain)
                    ))),
            "no refusal of bob on {service}:\n{log}"
        );
    }
    assert!(!w.recording("bob").contains("bob-must-not-run"));

    // Without nscd the same lookups give the new policy's answers: the stale
    // ones above came from nscd.
    drop(nscd);
    assert_ne!(shell_of(&getent(&w, None, "alice")), rec);
    assert_eq!(shell_of(&getent(&w, None, "bob")), rec);
}
