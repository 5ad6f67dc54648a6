//! Differential check against the real thing: every case of
//! policy/tests/sssd-conformance.txt is run through SSSD 2.8 itself (proxy
//! provider over the table's /etc/passwd and /etc/group), and the users whose
//! NSS shell SSSD replaces by tlog-rec-session must be exactly the ones the
//! table (and so our engine, see sssd_conformance.rs / policy_nss.rs) records.
//!
//! SSSD's packages edit /etc/passwd, nsswitch.conf and pam.d when installed,
//! so unless sssd is already installed they are installed into a private
//! overlay of /usr, /etc, /var and /run that only this test's namespace sees
//! (the .debs are cached under target/ for the next run). The host is never
//! touched. Each case gets its own nested namespace with tmpfs SSSD state
//! (cold cache, as the spec recommends comparing against).

use tlog_rs_tests::sssd_table as table;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use tlog_rs_tests::nsenv::shell_quote;
use tlog_rs_tests::{require_root, target_dir};

const TABLE: &str = include_str!("../../policy/tests/sssd-conformance.txt");
const RECORDING_SHELL: &str = "/usr/bin/tlog-rec-session";

/// The table stands for SSSD's qualified output names with local names like
/// `user5@files`. Those users are checked in a second pass whose domain
/// (`files`) has `use_fully_qualified_names = True`, with the `@files`
/// suffix removed from passwd/group, so that SSSD itself prints them.
const FQ_SUFFIX: &str = "@files";

fn strip_fq(db: &str) -> String {
    db.lines()
        .map(|l| {
            let mut f: Vec<String> = l.split(':').map(str::to_string).collect();
            if let Some(n) = f[0].strip_suffix(FQ_SUFFIX) {
                f[0] = n.to_string();
            }
            if f.len() == 4 {
                // group members
                f[3] = f[3]
                    .split(',')
                    .map(|m| m.strip_suffix(FQ_SUFFIX).unwrap_or(m))
                    .collect::<Vec<_>>()
                    .join(",");
            }
            f.join(":") + "\n"
        })
        .collect()
}

/// How a case's sssd.conf is run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Table case: our proxy domain `files` prepended.
    Table,
    /// Table case, qualified-name pass (`use_fully_qualified_names`).
    TableFq,
    /// An example file as-is (it has its own domain).
    AsIs,
}

/// A namespace whose /usr, /etc, /var, /run are overlays with SSSD installed.
struct SssdWorld {
    holder: Child,
    dir: PathBuf,
}

