//! Selection by uid across sources: the names record rules of policy.toml,
//! the FreeIPA cache and sssd.conf name are the candidates, exemptions are
//! not, and an alias of a user FreeIPA or sssd.conf selects is recorded.

mod common;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use common::TempDir;
use tlog_rs_policy::freeipa::{
    CacheFile, CacheRule, CacheServices, CacheSettings, CacheUsers, Tier, CACHE_FORMAT,
    CACHE_VERSION,
};
use tlog_rs_policy::uid_match::{decide_login, Account, Accounts, LookupError, SelectingNames};
use tlog_rs_policy::{Action, LoginFacts, Policy};

fn rule(name: &str, mode: Action, users: &[&str], groups: &[&str]) -> CacheRule {
    CacheRule {
        name: name.into(),
        id: format!("00000000-0000-4000-8000-{:012}", name.len()),
        priority: Some(10),
        mode,
        host: Tier::All,
        via_hbac: None,
        users: CacheUsers {
            all: false,
            names: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        },
        services: CacheServices {
            all: true,
            ..Default::default()
        },
        settings: CacheSettings::default(),
        access_time: vec![],
    }
}

fn setup() -> (TempDir, Policy) {
    let dir = TempDir::new("uid-match");
    let file = CacheFile {
        format: CACHE_FORMAT.into(),
        version: CACHE_VERSION,
        host: "web1.example.test".into(),
        synced_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        server: "ldap://127.0.0.1:3389".into(),
        base_dn: "dc=example,dc=test".into(),
        defaults: CacheSettings::default(),
        rules: vec![
            rule("ipa_rec", Action::Record, &["ipauser"], &["ipagroup"]),
            rule("ipa_ex", Action::Exempt, &["ipaexempt"], &["ipaexgroup"]),
        ],
        user_groups: HashMap::new(),
        group_closure: HashMap::new(),
        skipped: vec![],
    };
    let cache = dir.write(
        "freeipa-rules.json",
        &serde_json::to_string_pretty(&file).unwrap(),
    );
    let sssd = dir.write_mode(
        "sssd.conf",
        "[session_recording]\nscope = some\nusers = sssduser\ngroups = sssdgroup\n",
        0o600,
    );
    let text = format!(
        "[[rule]]\nname = \"t\"\nusers = [\"tomluser\"]\n\
         [[rule]]\nname = \"e\"\naction = \"exempt\"\nusers = [\"tomlexempt\"]\n\
         [freeipa]\ncache = \"{}\"\n[sssd]\nconf = \"{}\"\n",
        cache.display(),
        sssd.display()
    );
    let p = dir.write("policy.toml", &text);
    let policy = Policy::load(&p).unwrap_or_else(|e| panic!("{e}"));
    (dir, policy)
}

/// Every account is uid 3000 + its index, and "<name>-alias" shares it.
struct Db(Vec<&'static str>);

impl Accounts for Db {
    fn by_name(&self, name: &str) -> Result<Option<Account>, LookupError> {
        let base = name.strip_suffix("-alias").unwrap_or(name);
        Ok(self.0.iter().position(|n| *n == base).map(|i| Account {
            name: name.into(),
            uid: 3000 + i as u32,
            gid: 3000 + i as u32,
        }))
    }
    fn by_uid(&self, _: u32) -> Result<Option<Account>, LookupError> {
        // As if every alias came first in passwd: only rule names help.
        Ok(None)
    }
    fn groups(&self, _: &str, _: u32) -> (Option<String>, Vec<String>) {
        (None, Vec::new())
    }
    fn members(&self, _: &str) -> Result<Vec<String>, LookupError> {
        Ok(Vec::new())
    }
}

fn login(db: &Db, user: &str) -> LoginFacts {
    let acc = db.by_name(user).unwrap().unwrap();
    LoginFacts {
        user: user.into(),
        uid: acc.uid,
        gid: acc.gid,
        primary_group: None,
        groups: vec![],
        host: "web1.example.test".into(),
        service: Some("sshd".into()),
        passwd_shell: "/bin/bash".into(),
    }
}

#[test]
fn record_rules_of_every_source_name_the_candidates() {
    let (_dir, p) = setup();
    assert_eq!(
        p.selecting_names(),
        SelectingNames {
            users: ["ipauser", "sssduser", "tomluser"]
                .map(String::from)
                .to_vec(),
            groups: ["ipagroup", "sssdgroup"].map(String::from).to_vec(),
        }
    );
}

#[test]
fn aliases_of_users_selected_by_freeipa_and_sssd_are_recorded() {
    let (_dir, p) = setup();
    let db = Db(vec!["tomluser", "ipauser", "sssduser", "plain"]);
    for (user, source) in [
        ("tomluser-alias", "policy.toml"),
        ("ipauser-alias", "freeipa"),
        ("sssduser-alias", "sssd.conf"),
    ] {
        let d = decide_login(&p, &login(&db, user), &db).unwrap();
        assert!(d.record, "{user}: {}", d.reason);
        assert_eq!(d.source.as_str(), source, "{user}");
        let canonical = user.strip_suffix("-alias").unwrap();
        assert!(
            d.reason
                .contains(&format!("belongs to selected user {canonical}")),
            "{user}: {}",
            d.reason
        );
    }
    let d = decide_login(&p, &login(&db, "plain-alias"), &db).unwrap();
    assert!(!d.record, "{}", d.reason);
}
