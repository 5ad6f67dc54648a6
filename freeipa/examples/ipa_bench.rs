//! Helper for bench/freeipa.sh.
//!   ipa_bench gen-ldif OUT      write a directory with 10,000 users in 2,000
//!                               nested groups, 50 hosts in 20 nested
//!                               hostgroups, and 1,000 session-recording rules
//!   ipa_bench decide CACHE      time the per-login decision from a cache
//!                               (load once, then many evaluations); prints
//!                               `load_us=.. decide_ns=..` (medians of 7 runs)

use std::fmt::Write as _;
use std::time::Instant;

use tlog_rs_policy::freeipa::load_cache;
use tlog_rs_policy::LoginFacts;

const USERS: usize = 10_000;
const GROUPS: usize = 2_000;
const HOSTS: usize = 50;
const HOSTGROUPS: usize = 20;
const RULES: usize = 1_000;
const B: &str = "dc=example,dc=test";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen-ldif") => std::fs::write(&args[2], gen()).expect("write ldif"),
        Some("decide") => decide(&args[2]),
        _ => {
            eprintln!("usage: ipa_bench gen-ldif OUT | decide CACHE");
            std::process::exit(2);
        }
    }
}

/// Group i (i >= 1) is nested in group i / 10: four levels deep.
fn gen() -> String {
    let mut s = String::new();
    for c in [
        "accounts",
        "users,cn=accounts",
        "groups,cn=accounts",
        "computers,cn=accounts",
        "hostgroups,cn=accounts",
        "hbac",
        "hbacservices,cn=hbac",
        "hbacservicegroups,cn=hbac",
    ] {
        let cn = c.split(',').next().unwrap();
        writeln!(
            s,
            "dn: cn={c},{B}\nobjectClass: top\nobjectClass: nsContainer\ncn: {cn}\n"
        )
        .unwrap();
    }
    let mut prefix = format!("dn: {B}\nobjectClass: top\nobjectClass: domain\ndc: example\n\n");
    prefix.push_str(&s);
    s = prefix;
    writeln!(s, "dn: cn=sessionrecording,{B}\nobjectClass: top\nobjectClass: nsContainer\nobjectClass: ipaSessionRecordingDefaults\ncn: sessionrecording\nipaSessionRecordingLogOutput: TRUE\nipaSessionRecordingAuditLevel: none\n").unwrap();
    for u in 0..USERS {
        writeln!(s, "dn: uid=u{u:05},cn=users,cn=accounts,{B}\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: ipaObject\nuid: u{u:05}\ncn: u{u:05}\nsn: u\nuidNumber: {}\ngidNumber: {}\nhomeDirectory: /home/u{u:05}\nipaUniqueID: u-{u}\n", 100000 + u, 100000 + u).unwrap();
    }
    // Leaf groups (200..2000) hold the users; inner groups hold their children.
    let mut members: Vec<Vec<String>> = vec![vec![]; GROUPS];
    for g in 1..GROUPS {
        members[g / 10].push(format!("cn=g{g:04},cn=groups,cn=accounts,{B}"));
    }
    for u in 0..USERS {
        members[200 + u % (GROUPS - 200)].push(format!("uid=u{u:05},cn=users,cn=accounts,{B}"));
    }
    for (g, m) in members.iter().enumerate() {
        write!(s, "dn: cn=g{g:04},cn=groups,cn=accounts,{B}\nobjectClass: top\nobjectClass: groupOfNames\nobjectClass: nestedGroup\nobjectClass: ipaUserGroup\nobjectClass: ipaObject\ncn: g{g:04}\nipaUniqueID: g-{g}\n").unwrap();
        for x in m {
            writeln!(s, "member: {x}").unwrap();
        }
        s.push('\n');
    }
    for h in 0..HOSTS {
        writeln!(s, "dn: fqdn=host{h:02}.example.test,cn=computers,cn=accounts,{B}\nobjectClass: top\nobjectClass: nsHost\nobjectClass: ipaHost\nobjectClass: ipaObject\ncn: host{h:02}.example.test\nfqdn: host{h:02}.example.test\nipaUniqueID: h-{h}\n").unwrap();
    }
    let mut hmembers: Vec<Vec<String>> = vec![vec![]; HOSTGROUPS];
    for g in 1..HOSTGROUPS {
        hmembers[g / 4].push(format!("cn=hg{g:02},cn=hostgroups,cn=accounts,{B}"));
    }
    for h in 0..HOSTS {
        hmembers[4 + h % (HOSTGROUPS - 4)].push(format!(
            "fqdn=host{h:02}.example.test,cn=computers,cn=accounts,{B}"
        ));
    }
    for (g, m) in hmembers.iter().enumerate() {
        write!(s, "dn: cn=hg{g:02},cn=hostgroups,cn=accounts,{B}\nobjectClass: top\nobjectClass: groupOfNames\nobjectClass: nestedGroup\nobjectClass: ipaHostGroup\nobjectClass: ipaObject\ncn: hg{g:02}\nipaUniqueID: hg-{g}\n").unwrap();
        for x in m {
            writeln!(s, "member: {x}").unwrap();
        }
        s.push('\n');
    }
    for svc in ["sshd", "login", "su", "sudo"] {
        writeln!(s, "dn: cn={svc},cn=hbacservices,cn=hbac,{B}\nobjectClass: top\nobjectClass: ipaHBACService\nobjectClass: ipaObject\ncn: {svc}\nipaUniqueID: s-{svc}\n").unwrap();
    }
    for r in 0..RULES {
        write!(s, "dn: ipaUniqueID=r-{r},cn=sessionrecording,{B}\nobjectClass: ipaAssociation\nobjectClass: ipaSessionRecordingRule\ncn: rule{r:04}\nipaUniqueID: r-{r}\nipaEnabledFlag: TRUE\nipaSessionRecordingPriority: {}\n", r % 100).unwrap();
        writeln!(
            s,
            "memberUser: cn=g{:04},cn=groups,cn=accounts,{B}",
            (r * 7) % GROUPS
        )
        .unwrap();
        writeln!(
            s,
            "memberUser: uid=u{:05},cn=users,cn=accounts,{B}",
            (r * 13) % USERS
        )
        .unwrap();
        match r % 10 {
            0 => writeln!(s, "hostCategory: all").unwrap(),
            1..=6 => writeln!(
                s,
                "memberHost: cn=hg{:02},cn=hostgroups,cn=accounts,{B}",
                r % HOSTGROUPS
            )
            .unwrap(),
            _ => writeln!(
                s,
                "memberHost: fqdn=host{:02}.example.test,cn=computers,cn=accounts,{B}",
                r % HOSTS
            )
            .unwrap(),
        }
        if r % 3 == 0 {
            writeln!(s, "serviceCategory: all").unwrap();
        } else {
            writeln!(s, "memberService: cn=sshd,cn=hbacservices,cn=hbac,{B}").unwrap();
        }
        if r % 10 == 9 {
            writeln!(s, "ipaSessionRecordingMode: exempt").unwrap();
        }
        writeln!(s, "ipaSessionRecordingLogInput: {}\nipaSessionRecordingRateLimit: {}\nipaSessionRecordingAuditLevel: session\n", if r % 2 == 0 { "TRUE" } else { "FALSE" }, 16384 + r).unwrap();
    }
    s
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn decide(path: &str) {
    let p = std::path::Path::new(path);
    let mut loads = vec![];
    let mut rules = None;
    for _ in 0..7 {
        let t = Instant::now();
        rules = Some(load_cache(p).expect("load cache"));
        loads.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let rules = rules.unwrap();
    let facts: Vec<LoginFacts> = (0..1000)
        .map(|i| LoginFacts {
            user: format!("u{:05}", (i * 37) % USERS),
            primary_group: Some(format!("u{:05}", (i * 37) % USERS)),
            host: "host00.example.test".into(),
            service: Some(if i % 2 == 0 { "sshd" } else { "su" }.into()),
            ..Default::default()
        })
        .collect();
    let mut per = vec![];
    let mut recorded = 0;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..10 {
            for f in &facts {
                if let Some(m) = rules.evaluate(f) {
                    recorded += m.record as usize;
                }
            }
        }
        per.push(t.elapsed().as_secs_f64() * 1e9 / (10.0 * facts.len() as f64));
    }
    println!(
        "rules_in_cache={} load_us={:.0} decide_ns={:.0} (recorded {} of {} decisions)",
        rules.rules().len(),
        median(loads),
        median(per),
        recorded,
        7 * 10 * facts.len()
    );
}
