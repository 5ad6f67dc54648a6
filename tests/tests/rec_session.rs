//! tlog-rs-rec-session as a login shell started without a PAM hand-off:
//! choice of the real shell (passwd database, then the `-shell-` program
//! name, then the system config; never the environment), login argv0, -c/-i,
//! exit codes, config errors of the system config, and that the environment
//! is ignored while input, output and window are always recorded.
//!
//! Each run happens in a private mount namespace with an overlay on /etc
//! holding /etc/tlog-rs/rec-session.conf, a private /etc/passwd (root's shell
//! is what the test says) and `passwd: files`, and a tmpfs on /run with an
//! empty, trusted hand-off directory: a machine with pam_tlog installed where
//! this login did not go through it. Root only; the host's /etc is untouched.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use tlog_rs_tests::rec::{events, messages, play, session_bin, sq, with_session_conf, TempDir};
use tlog_rs_tests::require_root;

/// Every variable tlog's recorder reads, in the order the recorder names them.
const TLOG_VARS: [&str; 6] = [
    "TLOG_REC_SHELL",
    "TLOG_REC_SESSION_SHELL",
    "TLOG_REC_CONF_FILE",
    "TLOG_REC_SESSION_CONF_FILE",
    "TLOG_REC_CONF_TEXT",
    "TLOG_REC_SESSION_CONF_TEXT",
];

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

    /// `default_conf` with `line` as its line 3.
    fn conf_with(&self, line: &str) -> String {
        self.default_conf()
            .replacen("{\n", &format!("{{\n  {line}\n"), 1)
    }

    /// A fake shell printing which one it is and its arguments.
    fn fake_shell(&self, name: &str) -> String {
        let p = self.dir.write(
            name,
            format!("#!/bin/sh\necho \"{name} args=$* SHELL=$SHELL\"\n").as_bytes(),
        );
        std::process::Command::new("chmod")
            .arg("755")
            .arg(&p)
            .status()
            .unwrap();
        p.to_str().unwrap().to_string()
    }

    /// Run `script` (bash) in the namespace, root's passwd shell being
    /// `root_shell`, with `env` added to a clean TLOG_* environment and
    /// `stdin` fed through a pipe.
    fn run_script(
        &self,
        root_shell: &str,
        conf: &str,
        env: &[(&str, &str)],
        stdin: &[u8],
        script: &str,
    ) -> Output {
        let passwd: String = std::fs::read_to_string("/etc/passwd")
            .expect("/etc/passwd")
            .lines()
            .map(|l| match l.strip_prefix("root:") {
                Some(rest) => {
                    let head: Vec<&str> = rest.split(':').take(5).collect();
                    format!("root:{}:{root_shell}\n", head.join(":"))
                }
                None => format!("{l}\n"),
            })
            .collect();
        assert!(
            passwd.lines().any(|l| l.starts_with("root:")),
            "no root in /etc/passwd"
        );
        let passwd_file = self.dir.write("passwd", passwd.as_bytes());
        let body = format!(
            "set -e; cp {passwd} /etc/passwd; echo 'passwd: files' > /etc/nsswitch.conf; \
             mount -t tmpfs tlogrs-run /run; mkdir -p -m 711 /run/tlog-rs/handoff; set +e\n{script}",
            passwd = sq(passwd_file.to_str().unwrap()),
        );
        let mut cmd = with_session_conf(&self.dir, conf, &body);
        for var in TLOG_VARS
            .iter()
            .chain(&["TLOG_RS_RECORDER", "TLOG_RS_HANDOFF"])
        {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tlog-rs-rec-session");
        let mut input = child.stdin.take().unwrap();
        // A shell that exits early closes the pipe: that error is fine.
        let _ = input.write_all(stdin);
        drop(input);
        child.wait_with_output().expect("wait for the namespace")
    }

    /// Run the recorder as `argv0` with `args` (stdin empty).
    fn run(
        &self,
        root_shell: &str,
        conf: &str,
        env: &[(&str, &str)],
        argv0: &str,
        args: &[&str],
    ) -> Output {
        self.run_script(root_shell, conf, env, b"", &recorder_cmd(argv0, args))
    }

    fn starts(&self) -> usize {
        events(&self.log)
            .iter()
            .filter(|e| e["event"] == "start")
            .count()
    }
}

