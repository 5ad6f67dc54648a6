//! tlog-rs-rec-session as a login shell: choice of the real shell, login
//! argv0, -c/-i, exit codes, config errors, and that the user's environment
//! cannot weaken recording. Runs in a private mount namespace with an overlay
//! on /etc holding /etc/tlog-rs/rec-session.conf (root only; the host's /etc
//! is untouched).

use std::path::PathBuf;
use std::process::{Output, Stdio};

use tlog_rs_tests::rec::{events, messages, play, session_bin, sq, with_session_conf, TempDir};
use tlog_rs_tests::require_root;

struct World {
    dir: TempDir,
    log: PathBuf,
}

impl World {
    fn new(tag: &str) -> World {
        let dir = TempDir::new(tag);
        let log = dir.path("session.log");
        World { dir, log }
    }

    fn default_conf(&self) -> String {
        format!(
            "// like /etc/tlog/tlog-rec-session.conf\n{{\n  \"writer\": \"file\",\n  /* where */ \"file\": {{\"path\": {:?}}},\n  \"notice\": \"[recorded]\\n\"\n}}\n",
            self.log.display().to_string()
        )
    }

    /// A fake shell printing which one it is and its arguments.
    fn fake_shell(&self, name: &str) -> PathBuf {
        let p = self.dir.write(
            name,
            format!("#!/bin/sh\necho \"{name} args=$* SHELL=$SHELL\"\n").as_bytes(),
        );
        std::process::Command::new("chmod")
            .arg("755")
            .arg(&p)
            .status()
            .unwrap();
        p
    }

