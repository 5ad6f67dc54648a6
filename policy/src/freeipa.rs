//! FreeIPA session-recording rules: the local cache written by `tlog-rs sync`
//! and the pure evaluator PAM, NSS and `tlog-rs check` use.
//!
//! The cache is per host: `tlog-rs sync` already resolved the host dimension
//! (host, nested hostgroups, `hostCategory=all`, seeAlso HBAC rules) for the
//! host it ran on, so a cached rule carries only how specifically it named
//! this host. Users are matched by name, by LDAP group membership resolved at
//! sync time (nested groups flattened), and by the login's NSS groups taken
//! through the same nesting. Evaluation order (freeipa-schema/README.md):
//! priority (lower wins, absent last), then record before exempt, then
//! specificity (host > user > service; name > group > category all), then
//! rule name. No I/O here besides `load_cache`.

mod cache;
mod codec;
mod eval;
#[cfg(test)]
mod tests;
mod time_limit;
mod trust;

pub use cache::{
    Cache, CacheFile, CacheRule, CacheServices, CacheSettings, CacheUsers, ServiceGroup,
    SkippedRule, Tier,
};
pub use codec::{MembershipTable, Memberships};
pub use eval::{IpaMatch, IpaRules};
pub use time_limit::{quote_values, TimeLimitHandling};
pub use trust::load_cache;

pub use crate::vocab::LimitAction;

/// `format` field of every cache file.
pub const CACHE_FORMAT: &str = "tlog-rs-freeipa-cache";
/// Cache layout version written by `tlog-rs sync`. Version 2 added
/// `access_time` on rules: a version-1 reader (which would not know that a
/// time-limited exemption must never apply) refuses it and records everyone.
pub const CACHE_VERSION: u32 = 2;
/// Oldest layout a reader accepts (version 1 = version 2 without time limits).
pub const CACHE_VERSION_MIN: u32 = 1;
