//! Benchmark for the modules (run by bench/modules.sh, never by the test
//! suite: it is #[ignore]d and asserts nothing about timing). Prints medians
//! and ratios against baselines measured in the same run, in a world
//! namespace (alice selected, bob not):
//! - getpwnam latency, `passwd: tlog files` vs `passwd: files`, for a
//!   selected, an unselected and a nonexistent user;
//! - PAM open_session+close_session time, pam_tlog vs pam_permit;
//! - ssh connect to first output, recorded (alice) vs unrecorded (bob).
//!
//! With TLOG_BENCH_NSS_BASELINE=/path/libnss_tlog.so (bench/modules.sh
//! --ab REV) only the first lookup in a new process is measured, this
//! build's module against that one, alternating in the same world.

use std::process::Command;
use std::time::Instant;

use tlog_rs_tests::bench::{median, PAM_SESSION_LOOP_C};
use tlog_rs_tests::sshd::{World, WorldConfig};

const LOOKUP_C: &str = r#"
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv) {
    long n = atol(argv[2]); char buf[4096]; struct passwd pw, *res;
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) getpwnam_r(argv[1], &pw, buf, sizeof buf, &res);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
"#;

/// What the benchmark users are to the policy.
fn role(user: &str) -> &'static str {
    match user {
        "alice" => "selected",
        "bob" => "unselected",
        _ => "nonexistent",
    }
}

