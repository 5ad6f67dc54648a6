//! PAM open+close session cost of this pam_tlog against an older build of
//! it (OLD_PAM=/path/to/libpam_tlog.so), in one world, runs interleaved so
//! both see the same machine load (run by hand, never by the suite; it
//! asserts nothing). alice is selected, bob is not; pam_permit is the
//! baseline. RUNS=n rounds of 200 transactions (default 9); CALLGRIND=1
//! and STRACE=1 also write instruction and syscall profiles to OUT
//! (default /tmp). docs/hardening.md "PAM cost" has a run.
//!
//! `OLD_PAM=... cargo test --release -p tlog-rs-tests --test modules_pam_compare -- --ignored --nocapture`
use std::process::Command;
use tlog_rs_tests::bench::{median, PAM_SESSION_LOOP_C};
use tlog_rs_tests::sshd::{World, WorldConfig};

#[test]
#[ignore = "benchmark: run by hand with OLD_PAM"]
fn pam_tlog_against_an_older_build() {
    let old = std::env::var("OLD_PAM").expect("OLD_PAM");
    let mut cfg = WorldConfig::new("pam-compare");
    cfg.setuid_recorder = true;
    cfg.user("alice", &[]).user("bob", &[]);
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n[rule.settings]\n{}",
        tlog_rs_tests::sshd::file_settings("alice")
    ));
    cfg.etc_file(
        "pam.d/bench-tlog",
        "session required {T}/lib/pam_tlog.so\n",
        0o644,
    );
    cfg.etc_file(
        "pam.d/bench-old",
        "session required {T}/lib/pam_tlog_old.so\n",
        0o644,
    );
    cfg.etc_file(
        "pam.d/bench-permit",
        "session required pam_permit.so\n",
        0o644,
    );
    let w = World::start(cfg);
    let t = w.dir.display().to_string();
    std::fs::copy(&old, w.dir.join("lib/pam_tlog_old.so")).unwrap();
    std::fs::write(w.dir.join("pam.c"), PAM_SESSION_LOOP_C).unwrap();
    assert!(Command::new("sh")
        .arg("-c")
        .arg(format!("gcc -O2 -o {t}/pambench {t}/pam.c -lpam"))
        .status()
        .unwrap()
        .success());
    let out_dir = std::env::var("OUT").unwrap_or_else(|_| "/tmp".into());
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(9);
    let cases = [
        ("bench-permit", "alice"),
        ("bench-old", "alice"),
        ("bench-tlog", "alice"),
        ("bench-old", "bob"),
        ("bench-tlog", "bob"),
    ];
    let mut res: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..runs {
        for (i, (svc, user)) in cases.iter().enumerate() {
            let out = w.ns_sh(&format!("{t}/pambench {svc} {user} 200"));
            let s = String::from_utf8_lossy(&out.stdout);
            res[i].push(s.trim().parse().unwrap_or_else(|_| {
                panic!("{svc} {user}: {s} {}", String::from_utf8_lossy(&out.stderr))
            }));
        }
    }
    let base = median(res[0].clone());
    for (i, (svc, user)) in cases.iter().enumerate() {
        let m = median(res[i].clone());
        println!(
            "{svc} {user}: {m:.1} us (+{:.1}) all {:?}",
            m - base,
            res[i]
        );
    }
    if std::env::var_os("CALLGRIND").is_some() {
        for (svc, user) in cases {
            let out = w.ns_sh(&format!("valgrind --tool=callgrind --callgrind-out-file={t}/cg.out {t}/pambench {svc} {user} 20 >/dev/null 2>&1; callgrind_annotate --inclusive=yes {t}/cg.out 2>/dev/null | head -80"));
            std::fs::write(format!("{out_dir}/cg-{svc}-{user}.txt"), &out.stdout).unwrap();
        }
    }
    if std::env::var_os("STRACE").is_some() {
        for (svc, user) in cases {
            let out = w.ns_sh(&format!("strace -f -c -o {t}/sc-{svc}-{user}.txt {t}/pambench {svc} {user} 100 >/dev/null; cat {t}/sc-{svc}-{user}.txt"));
            std::fs::write(format!("{out_dir}/sc-{svc}-{user}.txt"), &out.stdout).unwrap();
            let out = w.ns_sh(&format!(
                "strace -f -o {t}/tr.txt {t}/pambench {svc} {user} 1 >/dev/null; cat {t}/tr.txt"
            ));
            std::fs::write(format!("{out_dir}/tr-{svc}-{user}.txt"), &out.stdout).unwrap();
        }
    }
}
