//! Issue 9, attacks 2 and 3: the recorded user goes around her recorder to
//! the terminal the client reads.
//!
//! The attacker does not know which /dev/pts/N is her outer terminal, so she
//! writes a numbered token to every /dev/pts/N but her own session's, and to
//! the recorder's stdout/stderr through /proc/$PPID/fd. The tokens are built
//! with printf, so the token text appears only where a write landed. For
//! attack 3 another ssh -tt session of hers is open meanwhile: without it,
//! ssh -T (no outer terminal) and su - (root's terminal) would have nothing
//! to reach, and the test would pass on the code before issue 9 too.
//! Users have uids of their own, so no other test's terminal is writable.

mod hardening_common;

use hardening_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::World;

/// Write TAKEOVER-<n>-MARK to every pts but our own and PROCFD-<fd>-MARK to
/// the recorder's fds 1 and 2 (bash).
const WRITE_AROUND: &str = r#"me=$(tty 2>/dev/null)
for p in /dev/pts/[0-9]*; do
  [ "$p" = "$me" ] && continue
  printf 'TAKE%s-%s-MARK\r\n' OVER "${p#/dev/pts/}" > "$p" 2>/dev/null
done
for f in 1 2; do printf 'PROC%s-%s-MARK\r\n' FD "$f" > /proc/$PPID/fd/$f 2>/dev/null; done
"#;

/// Every token the client saw must be in the recording's output.
fn assert_seen_is_recorded(client: &str, rec: &str, what: &str) {
    let out = field_text(rec, "out_txt");
    for prefix in ["TAKEOVER-", "PROCFD-"] {
        for tok in tokens(client, prefix) {
            assert!(
                out.contains(&tok),
                "{what}: the client saw {tok:?}, which is not in the recording (written around the recorder);\nclient saw: {client}\nrecording:\n{rec}"
            );
        }
    }
}

fn world(tag: &str, base_uid: u32) -> World {
    World::start(config(tag, base_uid, &["alice"], ""))
}

/// Attack 2 in one way in: the attack runs from ~/.bash_profile.
fn takeover(tag: &str, base_uid: u32, way: Way) {
    let w = world(tag, base_uid);
    home_file(
        &w,
        "alice",
        ".bash_profile",
        &format!(
            "kill -STOP $PPID 2>/dev/null; echo \"STOP-RC-$?-END\"\n{WRITE_AROUND}\
             kill -CONT $PPID 2>/dev/null\necho profile-done-$((40+2))\n"
        ),
        0o644,
    );
    // A login shell: no command for ssh (stdin feeds it), `su -c` is one too.
    let (cmd, stdin): (Option<&str>, &[u8]) = match way {
        Way::SuLogin => (Some("echo after-$((50+5))"), b""),
        _ => (None, b"echo after-$((50+5)); exit\n"),
    };
    let out = session(&w, "alice", way, cmd, stdin, &[]);
    let client = seen(&out);
    let rec = w.recording("alice");
    let what = format!("{way:?} takeover from ~/.bash_profile");
    assert!(
        client.contains("profile-done-42") && client.contains("after-55"),
        "{what}: the session did not run: {client}"
    );
    assert!(
        client.contains("STOP-RC-") && !client.contains("STOP-RC-0-"),
        "{what}: kill -STOP $PPID succeeded against the recorder: {client}"
    );
    let out_txt = field_text(&rec, "out_txt");
    assert!(
        out_txt.contains("profile-done-42") && out_txt.contains("after-55"),
        "{what}: the session is not recorded:\nclient saw: {client}\nrecording:\n{rec}"
    );
    assert_seen_is_recorded(&client, &rec, &what);
}

/// A second, interactive `ssh -tt` session of the same user, open while the
/// attack runs: its outer terminal is hers too. It is the target that
/// sessions without an outer terminal of their own (ssh -T) or with one
/// that is not hers (su - from root's terminal) can reach.
struct Bystander {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    seen: std::thread::JoinHandle<String>,
}

