//! Policy decision benchmark (run by bench/policy.sh, in release).
//!
//! Policy: 100 policy.toml rules (each naming one group and one user) plus
//! sssd.conf `scope = some` with 50 groups. Users have 50 groups each.
//! Measures, as medians of several runs:
//! * decide() for a user no source selects (every group misses, all three
//!   sources consulted) and for a user selected by the last rule's group;
//! * PolicyCache::get() on unchanged files (stat of every file, no re-parse);
//! * Policy::load() from scratch (what a process pays once, or after a change);
//! * baselines in the same run: one glibc getpwnam_r("root") (what every NSS
//!   lookup costs anyway) and one stat() of the policy file.

use std::ffi::CString;
use std::hint::black_box;
use std::time::Instant;

use tlog_rs_policy::{LoginFacts, Policy, PolicyCache};

const RUNS: usize = 7;

fn median_ns(iters: u32, mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[RUNS / 2]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("tlog-rs-policy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sssd = dir.join("sssd.conf");
    let sssd_groups: Vec<String> = (0..50).map(|i| format!("sssd-grp{i}")).collect();
    std::fs::write(
        &sssd,
        format!(
            "[session_recording]\nscope = some\nusers = u1, u2\ngroups = {}\n",
            sssd_groups.join(", ")
        ),
    )
    .unwrap();
    let mut toml = format!("[sssd]\nconf = \"{}\"\n", sssd.display());
    for i in 0..100 {
        toml.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\nusers = [\"ruleuser{i}\"]\ngroups = [\"grp{i}\"]\nservices = [\"sshd\", \"login\"]\n"
        ));
    }
    let path = dir.join("policy.toml");
    std::fs::write(&path, toml).unwrap();
    let policy = Policy::load(&path).expect("bench policy loads");

    let groups: Vec<String> = (0..50).map(|i| format!("usergroup{i}")).collect();
    let base = LoginFacts {
        user: "someone".into(),
        uid: 5000,
        gid: 5000,
        primary_group: Some("someone".into()),
        groups: groups.clone(),
        host: "host1.example.com".into(),
        service: Some("sshd".into()),
        passwd_shell: "/bin/bash".into(),
    };
    let mut selected = base.clone();
    selected.groups[49] = "grp99".into(); // only the last rule matches, via the last group
    assert!(!policy.decide(&base).record);
    let d = policy.decide(&selected);
    assert!(d.record && d.rule.contains("'r99'"), "{}", d.rule);

    let n = 200_000;
    let not_selected = median_ns(n, || {
        black_box(policy.decide(black_box(&base)));
    });
    let by_group = median_ns(n, || {
        black_box(policy.decide(black_box(&selected)));
    });
    let nss_view = median_ns(n, || {
        black_box(policy.may_record(black_box(&base)));
    });

    let mut cache = PolicyCache::new(path.clone());
    cache.get().unwrap();
    let recheck = median_ns(50_000, || {
        black_box(cache.get().is_ok());
    });
    assert_eq!(cache.reloads(), 0);

    let load = median_ns(200, || {
        black_box(Policy::load(black_box(&path)).is_ok());
    });
    let small = dir.join("small.toml");
    std::fs::write(
        &small,
        "[[rule]]\nname = \"bg\"\naction = \"exempt\"\nusers = [\"breakglass\"]\n\
         [[rule]]\nname = \"dbas\"\ngroups = [\"dba\"]\n[rule.settings]\nlog_input = true\n\
         [[rule]]\nname = \"contractors\"\ngroups = [\"contractors\"]\nservices = [\"sshd\"]\n",
    )
    .unwrap();
    let load_small = median_ns(2000, || {
        black_box(Policy::load(black_box(&small)).is_ok());
    });

    let root = CString::new("root").unwrap();
    let getpwnam = median_ns(50_000, || {
        // SAFETY: an all-zero passwd is a valid out-parameter.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut buf = [0 as libc::c_char; 4096];
        let mut res = std::ptr::null_mut();
        // SAFETY: all pointers valid for the call.
        unsafe {
            libc::getpwnam_r(
                root.as_ptr(),
                &mut pw,
                buf.as_mut_ptr(),
                buf.len(),
                &mut res,
            )
        };
        black_box(res);
    });
    let stat = median_ns(50_000, || {
        black_box(std::fs::metadata(black_box(&path)).is_ok());
    });
    let _ = std::fs::remove_dir_all(&dir);

    println!("policy: 100 rules + sssd.conf scope=some with 50 groups; users with 50 groups; median of {RUNS} runs");
    println!("baseline glibc getpwnam_r(root), files     {getpwnam:>9.0} ns");
    println!("baseline stat(policy.toml)                 {stat:>9.0} ns");
    println!(
        "decide: user not selected                  {not_selected:>9.0} ns  = {:.2} x getpwnam_r",
        not_selected / getpwnam
    );
    println!(
        "decide: user selected by group (rule 100)  {by_group:>9.0} ns  = {:.2} x getpwnam_r",
        by_group / getpwnam
    );
    println!(
        "may_record (NSS view), user not selected   {nss_view:>9.0} ns  = {:.2} x getpwnam_r",
        nss_view / getpwnam
    );
    println!(
        "PolicyCache::get, files unchanged (3 stats){recheck:>9.0} ns  = {:.2} x stat; reloads = {}",
        recheck / stat,
        cache.reloads()
    );
    println!(
        "Policy::load (cold parse, 100 rules + sssd){:>8.0} ns  = {:.1} x getpwnam_r (once per process/change)",
        load,
        load / getpwnam
    );
    println!(
        "Policy::load (cold parse, 3 rules)        {:>9.0} ns  = {:.1} x getpwnam_r",
        load_small,
        load_small / getpwnam
    );
    let worst = not_selected.max(by_group).max(nss_view);
    println!(
        "target < 5000 ns per decision: {} (worst {worst:.0} ns)",
        if worst < 5000.0 { "met" } else { "NOT met" }
    );
}