fn run_in(w: &World, script: &str) -> f64 {
    let out = w.ns_sh(script);
    let s = String::from_utf8_lossy(&out.stdout);
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{script}: {s} {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
#[ignore = "benchmark: run bench/modules.sh"]
fn modules_bench() {
    let mut cfg = WorldConfig::new("bench");
    // The production layout: the recorder is set-uid to its own account.
    cfg.setuid_recorder = true;
    cfg.user("alice", &["dbas"])
        .user("bob", &["staff"])
        .group("dbas")
        .group("staff");
    cfg.policy(&format!(
        "[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n[rule.settings]\n{}",
        tlog_rs_tests::sshd::file_settings("alice")
    ));
    let pam_line = |m: &str| format!("session required {m}\n");
    cfg.etc_file("pam.d/bench-tlog", &pam_line("{T}/lib/pam_tlog.so"), 0o644);
    cfg.etc_file("pam.d/bench-permit", &pam_line("pam_permit.so"), 0o644);
    // For the policy that selects through sssd.conf (root-only, as SSSD has it).
    cfg.etc_file(
        "sssd/sssd.conf",
        "[sssd]\nservices = nss, pam\n\n[session_recording]\nscope = some\ngroups = dbas\n",
        0o600,
    );
    let w = World::start(cfg);
    let t = w.dir.display().to_string();
    std::fs::write(w.dir.join("lookup.c"), LOOKUP_C).unwrap();
    std::fs::write(w.dir.join("pam.c"), PAM_SESSION_LOOP_C).unwrap();
    for (src, bin, lib) in [("lookup.c", "lookup", ""), ("pam.c", "pambench", "-lpam")] {
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!("gcc -O2 -o {t}/{bin} {t}/{src} {lib}"))
            .status()
            .unwrap();
        assert!(st.success(), "gcc {src}");
    }
    const RUNS: usize = 5;
    const N: u32 = 20000;
    let policy_path = "/etc/tlog-rs/policy.toml";
    let user_policy =
        String::from_utf8_lossy(&w.ns_sh(&format!("cat {policy_path}")).stdout).into_owned();
    let group_policy = format!(
        "recorder = \"{t}/bin/tlog-rs-rec-session\"\n[[rule]]\nname = \"dbas\"\ngroups = [\"dbas\"]\n"
    );
    let sssd_policy = format!(
        "recorder = \"{t}/bin/tlog-rs-rec-session\"\n[sssd]\nconf = \"/etc/sssd/sssd.conf\"\n"
    );
    // TLOG_BENCH_PAM_ONLY=1 (bench/modules.sh --pam-only): only the PAM part.
    let pam_only = std::env::var_os("TLOG_BENCH_PAM_ONLY").is_some();
    let nss_policies: &[(&str, &String)] = if pam_only {
        &[]
    } else {
        &[
            ("policy selects by user name", &user_policy),
            ("policy selects by group", &group_policy),
            ("sssd.conf selects by group", &sssd_policy),
        ]
    };
    let baseline = std::env::var_os("TLOG_BENCH_NSS_BASELINE");
    if let Some(b) = &baseline {
        std::fs::copy(b, w.dir.join("lib/nss-base.so")).expect("copy the baseline module");
        std::fs::copy(
            w.dir.join("lib/libnss_tlog.so.2"),
            w.dir.join("lib/nss-new.so"),
        )
        .unwrap();
    }
    for &(label, policy) in nss_policies {
        std::fs::write(w.dir.join("bench-policy.toml"), policy).unwrap();
        w.ns_sh(&format!("cp {t}/bench-policy.toml {policy_path}"));
        if baseline.is_some() {
            cold_against_baseline(&w, label);
            continue;
        }
        println!("getpwnam_r latency, {label} (ns/call, median of {RUNS} runs of {N}):");
        for user in ["alice", "bob", "nosuchuser"] {
            let mut per = Vec::new();
            for nss in ["files", "tlog files"] {
                let v: Vec<f64> = (0..RUNS)
                    .map(|_| {
                        run_in(
                            &w,
                            &format!(
                                "printf 'passwd: {nss}\\ngroup: files\\n' > /etc/nsswitch.conf; {t}/lookup {user} {N}"
                            ),
                        )
                    })
                    .collect();
                per.push(median(v));
            }
            let what = role(user);
            println!(
                "  {what:<12} files {:>8.0}  tlog files {:>8.0}  ratio {:.2}",
                per[0],
                per[1],
                per[1] / per[0]
            );
        }
        // Cold: the first lookup of a fresh process (module load, policy
        // read, no cached answer). Files and tlog processes alternate, so
        // both see the same machine load; the figure is the median of the
        // per-pair differences (its quartiles give the spread). Without the
        // NSS snapshot (policy.toml parsed) and with it (`tlog-rs validate`).
        const COLD: usize = 101;
        let tlog_rs = tlog_rs_tests::artifact("tlog-rs");
        for snapshot in [false, true] {
            if snapshot {
                w.ns_sh(&format!("{} validate >/dev/null", tlog_rs.display()));
            } else {
                w.ns_sh("rm -f /run/tlog-rs/policy.snapshot");
            }
            let has = w
                .ns_sh("test -s /run/tlog-rs/policy.snapshot")
                .status
                .success();
            assert_eq!(has, snapshot, "snapshot present");
            println!(
                "  cold: first lookup in a new process, {} (us over files: median [p25..p75] of {COLD} alternating pairs):",
                if snapshot { "NSS snapshot written by `tlog-rs validate`" } else { "no snapshot (the fallback module parses the policy)" }
            );
            for user in ["alice", "bob", "nosuchuser"] {
                let out = w.ns_sh(&format!(
                    "i=0; while [ $i -lt {COLD} ]; do \
                     printf 'passwd: files\\ngroup: files\\n' > /etc/nsswitch.conf; {t}/lookup {user} 1; \
                     printf 'passwd: tlog files\\ngroup: files\\n' > /etc/nsswitch.conf; {t}/lookup {user} 1; \
                     i=$((i+1)); done"
                ));
                let (files, tlog, diff) = alternating_pairs(&out, COLD);
                let (f, l) = (median(files), median(tlog));
                let what = role(user);
                println!(
                    "    {what:<12} files {:>6.0} us  tlog files {:>6.0} us  ratio {:.2}  +{:.0} us [{:.0}..{:.0}]  (target +150 us)",
                    f,
                    l,
                    l / f,
                    diff[COLD / 2],
                    diff[COLD / 4],
                    diff[3 * COLD / 4]
                );
            }
        }
    }
    std::fs::write(w.dir.join("bench-policy.toml"), &user_policy).unwrap();
    w.ns_sh(&format!("cp {t}/bench-policy.toml {policy_path}"));
    if baseline.is_some() {
        return;
    }
    // Restore the world's nsswitch for the rest.
    w.ns_sh("printf 'passwd: tlog files\\ngroup: files\\nshadow: files\\nhosts: files\\n' > /etc/nsswitch.conf");

    println!("PAM open_session+close_session (us/transaction, median of {RUNS} runs of 200):");
    let mut res = Vec::new();
    for (svc, user) in [
        ("bench-permit", "alice"),
        ("bench-tlog", "alice"),
        ("bench-tlog", "bob"),
    ] {
        res.push(median(
            (0..RUNS)
                .map(|_| run_in(&w, &format!("{t}/pambench {svc} {user} 200")))
                .collect(),
        ));
    }
    println!("  pam_permit only       {:>8.1}", res[0]);
    println!(
        "  pam_tlog, recorded    {:>8.1}  (+{:.1} us)",
        res[1],
        res[1] - res[0]
    );
    println!(
        "  pam_tlog, unrecorded  {:>8.1}  (+{:.1} us)",
        res[2],
        res[2] - res[0]
    );

    if pam_only {
        // Syscalls per transaction (deterministic, unlike the times above).
        for (svc, user) in [
            ("bench-permit", "alice"),
            ("bench-tlog", "alice"),
            ("bench-tlog", "bob"),
        ] {
            let out = w.ns_sh(&format!(
                "command -v strace >/dev/null && strace -f -c -o {t}/sc.txt {t}/pambench {svc} {user} 100 >/dev/null && tail -1 {t}/sc.txt"
            ));
            let line = String::from_utf8_lossy(&out.stdout).into_owned();
            // "100.00 time seconds usecs/call CALLS errors total"
            if let Some(calls) = line
                .split_whitespace()
                .nth(3)
                .and_then(|c| c.parse::<f64>().ok())
            {
                println!("  {svc} {user}: {:.0} syscalls/transaction", calls / 100.0);
            }
        }
        return;
    }
    println!("ssh connect to first output (ms; 15 back-to-back pairs, set-uid recorder):");
    let login = |user: &str| {
        let start = Instant::now();
        let out = w.ssh(user, &["-tt"], Some("echo ready"), b"");
        assert!(String::from_utf8_lossy(&out.stdout).contains("ready"));
        start.elapsed().as_secs_f64() * 1000.0
    };
    let (mut plain, mut recorded, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        let (b, a) = (login("bob"), login("alice"));
        plain.push(b);
        recorded.push(a);
        diffs.push(a - b);
    }
    let (p, r, d) = (median(plain), median(recorded), median(diffs));
    println!(
        "  unrecorded {p:>7.1}  recorded {r:>7.1}  overhead (median of pair differences) {d:+.1} ms  ratio {:.2}  (target < 20 ms)",
        r / p
    );
}

/// The first lookup of a fresh process with this build's module and with the
/// baseline module (TLOG_BENCH_NSS_BASELINE), alternating (the installed
/// file is re-linked between processes), with the NSS snapshot written.
fn cold_against_baseline(w: &World, label: &str) {
    const PAIRS: usize = 201;
    let t = w.dir.display().to_string();
    let tlog_rs = tlog_rs_tests::artifact("tlog-rs");
    w.ns_sh(&format!(
        "{} validate >/dev/null; printf 'passwd: tlog files\\ngroup: files\\n' > /etc/nsswitch.conf",
        tlog_rs.display()
    ));
    println!(
        "cold first lookup, {label}, NSS snapshot: this build against the baseline module (us: median [p25..p75] of {PAIRS} alternating pairs):"
    );
    for user in ["alice", "bob", "nosuchuser"] {
        let out = w.ns_sh(&format!(
            "i=0; while [ $i -lt {PAIRS} ]; do \
             ln -f {t}/lib/nss-base.so {t}/lib/libnss_tlog.so.2; {t}/lookup {user} 1; \
             ln -f {t}/lib/nss-new.so {t}/lib/libnss_tlog.so.2; {t}/lookup {user} 1; \
             i=$((i+1)); done; ln -f {t}/lib/nss-new.so {t}/lib/libnss_tlog.so.2"
        ));
        let (base, new, diff) = alternating_pairs(&out, PAIRS);
        let what = role(user);
        println!(
            "  {what:<12} baseline {:>6.0}  this build {:>6.0}  difference {:+.0} [{:+.0}..{:+.0}]",
            median(base),
            median(new),
            diff[PAIRS / 2],
            diff[PAIRS / 4],
            diff[3 * PAIRS / 4]
        );
    }
}

/// The `lookup` times (ns) of `pairs` alternating runs, first of each pair
/// then second, in µs: the first ones, the second ones, and the sorted
/// differences second minus first.
fn alternating_pairs(out: &std::process::Output, pairs: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .map(|ns| ns / 1e3)
        .collect();
    assert_eq!(
        v.len(),
        2 * pairs,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: Vec<f64> = v.iter().step_by(2).copied().collect();
    let second: Vec<f64> = v.iter().skip(1).step_by(2).copied().collect();
    let mut diff: Vec<f64> = second.iter().zip(&first).map(|(s, f)| s - f).collect();
    diff.sort_by(|a, b| a.total_cmp(b));
    (first, second, diff)
}