impl SssdWorld {
    fn start() -> SssdWorld {
        let dir = std::env::temp_dir().join(format!("tlog-rs-sssd-oracle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["usr", "etc", "var", "run"] {
            std::fs::create_dir_all(dir.join(d).join("up")).unwrap();
            std::fs::create_dir_all(dir.join(d).join("wk")).unwrap();
        }
        let q = |p: &Path| shell_quote(p.as_os_str());
        let mut script = String::from("set -e\n");
        for d in ["usr", "etc", "var", "run"] {
            script.push_str(&format!(
                "mount -t overlay tlog_rs_oracle_{d} -o lowerdir=/{d},upperdir={},workdir={} /{d}\n",
                q(&dir.join(d).join("up")),
                q(&dir.join(d).join("wk"))
            ));
        }
        script.push_str(&format!(
            ": > {}\nexec sleep infinity\n",
            q(&dir.join("ready"))
        ));
        let holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare");
        let world = SssdWorld { holder, dir };
        for _ in 0..100 {
            if world.dir.join("ready").exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            world.dir.join("ready").exists(),
            "overlay namespace did not come up"
        );
        world.install_sssd();
        world
    }

    fn nsenter(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.id().to_string(), "-m", "--"]);
        c
    }

    fn install_sssd(&self) {
        let have = self
            .nsenter()
            .args(["sh", "-c", "test -x /usr/sbin/sssd && test -x /usr/libexec/sssd/sssd_be && test -e /usr/lib/x86_64-linux-gnu/libnss_sss.so.2 || test -e /lib/x86_64-linux-gnu/libnss_sss.so.2"])
            .status()
            .unwrap();
        if have.success() {
            return;
        }
        let cache = target_dir().join("sssd-oracle-debs");
        std::fs::create_dir_all(cache.join("partial")).unwrap();
        let out = self
            .nsenter()
            .args([
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
            ])
            .arg(format!("-o=Dir::Cache::archives={}", cache.display()))
            .arg("-o=APT::Sandbox::User=root")
            .arg("sssd-proxy")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "could not install sssd-proxy into the private overlay (needs the Debian archive; \
             apt-get update may be needed): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run one case: returns user -> Some(shell) or None (lookup failed).
    fn run_case(
        &self,
        case: &table::Case,
        passwd: &str,
        group: &str,
        users: &[&String],
        mode: Mode,
    ) -> (Vec<(String, Option<String>)>, String) {
        let fq = mode == Mode::TableFq;
        let t =
            self.dir
                .join("cases")
                .join(format!("{}{}", case.name, if fq { "-fq" } else { "" }));
        let (passwd, group) = if fq {
            (strip_fq(passwd), strip_fq(group))
        } else {
            (passwd.to_string(), group.to_string())
        };
        std::fs::create_dir_all(t.join("conf.d")).unwrap();
        let write = |rel: &str, text: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let p = t.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(
            "passwd",
            &format!("root:x:0:0:root:/root:/bin/bash\n{passwd}"),
            0o644,
        );
        write("group", &format!("root:x:0:\n{group}"), 0o644);
        write("nsswitch.conf", "passwd: files\ngroup: files\n", 0o644);
        // The domain every case needs, then the case's own file (sections
        // repeated there are merged, later keys win, as in SSSD).
        const BASE: &str = "[sssd]\nservices = nss\ndomains = files\n\n[domain/files]\n\
                            id_provider = proxy\nproxy_lib_name = files\nauth_provider = none\n";
        let fq_line = if fq {
            "use_fully_qualified_names = True\n"
        } else {
            ""
        };
        for (rel, text, file_mode) in &case.files {
            if rel == "sssd.conf" && mode != Mode::AsIs {
                write(rel, &format!("{BASE}{fq_line}\n{text}"), *file_mode);
            } else {
                write(rel, text, *file_mode);
            }
        }
        let q = |p: &Path| shell_quote(p.as_os_str());
        let mut s = String::from("set -e\n");
        for (src, dst) in [
            ("passwd", "/etc/passwd"),
            ("group", "/etc/group"),
            ("nsswitch.conf", "/etc/nsswitch.conf"),
        ] {
            s.push_str(&format!("mount --bind {} {dst}\n", q(&t.join(src))));
        }
        s.push_str(&format!(
            "mkdir -p /etc/sssd/conf.d; [ -e /etc/sssd/sssd.conf ] || : > /etc/sssd/sssd.conf\n\
             mount --bind {} /etc/sssd/sssd.conf\nmount --bind {} /etc/sssd/conf.d\n",
            q(&t.join("sssd.conf")),
            q(&t.join("conf.d"))
        ));
        s.push_str(
            "for d in db mc pipes; do mkdir -p /var/lib/sss/$d; mount -t tmpfs none /var/lib/sss/$d; done\n\
             mkdir -p /var/lib/sss/pipes/private /var/log/sssd; mount -t tmpfs none /var/log/sssd\n\
             mount -t tmpfs none /run\n\
             set +e\n/usr/sbin/sssd -i --logger=stderr -d 0x0070 2>\"$LOG\" &\nP=$!\n\
             for i in $(seq 60); do [ -S /var/lib/sss/pipes/nss ] && break; kill -0 $P 2>/dev/null || break; sleep 0.1; done\n\
             sleep 0.3\n",
        );
        for u in users {
            let qu = shell_quote(u.as_ref());
            s.push_str(&format!(
                "e=$(getent -s sss passwd {qu}) && echo \"ok ${{e##*:}}\" || echo fail\n"
            ));
        }
        s.push_str("kill $P 2>/dev/null; wait $P 2>/dev/null; exit 0\n");
        let log = t.join("sssd.log");
        let out = self
            .nsenter()
            .args(["unshare", "-m", "--propagation", "private", "sh", "-c", &s])
            .env("LOG", &log)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            users.len(),
            "{}: {stdout}{}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let res = users
            .iter()
            .zip(lines)
            .map(|(u, l)| (u.to_string(), l.strip_prefix("ok ").map(str::to_string)))
            .collect();
        (res, std::fs::read_to_string(&log).unwrap_or_default())
    }
}

