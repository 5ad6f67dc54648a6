//! Issue 13 part 3, the jump server (docs/jump-server.md): a bastion sshd
//! with packaging/jump-server/50-tlog-rs-bastion.conf and a target sshd, both
//! on loopback in one private namespace, Debian's stock PAM stacks and the
//! set-uid recorder on both hops.
//!
//! * Through her recorded shell on the bastion, alice's session on the
//!   target is on the bastion's recording, and the target records it too;
//!   the two recordings are linked in the index by the target's `rhost`
//!   (the bastion's address), the times, and sshd's view of the connection
//!   (the ssh client's port as the target's sshd logged it).
//! * Every forwarded channel is refused: ProxyJump (`ssh -J` is `-W`), `-L`
//!   and `-R`, so no encrypted traffic passes the recorder unseen.
//! * A relay through the recorded shell itself (`ProxyCommand ssh bastion
//!   'cat </dev/tcp/...'`) cannot be told from a legitimate program, so it is
//!   not prevented; it is detected: the target's SSH banner is in the
//!   bastion's recording.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{file_settings, World, WorldConfig};

const BASTION_CONF: &str = include_str!("../../packaging/jump-server/50-tlog-rs-bastion.conf");
const CLIENT_OPTS: &str =
    "-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                           -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10";

