//! The layout of the cache file `tlog-rs sync` writes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::codec::{table, MembershipTable, Memberships};
use crate::vocab::{Action, LimitAction};
use crate::AuditLevel;

/// The cache file (JSON), generic over how its two membership tables are
/// held: maps in [`CacheFile`], as `tlog-rs sync` builds it, or one compact
/// string each in [`DiskCache`], as PAM and NSS read it (no per-user
/// allocation at load). On disk both are the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(serialize = "M: MembershipTable", deserialize = "M: MembershipTable")
)]
pub struct Cache<M> {
    pub format: String,
    pub version: u32,
    /// FQDN of the host the rules were resolved for.
    pub host: String,
    /// Unix time (seconds) of the successful sync that wrote this file.
    pub synced_at: u64,
    /// LDAP URI the rules came from, and the base DN (for `check`/audits).
    pub server: String,
    pub base_dn: String,
    /// Domain-wide defaults (ipaSessionRecordingDefaults on the container).
    pub defaults: CacheSettings,
    pub rules: Vec<CacheRule>,
    /// user name -> every rule-named group the user is in (transitively).
    /// On disk: one compact string, see [`Memberships`].
    #[serde(with = "table")]
    pub user_groups: M,
    /// group name -> every rule-named group it is nested in, itself included.
    #[serde(with = "table")]
    pub group_closure: M,
    /// Enabled rules the sync could not use, and why (reported, not evaluated).
    #[serde(default)]
    pub skipped: Vec<SkippedRule>,
}

/// The cache as `tlog-rs sync` builds it (and tests write it).
pub type CacheFile = Cache<HashMap<String, Vec<String>>>;
/// The cache as PAM and NSS read it.
pub(crate) type DiskCache = Cache<Memberships>;

impl<M> Cache<M> {
    /// The same cache with its membership tables held another way.
    pub fn map_tables<N>(self, f: impl Fn(M) -> N) -> Cache<N> {
        Cache {
            format: self.format,
            version: self.version,
            host: self.host,
            synced_at: self.synced_at,
            server: self.server,
            base_dn: self.base_dn,
            defaults: self.defaults,
            rules: self.rules,
            user_groups: f(self.user_groups),
            group_closure: f(self.group_closure),
            skipped: self.skipped,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedRule {
    pub rule: String,
    pub reason: String,
}

/// Recorder settings and audit level as stored in LDAP; `None` = unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_input: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_output: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_window: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_rate: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_burst: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_action: Option<LimitAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_level: Option<AuditLevel>,
}

/// How specifically a rule names the login's host, user or service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// `*Category: all`
    All = 1,
    /// through a (nested) group
    Group = 2,
    /// by its own name
    Name = 3,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheUsers {
    /// userCategory=all
    pub all: bool,
    /// user names (uid) named directly
    pub names: Vec<String>,
    /// user group names (cn) named directly
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheServices {
    /// serviceCategory=all
    pub all: bool,
    /// HBAC service names (= PAM service names) named directly
    pub names: Vec<String>,
    /// HBAC service groups named, with their (nested) member services
    pub groups: Vec<ServiceGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceGroup {
    pub name: String,
    pub services: Vec<String>,
}

/// One enabled rule that applies to this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheRule {
    /// cn of the rule
    pub name: String,
    /// ipaUniqueID (the RDN)
    pub id: String,
    /// ipaSessionRecordingPriority: lower wins; None = after every numbered rule
    pub priority: Option<u32>,
    pub mode: Action,
    /// how the rule named this host
    pub host: Tier,
    /// cn of the HBAC rule whose users/hosts/services this rule uses (seeAlso)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_hbac: Option<String>,
    pub users: CacheUsers,
    pub services: CacheServices,
    pub settings: CacheSettings,
    /// accessTime values of the rule and of its seeAlso HBAC rule, kept for
    /// `tlog-rs check`. Never evaluated: see [`TimeLimitHandling`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_time: Vec<String>,
}