    /// Run the recorder with `argv0` and `args`, extra env, under `conf`.
    fn run(&self, conf: &str, env: &[(&str, &str)], argv0: &str, args: &[&str]) -> Output {
        let mut body = format!(
            "exec -a {} {}",
            sq(argv0),
            sq(&session_bin().display().to_string())
        );
        for a in args {
            body.push(' ');
            body.push_str(&sq(a));
        }
        let mut cmd = with_session_conf(&self.dir, conf, &body);
        for var in [
            "TLOG_REC_SHELL",
            "TLOG_REC_SESSION_SHELL",
            "TLOG_REC_CONF_TEXT",
            "TLOG_REC_SESSION_CONF_TEXT",
            "TLOG_REC_CONF_FILE",
            "TLOG_REC_SESSION_CONF_FILE",
            "TLOG_RS_RECORDER",
            "TLOG_RS_HANDOFF",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        cmd.stdin(Stdio::null())
            .output()
            .expect("run tlog-rs-rec-session")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn shell_precedence_env_then_name_then_config() {
    if !require_root("shell_precedence_env_then_name_then_config") {
        return;
    }
    let w = World::new("sess-shell");
    let (a, b, c) = (
        w.fake_shell("shA"),
        w.fake_shell("shB"),
        w.fake_shell("shC"),
    );
    let (a, b, c) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        c.to_str().unwrap(),
    );
    let conf = w
        .default_conf()
        .replacen("{\n", &format!("{{\n  \"shell\": {c:?},\n"), 1);
    // Encoded program name for shell B: '-' is '/', a literal '-' is "\-".
    let name = format!(
        "tlog-rs-rec-session-shell{}",
        b.replace('-', "\\-").replace('/', "-")
    );
    let both = [("TLOG_REC_SHELL", a), ("TLOG_REC_SESSION_SHELL", b)];
    let o = w.run(&conf, &both, "tlog-rs-rec-session", &["-c", "x"]);
    assert!(
        stdout(&o).starts_with("shA args=-c x"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = w.run(
        &conf,
        &[("TLOG_REC_SESSION_SHELL", b)],
        "tlog-rs-rec-session",
        &[],
    );
    assert!(
        stdout(&o).starts_with("shB args= SHELL="),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = w.run(&conf, &[], &name, &[]);
    assert!(
        stdout(&o).starts_with("shB "),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = w.run(&conf, &[], "tlog-rs-rec-session", &[]);
    assert_eq!(
        stdout(&o),
        format!("shC args= SHELL={c}\n"),
        "{}",
        stderr(&o)
    );
    // A relative or recorder path from env is skipped with a warning.
    let o = w.run(
        &conf,
        &[
            ("TLOG_REC_SHELL", "sh"),
            ("TLOG_REC_SESSION_SHELL", session_bin().to_str().unwrap()),
        ],
        "tlog-rs-rec-session",
        &[],
    );
    assert!(
        stdout(&o).starts_with("shC "),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("not an absolute path"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("the recorder itself"), "{}", stderr(&o));
    // Every one of these sessions was recorded.
    let starts = events(&w.log)
        .iter()
        .filter(|e| e["event"] == "start")
        .count();
    assert_eq!(starts, 5);
}

#[test]
fn shell_names_with_escapes_do_not_hang() {
    if !require_root("shell_names_with_escapes_do_not_hang") {
        return;
    }
    let w = World::new("sess-escape");
    let sub = w.dir.path("tl/my-dir");
    std::fs::create_dir_all(&sub).unwrap();
    let shell = sub.join("sh");
    std::os::unix::fs::symlink("/bin/sh", &shell).unwrap();
    let enc = shell
        .to_str()
        .unwrap()
        .replace('-', "\\-")
        .replace('/', "-");
    // tlog's decoder loops forever on exactly this shape ("\-" then "-").
    let name = format!("-tlog-rs-rec-session-shell{enc}");
    assert!(name.contains("my\\-dir-sh"));
    let o = w.run(&w.default_conf(), &[], &name, &["-c", "echo \"$0 ran\""]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Login shell: argv[0] is "-" + basename of the decoded shell.
    assert_eq!(stdout(&o), "-sh ran\n");
}

#[test]
fn command_login_and_exit_codes_like_tlog_rec_session() {
    if !require_root("command_login_and_exit_codes_like_tlog_rec_session") {
        return;
    }
    let w = World::new("sess-cmd");
    let conf = w
        .default_conf()
        .replacen("{\n", "{\n  \"shell\": \"/bin/bash\",\n", 1);
    let o = w.run(
        &conf,
        &[],
        "tlog-rs-rec-session",
        &["-c", "echo \"$0|$1|$2|$SHELL\"; exit 7", "name", "a1"],
    );
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "name|a1||/bin/bash\n");
    assert!(
        stderr(&o).contains("[recorded]"),
        "notice missing: {}",
        stderr(&o)
    );
    let o = w.run(
        &conf,
        &[],
        "-tlog-rs-rec-session",
        &["-c", "echo $0; shopt -q login_shell && echo login"],
    );
    assert_eq!(stdout(&o), "-bash\nlogin\n");
    let o = w.run(&conf, &[], "tlog-rs-rec-session", &["-c", "kill -9 $$"]);
    assert_eq!(o.status.code(), Some(137));
    let o = w.run(&conf, &[], "tlog-rs-rec-session", &["-c"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Command string is not specified"),
        "{}",
        stderr(&o)
    );
    // -i passes -i; with -c as well, -c wins (tlog-rec-session's rule).
    let fake = w.fake_shell("shI");
    let env = [("TLOG_REC_SHELL", fake.to_str().unwrap())];
    let o = w.run(&conf, &env, "tlog-rs-rec-session", &["-i", "a"]);
    assert!(
        stdout(&o).starts_with("shI args=-i a SHELL="),
        "{}",
        stdout(&o)
    );
    let o = w.run(&conf, &env, "tlog-rs-rec-session", &["-i", "-c", "cmd"]);
    assert!(
        stdout(&o).starts_with("shI args=-c cmd SHELL="),
        "{}",
        stdout(&o)
    );
    // The end entries carry the exit statuses and how the sessions ended.
    let ends: Vec<_> = events(&w.log)
        .into_iter()
        .filter(|e| e["event"] == "end")
        .collect();
    assert_eq!(ends[0]["exit_status"], 7);
    assert_eq!(ends[2]["end_reason"], "signal");
    assert_eq!(ends[2]["signal"], 9);
    assert_eq!(ends[2]["exit_status"], 137);
    // The recording plays back what the shell printed.
    let first_rec = ends[0]["rec"].as_str().unwrap().to_string();
    assert_eq!(play(&w.log, &["-m", &first_rec]), b"name|a1||/bin/bash\n");
}

#[test]
fn config_errors_are_precise_and_give_no_shell() {
    if !require_root("config_errors_are_precise_and_give_no_shell") {
        return;
    }
    let w = World::new("sess-conferr");
    let marker = w.dir.path("shell-ran");
    let cmd = format!("touch {}", marker.display());
    let bad = w
        .default_conf()
        .replacen("{\n", "{\n  \"payload\": 16,\n", 1);
    let o = w.run(&bad, &[], "tlog-rs-rec-session", &["-c", &cmd]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("/etc/tlog-rs/rec-session.conf:3: \"payload\": must be between 32 and 1048576 bytes, got 16"),
        "{}",
        stderr(&o)
    );
    let o = w.run(
        &w.default_conf(),
        &[("TLOG_REC_SESSION_CONF_TEXT", "{\"log\": {\"inptu\": true}}")],
        "tlog-rs-rec-session",
        &["-c", &cmd],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("TLOG_REC_SESSION_CONF_TEXT:1: \"log.inptu\": unknown setting"),
        "{}",
        stderr(&o)
    );
    let o = w.run(
        &w.default_conf(),
        &[("TLOG_REC_CONF_TEXT", "{\"latency\": 5,,}")],
        "tlog-rs-rec-session",
        &["-c", &cmd],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("TLOG_REC_CONF_TEXT:1: column"),
        "{}",
        stderr(&o)
    );
    let o = w.run(
        &w.default_conf(),
        &[("TLOG_REC_SESSION_CONF_FILE", "/nonexistent/x.conf")],
        "tlog-rs-rec-session",
        &["-c", &cmd],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/x.conf: cannot read"),
        "{}",
        stderr(&o)
    );
    assert!(!marker.exists(), "a shell ran despite a config error");
}

#[test]
fn environment_cannot_weaken_recording_without_pam_handoff() {
    if !require_root("environment_cannot_weaken_recording_without_pam_handoff") {
        return;
    }
    let w = World::new("sess-weaken");
    let evil = w.dir.path("evil.log");
    let text = format!(
        "{{\"writer\":\"file\",\"file\":{{\"path\":{:?}}},\"log\":{{\"output\":false,\"input\":true}},\"limit\":{{\"action\":\"drop\",\"rate\":1,\"burst\":1}},\"sink_failure\":\"warn\",\"latency\":3600,\"notice\":\"\"}}",
        evil.display().to_string()
    );
    let o = w.run(
        &w.default_conf(),
        &[
            ("TLOG_REC_SESSION_CONF_TEXT", &text),
            ("TLOG_REC_SESSION_SHELL", "/bin/sh"),
        ],
        "tlog-rs-rec-session",
        &["-c", "echo secret-output"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for key in [
        "file.path",
        "log.output",
        "limit.action",
        "sink_failure",
        "latency",
    ] {
        assert!(
            stderr(&o).contains(&format!("Ignoring \"{key}\" from the environment")),
            "{key}: {}",
            stderr(&o)
        );
    }
    assert!(!evil.exists(), "the environment redirected the recording");
    let m = messages(&w.log);
    assert!(m
        .iter()
        .any(|m| m["out_txt"].as_str().unwrap().contains("secret-output")));
    // Harmless settings from the environment apply: the notice was emptied.
    assert!(!stderr(&o).contains("[recorded]"));

    // A forged PAM hand-off token is rejected: still recorded, with a warning.
    let before = messages(&w.log).len();
    let o = w.run(
        &w.default_conf(),
        &[("TLOG_RS_HANDOFF", "0123456789abcdef0123456789abcdef")],
        "tlog-rs-rec-session",
        &["-c", "echo forged-handoff"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Ignoring the PAM hand-off"),
        "{}",
        stderr(&o)
    );
    let m = messages(&w.log);
    assert!(m[before..]
        .iter()
        .any(|m| m["out_txt"] == "forged-handoff\n"));
}