impl Drop for SssdWorld {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        if std::env::var_os("TLOG_RS_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[test]
fn real_sssd_agrees_with_table_and_examples() {
    if !require_root("real_sssd_agrees_with_table_and_examples") {
        return;
    }
    let t = table::parse(TABLE);
    let world = SssdWorld::start();
    let failures = Mutex::new(Vec::new());
    let checked = Mutex::new(0usize);
    let cases: Vec<&table::Case> = t.cases.iter().collect();
    // Cases are independent namespaces: run a few at a time.
    std::thread::scope(|scope| {
        for chunk in cases.chunks(cases.len().div_ceil(3)) {
            let (world, t, failures, checked) = (&world, &t, &failures, &checked);
            scope.spawn(move || {
                for (case, fq) in chunk.iter().flat_map(|c| [(c, false), (c, true)]) {
                    let users: Vec<&String> = case
                        .record
                        .iter()
                        .chain(case.not.iter())
                        .filter(|u| u.ends_with(FQ_SUFFIX) == fq)
                        .collect();
                    if users.is_empty() {
                        continue;
                    }
                    let mode = if fq { Mode::TableFq } else { Mode::Table };
                    let (res, log) = world.run_case(case, &t.passwd, &t.group, &users, mode);
                    *checked.lock().unwrap() += 1;
                    let mut f = failures.lock().unwrap();
                    for (user, shell) in res {
                        match (&case.error, shell) {
                            // Our "fails closed" = SSSD refuses to serve anyone.
                            (Some(_), None) => {}
                            (Some(at), Some(sh)) => f.push(format!(
                                "{}: {user}: SSSD served (shell {sh}) but the table expects a fatal error at {at}",
                                case.name
                            )),
                            (None, None) => f.push(format!(
                                "{}: {user}: SSSD lookup failed\n{}",
                                case.name,
                                log.lines().filter(|l| l.contains("0x0010") || l.contains("0x0020")).collect::<Vec<_>>().join("\n")
                            )),
                            (None, Some(sh)) => {
                                let sssd_records = sh == RECORDING_SHELL;
                                let table_records = case.record.contains(&user);
                                if sssd_records != table_records {
                                    f.push(format!(
                                        "{}: {user}: SSSD shell {sh:?}, table says record={table_records}",
                                        case.name
                                    ));
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let checked = checked.into_inner().unwrap();
    // Every case is checked (plus a qualified-name pass for those with
    // user@files users).
    assert!(checked >= t.cases.len(), "only {checked} runs against SSSD");
    let mut failures = failures;
    failures.extend(check_examples(&world));
    assert!(
        failures.is_empty(),
        "{} disagreements with real SSSD:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The sssd-conf-examples with a local (proxy) domain, run as written: SSSD
/// must replace the shell of exactly the `# expect-record:` users. root is
/// left out (SSSD never serves it: filter_users defaults to root); the
/// FreeIPA example needs an IPA server and is covered by policy_examples.rs.
fn check_examples(world: &SssdWorld) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sssd-conf-examples");
    let passwd = std::fs::read_to_string(dir.join("test-db/passwd")).unwrap();
    let group = std::fs::read_to_string(dir.join("test-db/group")).unwrap();
    let expect = |text: &str, key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("# {key}:")))
            .flat_map(|l| l.split_whitespace().map(str::to_string))
            .filter(|u| u != "root")
            .collect()
    };
    let mut failures = Vec::new();
    let mut ran = 0;
    for name in [
        "contractors-only",
        "everyone-except-breakglass",
        "dba-group",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.conf"))).unwrap();
        let case = table::Case {
            name: format!("example-{name}"),
            files: vec![("sssd.conf".into(), text.clone(), 0o600)],
            record: expect(&text, "expect-record"),
            not: expect(&text, "expect-not"),
            ..Default::default()
        };
        let users: Vec<&String> = case.record.iter().chain(case.not.iter()).collect();
        let (res, log) = world.run_case(&case, &passwd, &group, &users, Mode::AsIs);
        ran += 1;
        for (user, shell) in res {
            let want = case.record.contains(&user);
            match shell {
                Some(sh) if (sh == RECORDING_SHELL) == want => {}
                other => failures.push(format!(
                    "{}: {user}: SSSD gave {other:?}, example says record={want}\n{}",
                    case.name,
                    log.lines()
                        .filter(|l| l.contains("0x0010") || l.contains("0x0020"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )),
            }
        }
    }
    assert_eq!(ran, 3);
    failures
}
