//! The optimized decision (name index + candidate bit set, FNV sets) against
//! a naive reading of the documented rule, on random policies and logins:
//! policy.toml rules in order (first match decides), then sssd.conf
//! (some: users or groups; all: everyone minus exclusions), else not
//! recorded; unknown service = record rules with services match, such
//! exemptions do not.

mod common;

use common::TempDir;
use tlog_rs_policy::{LoginFacts, Policy};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, v: &'a [&'a str]) -> &'a str {
        v[self.below(v.len() as u64) as usize]
    }
}

const USERS: &[&str] = &["u0", "u1", "u2", "u3", "U0"];
const GROUPS: &[&str] = &["g0", "g1", "g2", "g3", "G1"];
const DECOY_USERS: &[&str] = &["x0", "x1", "x2"];
const DECOY_GROUPS: &[&str] = &["y0", "y1", "y2"];
const SERVICES: &[&str] = &["sshd", "login", "su"];
const HOSTS: &[&str] = &["web1.example.com", "db1.example.com"];

#[derive(Debug, Clone)]
struct RefRule {
    exempt: bool,
    all: bool,
    users: Vec<String>,
    groups: Vec<String>,
    services: Vec<String>,
    hosts: Vec<String>,
}

fn subset(rng: &mut Rng, from: &[&str], max: u64) -> Vec<String> {
    (0..rng.below(max + 1))
        .map(|_| rng.pick(from).to_string())
        .collect()
}

fn toml_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(", "))
}

fn reference(rules: &[RefRule], sssd: &(u8, Vec<String>, Vec<String>), f: &LoginFacts) -> bool {
    let groups: Vec<&String> = f.primary_group.iter().chain(f.groups.iter()).collect();
    for r in rules {
        let who = r.all || r.users.contains(&f.user) || groups.iter().any(|g| r.groups.contains(g));
        let host = r.hosts.is_empty() || r.hosts.iter().any(|h| h == &f.host);
        let service = r.services.is_empty()
            || match &f.service {
                Some(s) => r.services.contains(s),
                None => !r.exempt,
            };
        if who && host && service {
            return !r.exempt;
        }
    }
    let (scope, users, groups_list) = sssd;
    let listed = users.contains(&f.user) || groups.iter().any(|g| groups_list.contains(g));
    match scope {
        1 => listed,  // some: users / groups
        2 => !listed, // all: minus exclude_users / exclude_groups
        _ => false,
    }
}

#[test]
fn optimized_decide_matches_reference_model() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decisions = 0;
    let mut recorded = 0;
    for round in 0..150 {
        let dir = TempDir::new("model");
        let mut text = String::new();
        // sssd.conf
        let scope = rng.below(3) as u8;
        let su = subset(&mut rng, USERS, 2);
        let sg = subset(&mut rng, GROUPS, 2);
        let (ukey, gkey) = if scope == 2 {
            ("exclude_users", "exclude_groups")
        } else {
            ("users", "groups")
        };
        let conf = dir.write(
            "sssd.conf",
            &format!(
                "[session_recording]\nscope = {}\n{ukey} = {}\n{gkey} = {}\n",
                ["none", "some", "all"][scope as usize],
                su.join(", "),
                sg.join(", ")
            ),
        );
        text.push_str(&format!("[sssd]\nconf = \"{}\"\n", conf.display()));
        // rules; more than 64 sometimes, to cross bit-set words
        let n = if round % 10 == 0 {
            70 + rng.below(80)
        } else {
            rng.below(8)
        };
        let mut rules = Vec::new();
        for i in 0..n {
            // In big rounds the first 64 rules name only users/groups that
            // never log in, so the deciding rules sit in later bit-set words.
            let decoy = n > 64 && i < 64;
            let (u_pool, g_pool) = if decoy {
                (DECOY_USERS, DECOY_GROUPS)
            } else {
                (USERS, GROUPS)
            };
            let all = !decoy && rng.below(8) == 0;
            let mut users = if all {
                vec![]
            } else {
                subset(&mut rng, u_pool, 2)
            };
            let groups = if all {
                vec![]
            } else {
                subset(&mut rng, g_pool, 2)
            };
            if !all && users.is_empty() && groups.is_empty() {
                users.push(rng.pick(u_pool).to_string());
            }
            let r = RefRule {
                exempt: rng.below(3) == 0,
                all,
                users,
                groups,
                services: subset(&mut rng, SERVICES, 1),
                hosts: subset(&mut rng, HOSTS, 1),
            };
            text.push_str(&format!(
                "[[rule]]\nname = \"r{i}\"\naction = \"{}\"\n",
                if r.exempt { "exempt" } else { "record" }
            ));
            if r.all {
                text.push_str("all_users = true\n");
            }
            for (key, v) in [
                ("users", &r.users),
                ("groups", &r.groups),
                ("services", &r.services),
                ("hosts", &r.hosts),
            ] {
                if !v.is_empty() {
                    text.push_str(&format!("{key} = {}\n", toml_list(v)));
                }
            }
            rules.push(r);
        }
        let policy = Policy::load(&dir.write("policy.toml", &text))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        for _ in 0..40 {
            let primary = (rng.below(4) != 0).then(|| rng.pick(GROUPS).to_string());
            let f = LoginFacts {
                user: rng.pick(USERS).into(),
                uid: 1000,
                gid: 1000,
                primary_group: primary,
                groups: subset(&mut rng, GROUPS, 3),
                host: rng.pick(HOSTS).into(),
                service: (rng.below(4) != 0).then(|| rng.pick(SERVICES).to_string()),
                passwd_shell: "/bin/sh".into(),
            };
            let want = reference(&rules, &(scope, su.clone(), sg.clone()), &f);
            let got = policy.decide(&f);
            assert_eq!(
                got.record, want,
                "round {round}: {f:?}\n{}\n{text}",
                got.reason
            );
            assert_eq!(policy.may_record(&f), {
                let mut any = f.clone();
                any.service = None;
                reference(&rules, &(scope, su.clone(), sg.clone()), &any)
            });
            decisions += 1;
            recorded += got.record as usize;
        }
    }
    // The generator must exercise both outcomes.
    assert!(
        recorded > decisions / 10 && recorded < decisions * 9 / 10,
        "{recorded}/{decisions}"
    );
}