impl Bystander {
    /// Start it and wait until its shell runs (it creates `{T}/bystander/up`).
    fn open(w: &World) -> Bystander {
        use std::io::Read;
        use std::process::Stdio;
        let dir = w.dir.join("bystander");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let mut child = w
            .ssh_cmd("alice", &["-tt"])
            .arg(format!(
                "touch {}/up; read line; echo bystander-done-$((40+2))",
                dir.display()
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh");
        let stdin = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let seen = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = out.read_to_end(&mut b);
            text(&b)
        });
        let t = std::time::Instant::now();
        while !dir.join("up").exists() && t.elapsed() < std::time::Duration::from_secs(30) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            dir.join("up").exists(),
            "the bystander session did not start:\n{}",
            w.sshd_log()
        );
        Bystander { child, stdin, seen }
    }

    /// End it and return what its client saw.
    fn close(mut self) -> String {
        use std::io::Write;
        let _ = self.stdin.write_all(b"\n");
        let t = std::time::Instant::now();
        while !matches!(self.child.try_wait(), Ok(Some(_)))
            && t.elapsed() < std::time::Duration::from_secs(30)
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.stdin);
        self.seen.join().unwrap_or_default()
    }
}

/// Attack 3 in one way in: the attack is the session's command, while
/// another ssh -tt session of hers is open.
fn write_around(tag: &str, base_uid: u32, way: Way) {
    let w = world(tag, base_uid);
    let bystander = Bystander::open(&w);
    let cmd = format!("{WRITE_AROUND}echo wrote-around-$((40+2))");
    let out = session(&w, "alice", way, Some(&cmd), b"", &[]);
    let other = bystander.close();
    let client = seen(&out);
    let rec = w.recording("alice");
    let what = format!("{way:?} echo > /dev/pts/N");
    assert!(
        client.contains("wrote-around-42"),
        "{what}: the session did not run: {client}"
    );
    assert!(
        other.contains("bystander-done-42"),
        "{what}: the other session did not run: {other}"
    );
    assert!(
        field_text(&rec, "out_txt").contains("wrote-around-42"),
        "{what}: the session is not recorded:\nclient saw: {client}\nrecording:\n{rec}"
    );
    assert_seen_is_recorded(&client, &rec, &what);
    assert_seen_is_recorded(&other, &rec, &format!("{what}, her other ssh -tt session"));
}

// Attack 2. Asserts: from ~/.bash_profile, `kill -STOP $PPID` fails (the
// recorder runs as another uid), and whatever the client saw, including
// anything written to other terminals or the recorder's fds, is recorded.

#[test]
fn takeover_from_profile_ssh_tty() {
    // Asserts: ssh -tt, ~/.bash_profile: kill -STOP $PPID fails; all the client saw is recorded.
    if require_root("takeover_from_profile_ssh_tty") {
        takeover("h9-takeover-tty", 2650, Way::SshTty);
    }
}

#[test]
fn takeover_from_profile_ssh_no_tty() {
    // Asserts: ssh -T, ~/.bash_profile: kill -STOP $PPID fails; all the client saw is recorded.
    if require_root("takeover_from_profile_ssh_no_tty") {
        takeover("h9-takeover-notty", 2660, Way::SshNoTty);
    }
}

#[test]
fn takeover_from_profile_su() {
    // Asserts: su -, ~/.bash_profile: kill -STOP $PPID fails; all the client saw is recorded.
    if require_root("takeover_from_profile_su") {
        takeover("h9-takeover-su", 2670, Way::SuLogin);
    }
}

// Attack 3. Asserts: `echo X > /dev/pts/N` for every other pts (and to the
// recorder's fds) from the session, while another ssh -tt session of hers
// is open: whatever reaches either client is recorded (the recorder holds
// its outer terminal with TIOCEXCL).

#[test]
fn write_to_other_terminals_ssh_tty() {
    // Asserts: ssh -tt: writes to every other /dev/pts/N reach a client only if recorded.
    if require_root("write_to_other_terminals_ssh_tty") {
        write_around("h9-around-tty", 2680, Way::SshTty);
    }
}

#[test]
fn write_to_other_terminals_ssh_no_tty() {
    // Asserts: ssh -T: writes to every /dev/pts/N and the recorder's fds reach a client only if recorded.
    if require_root("write_to_other_terminals_ssh_no_tty") {
        write_around("h9-around-notty", 2690, Way::SshNoTty);
    }
}

#[test]
fn write_to_other_terminals_su() {
    // Asserts: su - on a pty: writes to every other /dev/pts/N reach a client only if recorded.
    if require_root("write_to_other_terminals_su") {
        write_around("h9-around-su", 2700, Way::SuLogin);
    }
}