fn seen(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The bastion (the World's sshd) and a target sshd in the same namespace,
/// with its own policy copy that records to `{T}/rec-target/`.
struct JumpWorld {
    w: World,
    target_port: u16,
}

impl JumpWorld {
    fn start(tag: &str) -> JumpWorld {
        let mut cfg = WorldConfig::new(tag);
        cfg.group("bastion-users");
        cfg.user("alice", &["bastion-users"]);
        cfg.policy(&format!(
            "[[rule]]\nname = \"bastion\"\ngroups = [\"bastion-users\"]\n[rule.settings]\n{}",
            file_settings("alice")
        ));
        cfg.hardened();
        // The recommended bastion config, not the attack-friendly one.
        cfg.sshd_extra = BASTION_CONF.to_string();
        cfg.capture_syslog = true;
        let w = World::start(cfg);
        let t = w.dir.clone();

        // Alice's key on the bastion, to log in to the target from there.
        let home = t.join("home/alice/.ssh");
        fs::copy(w.key("alice"), home.join("id_ed25519")).unwrap();
        fs::set_permissions(home.join("id_ed25519"), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(home.join("id_ed25519"), Some(2001), Some(2001)).unwrap();

        // The target's policy: the same rule, its own recording directory.
        let policy = fs::read_to_string(t.join("etc/tlog-rs/policy.toml")).unwrap();
        fs::write(
            t.join("target-policy.toml"),
            policy.replace("/rec/alice/", "/rec-target/alice/"),
        )
        .unwrap();
        fs::set_permissions(
            t.join("target-policy.toml"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let acct = w.recorder_account.expect("set-uid recorder account");
        fs::create_dir_all(t.join("rec-target/alice")).unwrap();
        std::os::unix::fs::chown(t.join("rec-target/alice"), Some(acct.uid), Some(acct.gid))
            .unwrap();
        fs::set_permissions(
            t.join("rec-target/alice"),
            fs::Permissions::from_mode(0o750),
        )
        .unwrap();

        // The target's sshd_config: the bastion's base lines without the
        // bastion block, on a port of its own.
        let base = fs::read_to_string(t.join("sshd_config")).unwrap();
        let base = &base[..base.find("# tlog-rs jump server").expect("bastion block")];
        let mut last = String::new();
        for _attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let conf: String = base
                .lines()
                .map(|l| {
                    if l.starts_with("Port ") {
                        format!("Port {port}\n")
                    } else if l.starts_with("PidFile ") {
                        format!("PidFile {}\n", t.join("target.pid").display())
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            fs::write(t.join("target_sshd_config"), conf).unwrap();
            let _ = fs::remove_file(t.join("target.pid"));
            let ts = t.display();
            let out = w.ns_sh(&format!(
                "cd / && setsid unshare -m --propagation private sh -c \
                 'mount --bind {ts}/target-policy.toml /etc/tlog-rs/policy.toml && \
                 exec /usr/sbin/sshd -D -e -f {ts}/target_sshd_config' \
                 >{ts}/target.log 2>&1 </dev/null &"
            ));
            assert!(out.status.success(), "start target: {}", seen(&out));
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if fs::read_to_string(t.join("target.pid")).is_ok_and(|s| !s.trim().is_empty()) {
                    return JumpWorld {
                        w,
                        target_port: port,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last = fs::read_to_string(t.join("target.log")).unwrap_or_default();
        }
        panic!("target sshd did not start: {last}");
    }

    fn rec(&self, hop: &str) -> PathBuf {
        self.w.dir.join(hop).join("alice/session.log")
    }

    /// The start and end entries of one hop's recordings.
    fn entries(&self, hop: &str) -> Vec<Value> {
        let mut p = self.rec(hop).into_os_string();
        p.push(".events");
        fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// ssh from the host to the bastion as alice.
    fn to_bastion(&self, opts: &[&str], cmd: Option<&str>) -> Output {
        self.w.ssh("alice", opts, cmd, b"")
    }

    /// An ssh command line (for the host) that reaches the target through
    /// `proxy` (a ProxyCommand) and runs `cmd` there.
    fn via_proxy(&self, proxy: &str, cmd: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!(
            "exec timeout -k 5 60 ssh {CLIENT_OPTS} -i {key} -o {proxy} -p {port} alice@127.0.0.1 {cmd}",
            key = self.w.key("alice").display(),
            proxy = sq(&format!("ProxyCommand={proxy}")),
            port = self.target_port,
            cmd = sq(cmd),
        ));
        c
    }

    /// `ssh ... alice@bastion` as a ProxyCommand prefix.
    fn bastion_prefix(&self) -> String {
        format!(
            "ssh {CLIENT_OPTS} -i {} -p {} alice@127.0.0.1",
            self.w.key("alice").display(),
            self.w.port
        )
    }

    /// Accepted logins in the target's sshd log.
    fn target_logins(&self) -> usize {
        fs::read_to_string(self.w.dir.join("target.log"))
            .unwrap_or_default()
            .matches("Accepted publickey for alice")
            .count()
    }
}

impl Drop for JumpWorld {
    fn drop(&mut self) {
        if let Ok(pid) = fs::read_to_string(self.w.dir.join("target.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill() has no memory effects; the pid is the target
                // sshd this test started.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
    }
}

fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn start_entry<'a>(entries: &'a [Value], what: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["event"] == "start")
        .unwrap_or_else(|| panic!("no start entry on the {what}: {entries:?}"))
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn the_target_session_is_on_the_bastion_recording_and_both_hops_are_linked() {
    if !require_root("the_target_session_is_on_the_bastion_recording_and_both_hops_are_linked") {
        return;
    }
    let j = JumpWorld::start("jump-hop");
    // The workstation is 127.0.0.3; the bastion listens on 127.0.0.1 and
    // reaches the target from there, so the target sees the bastion's
    // address as its remote host, as a real single-homed bastion's target does.
    let hop = format!(
        "ssh {CLIENT_OPTS} -b 127.0.0.1 -tt -p {} alice@127.0.0.1 'echo target-mark-$((6*7))'",
        j.target_port
    );
    let out = j.to_bastion(&["-tt", "-b", "127.0.0.3"], Some(&hop));
    assert!(seen(&out).contains("target-mark-42"), "{}", seen(&out));
    wait_for("both end entries", || {
        j.entries("rec").iter().any(|e| e["event"] == "end")
            && j.entries("rec-target").iter().any(|e| e["event"] == "end")
    });

    // The target's screen, as the bastion's recorder saw it, and the target's own.
    let (bastion_rec, target_rec) = (read(&j.rec("rec")), read(&j.rec("rec-target")));
    assert!(bastion_rec.contains("target-mark-42"), "{bastion_rec}");
    assert!(target_rec.contains("target-mark-42"), "{target_rec}");

    // What each start entry says about its login's connection.
    let (b, t) = (j.entries("rec"), j.entries("rec-target"));
    let (bs, ts) = (start_entry(&b, "bastion"), start_entry(&t, "target"));
    assert_eq!(
        (&bs["rhost"], &bs["laddr"], &bs["lport"]),
        (
            &Value::from("127.0.0.3"),
            &Value::from("127.0.0.1"),
            &Value::from(j.w.port)
        ),
        "{bs}"
    );
    assert_eq!(
        (&ts["rhost"], &ts["laddr"], &ts["lport"]),
        (
            &Value::from("127.0.0.1"),
            &Value::from("127.0.0.1"),
            &Value::from(j.target_port)
        ),
        "{ts}"
    );
    // The client port is the one the target's sshd logged for this login.
    let port = sshd_client_port(&read(&j.w.dir.join("target.log")));
    assert_eq!(ts["rport"], port, "{ts}");
    assert_eq!(
        (bs["service"].as_str(), ts["service"].as_str()),
        (Some("sshd"), Some("sshd"))
    );
    let be = b.iter().find(|e| e["event"] == "end").unwrap();
    let (b0, b1, t0) = (
        bs["start"].as_f64().unwrap(),
        be["end"].as_f64().unwrap(),
        ts["start"].as_f64().unwrap(),
    );
    assert!(
        b0 <= t0 && t0 <= b1,
        "target start {t0} outside the bastion session [{b0}, {b1}]"
    );

    // The central index links them, both ways.
    let conf = j.w.dir.join("central.toml");
    fs::write(
        &conf,
        format!(
            "db = \"{}\"\n[sources]\njsonl = [\"{}\", \"{}\"]\n",
            j.w.dir.join("index.db").display(),
            j.w.dir.join("rec").display(),
            j.w.dir.join("rec-target").display()
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let o = tlog_rs_tests::tlog_rs(&["index", "--config", conf]);
    assert!(o.status.success(), "{}", seen(&o));
    let show = |rec: &str| -> Value {
        let o = tlog_rs_tests::tlog_rs(&["show", "--config", conf, "--json", rec]);
        assert!(o.status.success(), "{}", seen(&o));
        let first = String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        serde_json::from_str(&first).unwrap()
    };
    let (brec, trec) = (bs["rec"].as_str().unwrap(), ts["rec"].as_str().unwrap());
    assert_ne!(brec, trec);
    let from = show(trec);
    let hops = from["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 1, "{from}");
    assert_eq!(
        (
            &hops[0]["direction"],
            &hops[0]["rec"],
            &hops[0]["by"],
            &hops[0]["rport"]
        ),
        (
            &Value::from("from"),
            &Value::from(brec),
            &Value::from("address"),
            &port
        ),
        "{from}"
    );
    let to = show(brec);
    let hops = to["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 1, "{to}");
    assert_eq!(
        (&hops[0]["direction"], &hops[0]["rec"], &hops[0]["rport"]),
        (&Value::from("to"), &Value::from(trec), &port),
        "{to}"
    );
    // In words, for the auditor.
    let o = tlog_rs_tests::tlog_rs(&["show", "--config", conf, trec]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("hop: came from recording {brec}"))
            && text.contains(&format!(
                "ssh from 127.0.0.1 port {port} to 127.0.0.1 port {}",
                j.target_port
            )),
        "{text}"
    );
}

/// The client port of alice's accepted login in an sshd log
/// (`Accepted publickey for alice from ADDR port N ssh2`).
fn sshd_client_port(log: &str) -> Value {
    let line = log
        .lines()
        .find(|l| l.contains("Accepted publickey for alice"))
        .unwrap_or_else(|| panic!("no accepted login in the target's log:\n{log}"));
    let port = line
        .split(" port ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Value::from(port)
}

#[test]
fn forwarded_channels_are_refused_for_recorded_users() {
    if !require_root("forwarded_channels_are_refused_for_recorded_users") {
        return;
    }
    let j = JumpWorld::start("jump-fwd");
    // Control: the same client reaches the target through a plain relay.
    let direct = j.via_proxy(
        &format!(
            "bash -c {}",
            sq(&format!(
                "exec 3<>/dev/tcp/127.0.0.1/{}; cat <&3 & cat >&3; kill $!",
                j.target_port
            ))
        ),
        "echo direct-$((1+1))",
    );
    let out = tlog_rs_tests::sshd::run_with_stdin(direct, b"");
    assert!(seen(&out).contains("direct-2"), "{}", seen(&out));
    let before = j.target_logins();

    // ssh -J / ProxyJump: a direct-tcpip channel through the bastion.
    let jump = j.via_proxy(
        &format!("{} -W %h:%p", j.bastion_prefix()),
        "echo jumped-$((2+2))",
    );
    let out = tlog_rs_tests::sshd::run_with_stdin(jump, b"");
    assert!(!out.status.success(), "ProxyJump worked: {}", seen(&out));
    assert!(!seen(&out).contains("jumped-4"), "{}", seen(&out));

    // -L: the channel is refused when the forwarded port is used.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let spec = format!("{port}:127.0.0.1:{}", j.target_port);
    let mut local = j.w.ssh_cmd(
        "alice",
        &["-N", "-o", "ExitOnForwardFailure=yes", "-L", spec.as_str()],
    );
    let mut local = local
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the -L listener", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut banner = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut banner);
    let _ = local.kill();
    let _ = local.wait();
    assert!(
        !String::from_utf8_lossy(&banner).contains("SSH-2.0"),
        "-L reached the target: {}",
        String::from_utf8_lossy(&banner)
    );

    // -R: the bastion refuses to listen.
    let out = j.to_bastion(
        &[
            "-T",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "0:127.0.0.1:22",
        ],
        Some("echo listening"),
    );
    assert!(
        !out.status.success() && !seen(&out).contains("listening"),
        "-R was allowed: {}",
        seen(&out)
    );
    assert_eq!(
        j.target_logins(),
        before,
        "a forwarded login reached the target"
    );
    let log = j.w.sshd_log();
    assert!(
        log.contains("refused") || log.contains("prohibited") || log.contains("disabled"),
        "the bastion's log does not say it refused: {log}"
    );
}

#[test]
fn a_relay_through_the_recorded_shell_is_detected_on_the_bastion_recording() {
    if !require_root("a_relay_through_the_recorded_shell_is_detected_on_the_bastion_recording") {
        return;
    }
    let j = JumpWorld::start("jump-relay");
    // The user's own relay: bash's /dev/tcp in a command on the bastion
    // (the reader is killed at the client's EOF, else it holds the
    // connection and the session open).
    let relay = format!(
        "{} {}",
        j.bastion_prefix(),
        sq(&format!(
            "exec 3<>/dev/tcp/127.0.0.1/{}; cat <&3 & cat >&3; kill $!",
            j.target_port
        ))
    );
    let out =
        tlog_rs_tests::sshd::run_with_stdin(j.via_proxy(&relay, "echo relayed-$((3+3))"), b"");
    // Not prevented: the target login works, and the target records it.
    assert!(seen(&out).contains("relayed-6"), "{}", seen(&out));
    wait_for("the target's end entry", || {
        j.entries("rec-target").iter().any(|e| e["event"] == "end")
    });
    // Detected: the bastion's recording holds the target's SSH banner (the
    // rest is ciphertext), under alice's recorded session.
    wait_for("the bastion's end entry", || {
        j.entries("rec").iter().any(|e| e["event"] == "end")
    });
    let bastion_rec = read(&j.rec("rec"));
    assert!(
        bastion_rec.contains("SSH-2.0-OpenSSH"),
        "no SSH banner on the bastion's recording: {bastion_rec}"
    );
    assert!(!bastion_rec.contains("relayed-6"));
}

#[test]
fn a_forged_ssh_connection_is_not_recorded() {
    // Asserts: alice's own ~/.pam_environment sets SSH_CONNECTION with
    // another client (Debian's sshd stack reads it with `pam_env
    // user_readenv=1`; it reaches pam_tlog when pam_tlog runs after it). The
    // start entry's rport, laddr and lport are never the forged ones: sshd's
    // own, or null with pam_tlog's warning in the log.
    if !require_root("a_forged_ssh_connection_is_not_recorded") {
        return;
    }
    let j = JumpWorld::start("jump-forge");
    let env = j.w.dir.join("home/alice/.pam_environment");
    fs::write(
        &env,
        "SSH_CONNECTION DEFAULT=\"203.0.113.9 4444 198.51.100.1 2\"\n",
    )
    .unwrap();
    std::os::unix::fs::chown(&env, Some(2001), Some(2001)).unwrap();
    let out = j.to_bastion(&["-tt"], Some("echo conn=$SSH_CONNECTION"));
    assert!(seen(&out).contains("conn="), "{}", seen(&out));
    wait_for("the end entry", || {
        j.entries("rec").iter().any(|e| e["event"] == "end")
    });
    let b = j.entries("rec");
    let s = start_entry(&b, "bastion");
    assert_ne!(s["rport"], 4444, "{s}");
    assert_ne!(s["lport"], 2, "{s}");
    assert_ne!(s["laddr"], "198.51.100.1", "{s}");
    if s["rport"].is_null() {
        assert!(
            j.w.syslog()
                .iter()
                .any(|l| l.contains("SSH_CONNECTION") && l.contains("not sshd's value")),
            "dropped without a word: {:#?}",
            j.w.syslog()
        );
    } else {
        assert_eq!(s["rport"], sshd_client_port(&j.w.sshd_log()), "{s}");
    }
}