/// `exec -a ARGV0 tlog-rs-rec-session ARGS...` for bash.
fn recorder_cmd(argv0: &str, args: &[&str]) -> String {
    let mut cmd = format!(
        "exec -a {} {}",
        sq(argv0),
        sq(&session_bin().display().to_string())
    );
    for a in args {
        cmd.push(' ');
        cmd.push_str(&sq(a));
    }
    cmd
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The recorder's "Ignoring ... from the environment" warning, if any.
fn env_warning(text: &str) -> Option<&str> {
    text.lines()
        .find(|l| l.contains("Ignoring TLOG_REC_") && l.contains("from the environment"))
}

/// Asserts the warning names exactly `vars`.
fn assert_env_ignored(text: &str, vars: &[&str]) {
    let w = env_warning(text).unwrap_or_else(|| panic!("no warning about the env: {text}"));
    for v in TLOG_VARS {
        let named = w.contains(&format!("{v},")) || w.contains(&format!("{v} from"));
        assert_eq!(named, vars.contains(&v), "{v} in {w:?}");
    }
}

#[test]
fn shell_precedence_passwd_then_name_then_config_never_env() {
    if !require_root("shell_precedence_passwd_then_name_then_config_never_env") {
        return;
    }
    let w = World::new("sess-shell");
    let (a, b, c, d) = (
        w.fake_shell("shA"),
        w.fake_shell("shB"),
        w.fake_shell("shC"),
        w.fake_shell("shD"),
    );
    let conf = w.conf_with(&format!("\"shell\": {c:?},"));
    let encode = |p: &str| {
        format!(
            "tlog-rs-rec-session-shell{}",
            p.replace('-', "\\-").replace('/', "-")
        )
    };
    let (name_b, name_me) = (encode(&b), encode(session_bin().to_str().unwrap()));
    let env = [
        ("TLOG_REC_SHELL", d.as_str()),
        ("TLOG_REC_SESSION_SHELL", &d),
    ];
    let ctx = |o: &Output| format!("{}{}", stdout(o), stderr(o));

    // The passwd database wins over the name, the config and the env.
    let o = w.run(&a, &conf, &env, &name_b, &["-c", "x"]);
    assert_eq!(
        stdout(&o),
        format!("shA args=-c x SHELL={a}\n"),
        "{}",
        ctx(&o)
    );
    assert_env_ignored(&stderr(&o), &["TLOG_REC_SHELL", "TLOG_REC_SESSION_SHELL"]);

    // An unusable passwd shell is skipped with a warning: the name is next.
    let o = w.run("sh", &conf, &env, &name_b, &[]);
    assert_eq!(stdout(&o), format!("shB args= SHELL={b}\n"), "{}", ctx(&o));
    assert!(
        stderr(&o)
            .contains("Ignoring shell \"sh\" from the passwd database: it is not an absolute path"),
        "{}",
        stderr(&o)
    );

    // The recorder itself, in passwd or in the name, is skipped: the config.
    let me = session_bin().display().to_string();
    let o = w.run(&me, &conf, &env, &name_me, &[]);
    assert_eq!(stdout(&o), format!("shC args= SHELL={c}\n"), "{}", ctx(&o));
    for origin in ["the passwd database", "the program name"] {
        assert!(
            stderr(&o).contains(&format!(
                "Ignoring shell \"{me}\" from {origin}: it is the recorder itself"
            )),
            "{origin}: {}",
            stderr(&o)
        );
    }
    // An empty passwd shell counts as none.
    let o = w.run("", &conf, &env, "tlog-rs-rec-session", &[]);
    assert_eq!(stdout(&o), format!("shC args= SHELL={c}\n"), "{}", ctx(&o));
    assert_eq!(w.starts(), 4);

    // No usable shell but the environment's (the built-in default shell
    // is replaced by a relative one): refused, nothing runs.
    let relative = w.conf_with("\"shell\": \"bash\",");
    let o = w.run("", &relative, &env, "tlog-rs-rec-session", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", ctx(&o));
    assert_eq!(stdout(&o), "");
    for warning in [
        "Ignoring shell \"bash\" from the configuration: it is not an absolute path",
        "No usable shell to run",
    ] {
        assert!(stderr(&o).contains(warning), "{warning}: {}", stderr(&o));
    }
    assert_eq!(w.starts(), 4, "a session without a shell was recorded");
}

#[test]
fn shell_names_with_escapes_do_not_hang() {
    if !require_root("shell_names_with_escapes_do_not_hang") {
        return;
    }
    let w = World::new("sess-escape");
    let sub = w.dir.path("tl/my-dir");
    std::fs::create_dir_all(&sub).unwrap();
    let shell = sub.join("e-sh");
    std::os::unix::fs::symlink("/bin/sh", &shell).unwrap();
    let enc = shell
        .to_str()
        .unwrap()
        .replace('-', "\\-")
        .replace('/', "-");
    // tlog's decoder loops forever on exactly this shape ("\-" then "-").
    let name = format!("-tlog-rs-rec-session-shell{enc}");
    assert!(name.contains("my\\-dir-e\\-sh"));
    // No passwd shell: the program name decides.
    let o = w.run(
        "",
        &w.default_conf(),
        &[],
        &name,
        &["-c", "echo \"$0 ran\""],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Login shell: argv[0] is "-" + basename of the decoded shell.
    assert_eq!(stdout(&o), "-e-sh ran\n");
    assert_eq!(w.starts(), 1);
}

#[test]
fn command_login_and_exit_codes_like_tlog_rec_session() {
    if !require_root("command_login_and_exit_codes_like_tlog_rec_session") {
        return;
    }
    let w = World::new("sess-cmd");
    let conf = w.default_conf();
    let bash = "/bin/bash";
    let o = w.run(
        bash,
        &conf,
        &[],
        "tlog-rs-rec-session",
        &["-c", "echo \"$0|$1|$2|$SHELL\"; exit 7", "name", "a1"],
    );
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(stdout(&o), "name|a1||/bin/bash\n");
    assert!(
        stderr(&o).contains("[recorded]"),
        "notice missing: {}",
        stderr(&o)
    );
    let o = w.run(
        bash,
        &conf,
        &[],
        "-tlog-rs-rec-session",
        &["-c", "echo $0; shopt -q login_shell && echo login"],
    );
    assert_eq!(stdout(&o), "-bash\nlogin\n", "{}", stderr(&o));
    let o = w.run(
        bash,
        &conf,
        &[],
        "tlog-rs-rec-session",
        &["-c", "kill -9 $$"],
    );
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    let o = w.run(bash, &conf, &[], "tlog-rs-rec-session", &["-c"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Command string is not specified"),
        "{}",
        stderr(&o)
    );
    // -i passes -i; with -c as well, -c wins (tlog-rec-session's rule).
    let fake = w.fake_shell("shI");
    let o = w.run(&fake, &conf, &[], "tlog-rs-rec-session", &["-i", "a"]);
    assert_eq!(stdout(&o), format!("shI args=-i a SHELL={fake}\n"));
    let o = w.run(
        &fake,
        &conf,
        &[],
        "tlog-rs-rec-session",
        &["-i", "-c", "cmd"],
    );
    assert_eq!(stdout(&o), format!("shI args=-c cmd SHELL={fake}\n"));
    // The end entries carry the exit statuses and how the sessions ended.
    let ends: Vec<_> = events(&w.log)
        .into_iter()
        .filter(|e| e["event"] == "end")
        .collect();
    assert_eq!(ends.len(), 5, "{ends:?}");
    assert_eq!(ends[0]["exit_status"], 7);
    assert_eq!(ends[0]["end_reason"], "exit");
    assert_eq!(ends[2]["end_reason"], "signal");
    assert_eq!(ends[2]["signal"], 9);
    assert_eq!(ends[2]["exit_status"], 137);
    // The recording plays back what the shell printed.
    let first_rec = ends[0]["rec"].as_str().unwrap().to_string();
    assert_eq!(play(&w.log, &["-m", &first_rec]), b"name|a1||/bin/bash\n");
}

#[test]
fn system_config_errors_are_precise_and_give_no_shell() {
    if !require_root("system_config_errors_are_precise_and_give_no_shell") {
        return;
    }
    let w = World::new("sess-conferr");
    let marker = w.dir.path("shell-ran");
    let cmd = format!("touch {}", marker.display());
    let file = "/etc/tlog-rs/rec-session.conf";
    let cases = [
        (
            "\"payload\": 16,",
            format!("{file}:3: \"payload\": must be between 32 and 1048576 bytes, got 16"),
        ),
        (
            "\"log\": {\"inptu\": true},",
            format!("{file}:3: \"log.inptu\": unknown setting"),
        ),
        ("\"latency\": 5,,", format!("{file}:3: column")),
    ];
    for (line, want) in cases {
        let o = w.run(
            "/bin/sh",
            &w.conf_with(line),
            &[],
            "tlog-rs-rec-session",
            &["-c", &cmd],
        );
        assert_eq!(o.status.code(), Some(1), "{line}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("Invalid configuration: {want}")),
            "{line}: {}",
            stderr(&o)
        );
        assert!(
            !marker.exists(),
            "{line}: a shell ran despite a config error"
        );
    }
    // An unreadable system config is an error too (not "no config").
    let o = w.run_script(
        "/bin/sh",
        &w.default_conf(),
        &[],
        b"",
        &format!(
            "rm {file} && mkdir {file} && {}",
            recorder_cmd("tlog-rs-rec-session", &["-c", &cmd])
        ),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("Invalid configuration: {file}: cannot read")),
        "{}",
        stderr(&o)
    );
    assert!(!marker.exists(), "a shell ran despite an unreadable config");
    assert_eq!(w.starts(), 0);

    // Broken configuration in the environment is not read at all.
    let env = [
        ("TLOG_REC_SESSION_CONF_TEXT", "{\"log\": {\"inptu\": true}}"),
        ("TLOG_REC_CONF_TEXT", "{\"latency\": 5,,}"),
        ("TLOG_REC_SESSION_CONF_FILE", "/nonexistent/x.conf"),
    ];
    let w2 = World::new("sess-conferr-env");
    let o = w2.run(
        "/bin/sh",
        &w2.default_conf(),
        &env,
        "tlog-rs-rec-session",
        &["-c", &cmd],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(marker.exists(), "the shell did not run: {}", stderr(&o));
    assert_env_ignored(
        &stderr(&o),
        &[
            "TLOG_REC_SESSION_CONF_FILE",
            "TLOG_REC_CONF_TEXT",
            "TLOG_REC_SESSION_CONF_TEXT",
        ],
    );
    assert!(
        !stderr(&o).contains("Invalid configuration"),
        "{}",
        stderr(&o)
    );
    assert_eq!(w2.starts(), 1);
}

#[test]
fn environment_is_ignored_and_everything_recorded_without_pam_handoff() {
    if !require_root("environment_is_ignored_and_everything_recorded_without_pam_handoff") {
        return;
    }
    let w = World::new("sess-weaken");
    let evil_shell = w.fake_shell("evil-shell");
    let (evil, evil2) = (w.dir.path("evil.log"), w.dir.path("evil2.log"));
    let evil_text = format!(
        "{{\"writer\":\"file\",\"file\":{{\"path\":{:?}}},\"log\":{{\"output\":false,\"input\":false,\"window\":false}},\"notice\":\"[env]\\n\"}}",
        evil.display().to_string()
    );
    let evil_file = w.dir.write(
        "evil.conf",
        format!(
            "{{\"writer\":\"file\",\"file\":{{\"path\":{:?}}}}}",
            evil2.display().to_string()
        )
        .as_bytes(),
    );
    let env = [
        ("TLOG_REC_SHELL", evil_shell.as_str()),
        ("TLOG_REC_SESSION_SHELL", &evil_shell),
        ("TLOG_REC_CONF_FILE", evil_file.to_str().unwrap()),
        ("TLOG_REC_SESSION_CONF_FILE", evil_file.to_str().unwrap()),
        ("TLOG_REC_CONF_TEXT", &evil_text),
        ("TLOG_REC_SESSION_CONF_TEXT", &evil_text),
        // The old hand-off token variable means nothing either.
        ("TLOG_RS_HANDOFF", "0123456789abcdef0123456789abcdef"),
    ];
    // The system config turns every stream off: without a hand-off that is
    // overridden.
    let conf = w.conf_with("\"log\": {\"input\": false, \"output\": false, \"window\": false},");

    // PTY mode (stdout is script's terminal), input from a pipe.
    let inner = "read -r line; echo \"got-$line $SHELL\"";
    let script = format!(
        // script runs its command with $SHELL, else /bin/sh; `exec -a` needs bash.
        "SHELL=/bin/bash script -qec {} /dev/null",
        sq(&format!(
            "stty cols 80 rows 24; printf 'typed-secret\\n' | {}",
            recorder_cmd("tlog-rs-rec-session", &["-c", inner])
        ))
    );
    let o = w.run_script("/bin/bash", &conf, &env, b"", &script);
    // Under script the recorder's stderr is the terminal too.
    let seen = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "{seen}");
    assert!(seen.contains("got-typed-secret /bin/bash"), "{seen}");
    assert!(!seen.contains("evil-shell"), "{seen}");
    assert_env_ignored(&seen, &TLOG_VARS);
    assert!(
        seen.contains("[recorded]") && !seen.contains("[env]"),
        "{seen}"
    );
    // No hand-off in a trusted, empty directory: nothing was rejected.
    assert!(!seen.contains("Ignoring the PAM hand-off"), "{seen}");
    assert!(
        !evil.exists() && !evil2.exists(),
        "the environment redirected the recording"
    );
    let m = messages(&w.log);
    let field = |k: &str| -> String { m.iter().map(|m| m[k].as_str().unwrap()).collect() };
    assert!(field("in_txt").contains("typed-secret"), "{m:?}");
    assert!(field("out_txt").contains("got-typed-secret"), "{m:?}");
    assert!(field("timing").starts_with("=80x24"), "{m:?}");
    assert_eq!(w.starts(), 1);

    // The same holds in pipe mode (no terminal, so no window).
    let before = m.len();
    let o = w.run_script(
        "/bin/bash",
        &conf,
        &env,
        b"piped-secret\n",
        &recorder_cmd("tlog-rs-rec-session", &["-c", inner]),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "got-piped-secret /bin/bash\n", "{}", stderr(&o));
    let m = messages(&w.log);
    let new = &m[before..];
    assert!(
        new.iter().any(|m| m["in_txt"] == "piped-secret\n"),
        "{new:?}"
    );
    assert!(
        new.iter()
            .any(|m| m["out_txt"] == "got-piped-secret /bin/bash\n"),
        "{new:?}"
    );
    assert!(!evil.exists() && !evil2.exists());
}
