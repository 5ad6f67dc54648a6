//! Absurd recorder settings are refused by `Policy::validate` with the key
//! and the allowed range, wherever they come from: policy.toml `[settings]`,
//! a rule's settings, the FreeIPA cache (domain defaults and rules).

mod common;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use common::TempDir;
use tlog_rs_policy::freeipa::{
    CacheFile, CacheRule, CacheServices, CacheSettings, CacheUsers, Tier, CACHE_FORMAT,
    CACHE_VERSION,
};
use tlog_rs_policy::{Action, Bound, Policy};

fn errors(dir: &TempDir, text: &str) -> Vec<String> {
    let p = dir.write("policy.toml", &format!("recorder = \"/bin/sh\"\n{text}"));
    Policy::validate(&p)
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn policy_toml_settings_out_of_range_are_errors_with_line_key_and_range() {
    let dir = TempDir::new("bounds-toml");
    let e = errors(&dir, "[settings]\npayload = 999999999999\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("policy.toml:2")
            && e[0].contains(
                "payload = 999999999999: must be between 32 and 1048576 bytes, got 999999999999"
            ),
        "{e:?}"
    );
    let e = errors(
        &dir,
        "[[rule]]\nname = \"r\"\nusers = [\"alice\"]\n[rule.settings]\nlatency = 0\nlimit_rate = 2000000000\nlimit_burst = 1073741824\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("rule \"r\": settings: latency = 0: must be between 1 and 86400 seconds"),
        "{e:?}"
    );
    assert!(
        e[1].contains("limit_rate = 2000000000: must be between 0 and 1073741824 bytes per second"),
        "{e:?}"
    );
    // Every bound's own limits are accepted.
    for b in Bound::ALL {
        for v in [b.min, b.max] {
            let e = errors(&dir, &format!("[settings]\n{} = {v}\n", b.policy_key));
            assert!(e.is_empty(), "{} = {v}: {e:?}", b.policy_key);
        }
    }
}

fn cache(dir: &TempDir, defaults: CacheSettings, rule_settings: CacheSettings) -> String {
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
        defaults,
        // From JSON, so fields this test does not care about keep their defaults.
        rules: vec![serde_json::from_value::<CacheRule>(serde_json::json!({
            "name": "fast",
            "id": "00000000-0000-4000-8000-000000000001",
            "priority": 1,
            "mode": serde_json::to_value(Action::Record).unwrap(),
            "host": serde_json::to_value(Tier::All).unwrap(),
            "users": serde_json::to_value(CacheUsers { all: true, ..Default::default() }).unwrap(),
            "services": serde_json::to_value(CacheServices { all: true, ..Default::default() }).unwrap(),
            "settings": serde_json::to_value(rule_settings).unwrap(),
        }))
        .unwrap()],
        user_groups: HashMap::new(),
        group_closure: HashMap::new(),
        skipped: vec![],
    };
    dir.write("ipa.json", &serde_json::to_string(&file).unwrap())
        .display()
        .to_string()
}

#[test]
fn freeipa_cache_settings_out_of_range_are_errors() {
    let dir = TempDir::new("bounds-ipa");
    let c = cache(
        &dir,
        CacheSettings {
            limit_burst: Some(u64::MAX),
            ..Default::default()
        },
        CacheSettings {
            limit_rate: Some(1 << 40),
            ..Default::default()
        },
    );
    let e = errors(&dir, &format!("[freeipa]\ncache = \"{c}\"\n"));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("ipa.json")
            && e[0].contains("domain defaults: limit_burst = 18446744073709551615: must be between 0 and 1073741824 bytes"),
        "{e:?}"
    );
    assert!(
        e[1].contains("rule \"fast\": limit_rate = 1099511627776: must be between"),
        "{e:?}"
    );
    let c = cache(
        &dir,
        CacheSettings::default(),
        CacheSettings {
            limit_rate: Some(65536),
            limit_burst: Some(0),
            ..Default::default()
        },
    );
    let e = errors(&dir, &format!("[freeipa]\ncache = \"{c}\"\n"));
    assert!(e.is_empty(), "{e:?}");
}
