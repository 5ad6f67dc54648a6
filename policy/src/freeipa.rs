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

use std::collections::{HashMap, HashSet};

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::vocab::Action;
use crate::{AuditLevel, LoginFacts, PolicyError, RecSettings};

mod time_limit;
pub use time_limit::{quote_values, TimeLimitHandling};

/// `format` field of every cache file.
pub const CACHE_FORMAT: &str = "tlog-rs-freeipa-cache";
/// Cache layout version written by `tlog-rs sync`. Version 2 added
/// `access_time` on rules: a version-1 reader (which would not know that a
/// time-limited exemption must never apply) refuses it and records everyone.
pub const CACHE_VERSION: u32 = 2;
/// Oldest layout a reader accepts (version 1 = version 2 without time limits).
pub const CACHE_VERSION_MIN: u32 = 1;

/// The cache file, as written by `tlog-rs sync` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
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
    #[serde(with = "compact")]
    pub user_groups: HashMap<String, Vec<String>>,
    /// group name -> every rule-named group it is nested in, itself included.
    #[serde(with = "compact")]
    pub group_closure: HashMap<String, Vec<String>>,
    /// Enabled rules the sync could not use, and why (reported, not evaluated).
    #[serde(default)]
    pub skipped: Vec<SkippedRule>,
}

/// The cache as PAM/NSS read it: like [`CacheFile`] but the membership
/// tables stay one string each (no per-user allocation at load).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskCache {
    format: String,
    version: u32,
    host: String,
    synced_at: u64,
    server: String,
    base_dn: String,
    defaults: CacheSettings,
    rules: Vec<CacheRule>,
    user_groups: Memberships,
    group_closure: Memberships,
    #[serde(default)]
    skipped: Vec<SkippedRule>,
}

/// serde for a membership map in its on-disk [`Memberships`] form.
mod compact {
    use super::Memberships;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::HashMap;

    pub fn serialize<S: Serializer>(
        m: &HashMap<String, Vec<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        Memberships::from_pairs(
            m.iter()
                .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect())),
        )
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<HashMap<String, Vec<String>>, D::Error> {
        let m = Memberships::deserialize(d)?;
        Ok(m.0
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap_or((l, ""));
                (
                    k.to_string(),
                    v.split(',')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect(),
                )
            })
            .collect())
    }
}

/// name -> names, stored as sorted lines `name<TAB>g1,g2` in ONE string: a
/// cache with 10,000 users then loads with one allocation instead of tens of
/// thousands (PAM and NSS load it in every new process), and a lookup is a
/// binary search over the line index built at load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Memberships(pub(crate) String);

impl Memberships {
    /// Build from pairs; names containing TAB, newline or comma are dropped
    /// (no NSS or FreeIPA name contains them).
    pub fn from_pairs<I, S>(pairs: I) -> Memberships
    where
        I: IntoIterator<Item = (S, Vec<S>)>,
        S: AsRef<str>,
    {
        let clean = |n: &str| !n.is_empty() && !n.contains(['\t', '\n', ',']);
        let mut lines: Vec<String> = pairs
            .into_iter()
            .filter(|(k, _)| clean(k.as_ref()))
            .map(|(k, v)| {
                let mut v: Vec<&str> = v.iter().map(AsRef::as_ref).filter(|n| clean(n)).collect();
                v.sort_unstable();
                v.dedup();
                format!("{}\t{}\n", k.as_ref(), v.join(","))
            })
            .collect();
        lines.sort_unstable();
        Memberships(lines.concat())
    }

    /// Start offsets of the lines, sorted by key (sorted input stays cheap).
    fn index(&self) -> Vec<u32> {
        let mut starts = Vec::new();
        let mut pos = 0usize;
        for line in self.0.split_inclusive('\n') {
            starts.push(pos as u32);
            pos += line.len();
        }
        starts.sort_by(|&a, &b| self.key_at(a).cmp(self.key_at(b)));
        starts
    }

    fn line_at(&self, start: u32) -> &str {
        let rest = &self.0[start as usize..];
        rest.split('\n').next().unwrap_or("")
    }

    fn key_at(&self, start: u32) -> &str {
        let line = self.line_at(start);
        line.split('\t').next().unwrap_or(line)
    }

    fn lookup<'a>(&'a self, index: &[u32], name: &str) -> Option<impl Iterator<Item = &'a str>> {
        let i = index.binary_search_by(|&s| self.key_at(s).cmp(name)).ok()?;
        let line = self.line_at(index[i]);
        let values = line.split_once('\t').map_or("", |(_, v)| v);
        Some(values.split(',').filter(|v| !v.is_empty()))
    }

    /// Values for `name` (a linear scan: for tests and reports).
    pub fn get(&self, name: &str) -> Option<Vec<&str>> {
        self.lookup(&self.index(), name).map(Iterator::collect)
    }

    pub fn len(&self) -> usize {
        self.0.lines().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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

/// The integration tests' name for the record/exempt `Action`.
pub use crate::vocab::Action as Mode;
pub use crate::vocab::LimitAction;

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

/// The parsed rule cache, indexed for fast per-login evaluation.
#[derive(Debug, Clone)]
pub struct IpaRules {
    file: DiskCache,
    /// indexes into file.rules sorted by (priority, record first, name)
    order: Vec<usize>,
    rules: Vec<IndexedRule>,
    user_index: Vec<u32>,
    group_index: Vec<u32>,
}

#[derive(Debug, Clone)]
struct IndexedRule {
    user_names: HashSet<String>,
    user_groups: HashSet<String>,
    /// service name -> tier (Name beats Group when both)
    services: HashMap<String, Tier>,
}

/// The winning FreeIPA rule for one login.
#[derive(Debug, Clone)]
pub struct IpaMatch {
    /// cn of the winning rule, e.g. "privileged_on_production"
    pub rule: String,
    /// true = mode record, false = mode exempt.
    pub record: bool,
    pub priority: Option<u32>,
    /// rule settings over domain defaults (tlog built-ins for what both leave unset)
    pub settings: RecSettings,
    pub audit_level: AuditLevel,
    /// accessTime of the winning rule (a record rule: recorded at all times).
    pub time_limit: Vec<String>,
    /// Names of matching exempt rules not applied because of their accessTime.
    pub unapplied_exemptions: Vec<String>,
}

/// Read and verify the versioned JSON cache. A missing, unreadable, truncated
/// or corrupt file, or one writable by a non-root user, is an error naming
/// the file and (for content) the line.
pub fn load_cache(path: &Path) -> Result<IpaRules, PolicyError> {
    let origin = path.display().to_string();
    let text = read_trusted(path).map_err(|e| match e {
        Untrusted::Io(io) => PolicyError::io(&origin, &io),
        Untrusted::Perm(msg) => PolicyError::new(&origin, None, msg),
    })?;
    IpaRules::from_json(&text, &origin)
}

enum Untrusted {
    Io(std::io::Error),
    Perm(String),
}

/// The cache decides who is recorded: only root (or the reading user itself,
/// for tests run unprivileged) may own it, and nobody else may write it.
fn read_trusted(path: &Path) -> Result<String, Untrusted> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut f = std::fs::File::open(path).map_err(Untrusted::Io)?;
    let md = f.metadata().map_err(Untrusted::Io)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if md.uid() != 0 && md.uid() != euid {
        return Err(Untrusted::Perm(format!(
            "owned by uid {}, not root: refusing to trust it",
            md.uid()
        )));
    }
    if md.mode() & 0o022 != 0 {
        return Err(Untrusted::Perm(format!(
            "mode {:04o} is group- or world-writable: refusing to trust it",
            md.mode() & 0o7777
        )));
    }
    // Whoever can write the directory can replace the file.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let dmd = std::fs::metadata(dir).map_err(Untrusted::Io)?;
        if dmd.uid() != 0 && dmd.uid() != euid {
            return Err(Untrusted::Perm(format!(
                "directory {} is owned by uid {}, not root: refusing to trust the cache in it",
                dir.display(),
                dmd.uid()
            )));
        }
        // A sticky directory (like /tmp) stops others replacing our file.
        if dmd.mode() & 0o022 != 0 && dmd.mode() & 0o1000 == 0 {
            return Err(Untrusted::Perm(format!(
                "directory {} (mode {:04o}) is group- or world-writable: refusing to trust the cache in it",
                dir.display(),
                dmd.mode() & 0o7777
            )));
        }
    }
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(Untrusted::Io)?;
    Ok(text)
}

impl IpaRules {
    /// Parse cache text (for tests and `load_cache`).
    pub fn from_json(text: &str, origin: &str) -> Result<IpaRules, PolicyError> {
        if text.trim().is_empty() {
            return Err(PolicyError::new(origin, None, "FreeIPA cache is empty"));
        }
        let file: DiskCache = serde_json::from_str(text).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Eof => "truncated FreeIPA cache",
                _ => "corrupt FreeIPA cache",
            };
            PolicyError::new(origin, Some(e.line()), format!("{what}: {e}"))
        })?;
        if file.format != CACHE_FORMAT {
            return Err(PolicyError::new(
                origin,
                None,
                format!(
                    "not a FreeIPA rule cache (format {:?}, expected {CACHE_FORMAT:?})",
                    file.format
                ),
            ));
        }
        if !(CACHE_VERSION_MIN..=CACHE_VERSION).contains(&file.version) {
            return Err(PolicyError::new(
                origin,
                None,
                format!(
                    "FreeIPA cache version {} is not supported (expected {CACHE_VERSION_MIN} to {CACHE_VERSION}): run `tlog-rs sync`",
                    file.version
                ),
            ));
        }
        Ok(IpaRules::index(file))
    }

    /// Index a cache built in memory (by `tlog-rs sync`, or tests).
    pub fn from_file(f: CacheFile) -> IpaRules {
        let table = |m: &HashMap<String, Vec<String>>| {
            Memberships::from_pairs(
                m.iter()
                    .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect())),
            )
        };
        IpaRules::index(DiskCache {
            user_groups: table(&f.user_groups),
            group_closure: table(&f.group_closure),
            format: f.format,
            version: f.version,
            host: f.host,
            synced_at: f.synced_at,
            server: f.server,
            base_dn: f.base_dn,
            defaults: f.defaults,
            rules: f.rules,
            skipped: f.skipped,
        })
    }

    fn index(file: DiskCache) -> IpaRules {
        let rules = file
            .rules
            .iter()
            .map(|r| {
                let mut services = HashMap::new();
                for g in &r.services.groups {
                    for s in &g.services {
                        services.insert(s.to_lowercase(), Tier::Group);
                    }
                }
                for s in &r.services.names {
                    services.insert(s.to_lowercase(), Tier::Name);
                }
                IndexedRule {
                    user_names: r.users.names.iter().map(|u| u.to_lowercase()).collect(),
                    user_groups: r.users.groups.iter().map(|g| g.to_lowercase()).collect(),
                    services,
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..file.rules.len()).collect();
        order.sort_by(|&a, &b| {
            let (ra, rb) = (&file.rules[a], &file.rules[b]);
            prio_key(ra.priority)
                .cmp(&prio_key(rb.priority))
                .then(mode_key(ra.mode).cmp(&mode_key(rb.mode)))
        });
        let user_index = file.user_groups.index();
        let group_index = file.group_closure.index();
        IpaRules {
            file,
            order,
            rules,
            user_index,
            group_index,
        }
    }

    /// The cached rules (those that apply to this host), sorted by name.
    pub fn rules(&self) -> &[CacheRule] {
        &self.file.rules
    }

    /// Enabled rules the sync ignored, and why.
    pub fn skipped(&self) -> &[SkippedRule] {
        &self.file.skipped
    }

    /// LDAP URI and base DN the rules came from.
    pub fn server(&self) -> (&str, &str) {
        (&self.file.server, &self.file.base_dn)
    }

    /// Host the cache was resolved for.
    pub fn host(&self) -> &str {
        &self.file.host
    }

    /// Time of the sync that wrote the cache.
    pub fn synced_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.file.synced_at)
    }

    /// Older than `max_age`, or written more than 5 minutes in the future
    /// (a clock problem: the age cannot be trusted either way).
    pub fn is_stale(&self, now: SystemTime, max_age: Duration) -> bool {
        let synced = self.synced_at();
        match now.duration_since(synced) {
            Ok(age) => age > max_age,
            Err(ahead) => ahead.duration() > Duration::from_secs(300),
        }
    }

    /// The domain defaults as recorder settings (for fail-secure decisions
    /// that still want the domain's recording settings).
    pub fn default_settings(&self) -> RecSettings {
        to_rec_settings(&self.file.defaults)
    }

    /// The winning rule for this login, or None when no rule matches.
    ///
    /// `facts.service == None` means "any service" (NSS cannot see the PAM
    /// service): a rule restricted to some services then counts as matching
    /// if it records and as not matching if it exempts, so `None` never
    /// yields fewer recordings than a real service would.
    pub fn evaluate(&self, facts: &LoginFacts) -> Option<IpaMatch> {
        let user = facts.user.to_lowercase();
        let groups = self.user_group_set(&user, facts);
        let service = facts.service.as_deref().map(str::to_lowercase);
        let mut best: Option<(usize, (Tier, Tier, Tier))> = None;
        let mut best_level: Option<(u64, u8)> = None;
        let mut unapplied = Vec::new();
        for &i in &self.order {
            let r = &self.file.rules[i];
            let level = (prio_key(r.priority), mode_key(r.mode));
            if let Some(bl) = best_level {
                // Rules are sorted: once past the winner's priority and mode, stop.
                if level > bl {
                    break;
                }
            }
            let Some(spec) = self.match_rule(i, &user, &groups, service.as_deref()) else {
                continue;
            };
            // A time limit never widens an exemption: such a rule never applies.
            if r.mode == Action::Exempt && !r.access_time.is_empty() {
                unapplied.push(r.name.clone());
                continue;
            }
            let better = match best {
                None => true,
                Some((bi, bspec)) => {
                    spec > bspec || (spec == bspec && r.name < self.file.rules[bi].name)
                }
            };
            if better {
                best = Some((i, spec));
                best_level = Some(level);
            }
        }
        best.map(|(i, _)| {
            let mut m = self.to_match(&self.file.rules[i]);
            m.unapplied_exemptions = unapplied;
            m
        })
    }

    /// True if some PAM service could make this user recorded here (NSS).
    pub fn may_record(&self, facts: &LoginFacts) -> bool {
        let mut any = facts.clone();
        any.service = None;
        self.evaluate(&any).is_some_and(|m| m.record)
    }

    /// Every rule-named group this login belongs to: LDAP membership
    /// resolved at sync time, plus its NSS groups through the IPA nesting.
    fn user_group_set(&self, user: &str, facts: &LoginFacts) -> HashSet<&str> {
        let mut set = HashSet::new();
        if let Some(gs) = self.file.user_groups.lookup(&self.user_index, user) {
            set.extend(gs);
        }
        let closure = &self.file.group_closure;
        for g in facts.primary_group.iter().chain(facts.groups.iter()) {
            if let Some(c) = closure.lookup(&self.group_index, g) {
                set.extend(c);
            } else if let Some(c) = closure.lookup(&self.group_index, &g.to_lowercase()) {
                set.extend(c);
            }
        }
        set
    }

    /// (host, user, service) specificity if rule `i` matches.
    fn match_rule(
        &self,
        i: usize,
        user: &str,
        groups: &HashSet<&str>,
        service: Option<&str>,
    ) -> Option<(Tier, Tier, Tier)> {
        let r = &self.file.rules[i];
        let ix = &self.rules[i];
        let user_tier = if ix.user_names.contains(user) {
            Tier::Name
        } else if ix.user_groups.iter().any(|g| groups.contains(g.as_str())) {
            Tier::Group
        } else if r.users.all {
            Tier::All
        } else {
            return None;
        };
        let service_tier = match service {
            Some(s) => match ix.services.get(s) {
                Some(&t) => t,
                None if r.services.all => Tier::All,
                None => return None,
            },
            None if r.services.all => Tier::All,
            // Unknown service: a restricted record rule may apply, a
            // restricted exempt rule may not (see `evaluate`).
            None if r.mode == Action::Record && !ix.services.is_empty() => Tier::All,
            None => return None,
        };
        Some((r.host, user_tier, service_tier))
    }

    fn to_match(&self, r: &CacheRule) -> IpaMatch {
        let settings = to_rec_settings(&r.settings).or(&to_rec_settings(&self.file.defaults));
        let audit = r
            .settings
            .audit_level
            .or(self.file.defaults.audit_level)
            .unwrap_or(AuditLevel::None);
        IpaMatch {
            rule: r.name.clone(),
            record: r.mode == Action::Record,
            priority: r.priority,
            settings,
            audit_level: audit,
            time_limit: r.access_time.clone(),
            unapplied_exemptions: Vec::new(),
        }
    }
}

fn prio_key(p: Option<u32>) -> u64 {
    p.map_or(u64::MAX, u64::from)
}

/// Record sorts before exempt: at equal priority, recording wins (an
/// ambiguous configuration must not silently drop a recording).
fn mode_key(m: Action) -> u8 {
    match m {
        Action::Record => 0,
        Action::Exempt => 1,
    }
}

fn to_rec_settings(s: &CacheSettings) -> RecSettings {
    RecSettings {
        log_input: s.log_input,
        log_output: s.log_output,
        log_window: s.log_window,
        limit_rate: s.limit_rate,
        limit_burst: s.limit_burst,
        limit_action: s.limit_action.map(|a| a.to_string()),
        ..RecSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(all: bool, names: &[&str], groups: &[&str]) -> CacheUsers {
        CacheUsers {
            all,
            names: names.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn services(all: bool, names: &[&str], groups: &[(&str, &[&str])]) -> CacheServices {
        CacheServices {
            all,
            names: names.iter().map(|s| s.to_string()).collect(),
            groups: groups
                .iter()
                .map(|(n, m)| ServiceGroup {
                    name: n.to_string(),
                    services: m.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
        }
    }

    fn rule(
        name: &str,
        priority: Option<u32>,
        mode: Action,
        host: Tier,
        u: CacheUsers,
        s: CacheServices,
    ) -> CacheRule {
        CacheRule {
            name: name.into(),
            id: format!("id-{name}"),
            priority,
            mode,
            host,
            via_hbac: None,
            users: u,
            services: s,
            settings: CacheSettings::default(),
            access_time: vec![],
        }
    }

    fn cache(host: &str, rules: Vec<CacheRule>) -> CacheFile {
        let map = |pairs: &[(&str, &[&str])]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        CacheFile {
            format: CACHE_FORMAT.into(),
            version: CACHE_VERSION,
            host: host.into(),
            synced_at: 1_700_000_000,
            server: "ldap://ipa.example.test".into(),
            base_dn: "dc=example,dc=test".into(),
            defaults: CacheSettings {
                log_input: Some(false),
                log_output: Some(true),
                log_window: Some(true),
                limit_rate: Some(16384),
                limit_burst: Some(32768),
                limit_action: Some(LimitAction::Pass),
                audit_level: Some(AuditLevel::None),
            },
            rules,
            user_groups: map(&[
                ("alice", &["privileged"]),
                ("bob", &["contractors"]),
                ("carol", &["privileged"]),
            ]),
            group_closure: map(&[
                ("admins", &["privileged"]),
                ("dbas", &["privileged"]),
                ("privileged", &["privileged"]),
                ("contractors", &["contractors"]),
            ]),
            skipped: vec![],
        }
    }

    /// The reference DIT (freeipa-schema/example-dit.ldif) resolved by hand
    /// for one host, as `tlog-rs sync` must resolve it.
    fn reference(host: &str) -> IpaRules {
        IpaRules::from_file(reference_file(host))
    }

    fn reference_file(host: &str) -> CacheFile {
        let production = host != "bastion.example.test";
        let mut rules = vec![];
        if production {
            let mut r = rule(
                "contractors_via_hbac",
                Some(10),
                Action::Record,
                Tier::Group,
                users(false, &[], &["contractors"]),
                services(false, &["sshd"], &[]),
            );
            r.via_hbac = Some("contractors_ssh_prod".into());
            r.settings = CacheSettings {
                log_input: Some(true),
                log_output: Some(true),
                log_window: Some(true),
                audit_level: Some(AuditLevel::Session),
                ..Default::default()
            };
            rules.push(r);
            let mut r = rule(
                "privileged_on_production",
                Some(20),
                Action::Record,
                Tier::Group,
                users(false, &[], &["privileged"]),
                services(false, &["sshd", "login"], &[("Sudo", &["sudo", "sudo-i"])]),
            );
            r.settings = CacheSettings {
                log_input: Some(false),
                limit_rate: Some(65536),
                limit_action: Some(LimitAction::Delay),
                audit_level: Some(AuditLevel::Session),
                ..Default::default()
            };
            rules.push(r);
        } else {
            rules.push(rule(
                "exempt_alice_bastion",
                Some(5),
                Action::Exempt,
                Tier::Name,
                users(false, &["alice"], &[]),
                services(true, &[], &[]),
            ));
        }
        let mut r = rule(
            "everyone_su_login_audit",
            Some(100),
            Action::Record,
            Tier::All,
            users(true, &[], &[]),
            services(false, &["su", "su-l"], &[]),
        );
        r.settings.audit_level = Some(AuditLevel::Login);
        rules.push(r);
        cache(host, rules)
    }

    fn facts(user: &str, service: Option<&str>) -> LoginFacts {
        LoginFacts {
            user: user.into(),
            host: "ignored".into(),
            service: service.map(String::from),
            ..Default::default()
        }
    }

    fn winner(rules: &IpaRules, user: &str, service: &str) -> Option<(String, bool)> {
        rules
            .evaluate(&facts(user, Some(service)))
            .map(|m| (m.rule, m.record))
    }

    const PROD: [&str; 2] = ["web1.example.test", "db1.example.test"];

    #[test]
    fn reference_table_alice() {
        for h in PROD {
            let r = reference(h);
            for svc in ["sshd", "login", "sudo", "sudo-i"] {
                let m = r.evaluate(&facts("alice", Some(svc))).expect(svc);
                assert_eq!(m.rule, "privileged_on_production", "{h} {svc}");
                assert!(m.record);
                assert_eq!(m.priority, Some(20));
                assert_eq!(m.audit_level, AuditLevel::Session);
                assert_eq!(m.settings.log_input, Some(false));
                assert_eq!(m.settings.limit_rate, Some(65536));
                assert_eq!(m.settings.limit_action.as_deref(), Some("delay"));
                // unset in the rule -> domain defaults
                assert_eq!(m.settings.limit_burst, Some(32768));
                assert_eq!(m.settings.log_output, Some(true));
            }
            let m = r.evaluate(&facts("alice", Some("su"))).unwrap();
            assert_eq!(m.rule, "everyone_su_login_audit");
            assert!(m.record);
            assert_eq!(m.audit_level, AuditLevel::Login);
        }
        let bastion = reference("bastion.example.test");
        for svc in ["sshd", "su", "login", "cron"] {
            assert_eq!(
                winner(&bastion, "alice", svc),
                Some(("exempt_alice_bastion".into(), false)),
                "{svc}"
            );
        }
    }

    #[test]
    fn reference_table_bob_carol_dave() {
        for h in PROD {
            let r = reference(h);
            let m = r.evaluate(&facts("bob", Some("sshd"))).unwrap();
            assert_eq!(m.rule, "contractors_via_hbac");
            assert!(m.record);
            assert_eq!(m.audit_level, AuditLevel::Session);
            assert_eq!(
                (
                    m.settings.log_input,
                    m.settings.log_output,
                    m.settings.log_window
                ),
                (Some(true), Some(true), Some(true))
            );
            assert_eq!(winner(&r, "bob", "sudo"), None);
            assert_eq!(winner(&r, "bob", "login"), None);
            for svc in ["sshd", "sudo", "login"] {
                assert_eq!(
                    winner(&r, "carol", svc),
                    Some(("privileged_on_production".into(), true)),
                    "carol {svc}"
                );
                assert_eq!(winner(&r, "dave", svc), None, "dave {svc}");
            }
        }
        let bastion = reference("bastion.example.test");
        assert_eq!(winner(&bastion, "bob", "sshd"), None);
        for h in [
            "web1.example.test",
            "db1.example.test",
            "bastion.example.test",
        ] {
            let r = reference(h);
            for u in ["carol", "dave"] {
                for svc in ["su", "su-l"] {
                    let m = r.evaluate(&facts(u, Some(svc))).unwrap();
                    assert_eq!(m.rule, "everyone_su_login_audit");
                    assert_eq!(m.audit_level, AuditLevel::Login);
                }
            }
        }
    }

    #[test]
    fn settings_become_tlog_conf_json() {
        let m = reference("web1.example.test")
            .evaluate(&facts("alice", Some("sshd")))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&m.settings.to_conf_json()).unwrap();
        assert_eq!(v["log"]["input"], false);
        assert_eq!(v["log"]["output"], true);
        assert_eq!(v["limit"]["rate"], 65536);
        assert_eq!(v["limit"]["burst"], 32768);
        assert_eq!(v["limit"]["action"], "delay");
    }

    #[test]
    fn nss_groups_count_through_ipa_nesting() {
        let r = reference("web1.example.test");
        // eve is unknown to LDAP membership, but NSS says she is in dbas,
        // which IPA nests in privileged.
        let mut f = facts("eve", Some("sshd"));
        assert!(r.evaluate(&f).is_none());
        f.groups = vec!["dbas".into()];
        assert_eq!(r.evaluate(&f).unwrap().rule, "privileged_on_production");
        f.groups = vec![];
        f.primary_group = Some("contractors".into());
        assert_eq!(r.evaluate(&f).unwrap().priority, Some(10));
    }

    #[test]
    fn priority_then_record_then_specificity_then_name() {
        let all_svc = || services(true, &[], &[]);
        // lower priority number wins over a more specific rule
        let r = IpaRules::from_file(cache(
            "h",
            vec![
                rule(
                    "specific",
                    Some(20),
                    Action::Exempt,
                    Tier::Name,
                    users(false, &["alice"], &[]),
                    all_svc(),
                ),
                rule(
                    "broad",
                    Some(10),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    all_svc(),
                ),
                rule(
                    "unnumbered",
                    None,
                    Action::Exempt,
                    Tier::Name,
                    users(false, &["alice"], &[]),
                    all_svc(),
                ),
            ],
        ));
        assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "broad");
        // absent priority comes after every numbered rule
        let r = IpaRules::from_file(cache(
            "h",
            vec![
                rule(
                    "unnumbered",
                    None,
                    Action::Exempt,
                    Tier::Name,
                    users(false, &["alice"], &[]),
                    all_svc(),
                ),
                rule(
                    "numbered",
                    Some(1000),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    all_svc(),
                ),
            ],
        ));
        assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "numbered");
        // equal priority: record beats a more specific exempt
        let r = IpaRules::from_file(cache(
            "h",
            vec![
                rule(
                    "exempt",
                    Some(5),
                    Action::Exempt,
                    Tier::Name,
                    users(false, &["alice"], &[]),
                    all_svc(),
                ),
                rule(
                    "record",
                    Some(5),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    all_svc(),
                ),
            ],
        ));
        assert_eq!(winner(&r, "alice", "sshd"), Some(("record".into(), true)));
        // equal priority and mode: host specificity beats user specificity
        let r = IpaRules::from_file(cache(
            "h",
            vec![
                rule(
                    "user_name",
                    Some(5),
                    Action::Record,
                    Tier::Group,
                    users(false, &["alice"], &[]),
                    all_svc(),
                ),
                rule(
                    "host_name",
                    Some(5),
                    Action::Record,
                    Tier::Name,
                    users(true, &[], &[]),
                    all_svc(),
                ),
            ],
        ));
        assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "host_name");
        // same host tier: user name > group > all
        let r = IpaRules::from_file(cache(
            "h",
            vec![
                rule(
                    "by_all",
                    Some(5),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    all_svc(),
                ),
                rule(
                    "by_group",
                    Some(5),
                    Action::Record,
                    Tier::All,
                    users(false, &[], &["privileged"]),
                    all_svc(),
                ),
            ],
        ));
        assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "by_group");
        // same host and user tier: service name > service group > all
        let r = IpaRules::from_file(cache(
            "h",
            vec![
                rule(
                    "svc_all",
                    Some(5),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    all_svc(),
                ),
                rule(
                    "svc_group",
                    Some(5),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    services(false, &[], &[("Sudo", &["sudo"])]),
                ),
                rule(
                    "svc_name",
                    Some(5),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    services(false, &["sudo"], &[]),
                ),
            ],
        ));
        assert_eq!(winner(&r, "alice", "sudo").unwrap().0, "svc_name");
        assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "svc_all");
        // full tie: the rule name decides (deterministic)
        let r = IpaRules::from_file(cache(
            "h",
            vec![
                rule(
                    "zeta",
                    Some(5),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    all_svc(),
                ),
                rule(
                    "alpha",
                    Some(5),
                    Action::Record,
                    Tier::All,
                    users(true, &[], &[]),
                    all_svc(),
                ),
            ],
        ));
        assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "alpha");
    }

    #[test]
    fn unknown_service_never_records_less() {
        let r = IpaRules::from_file(cache(
            "h",
            vec![
                rule(
                    "exempt_sshd",
                    Some(1),
                    Action::Exempt,
                    Tier::All,
                    users(true, &[], &[]),
                    services(false, &["sshd"], &[]),
                ),
                rule(
                    "record_su",
                    Some(2),
                    Action::Record,
                    Tier::All,
                    users(false, &["bob"], &[]),
                    services(false, &["su"], &[]),
                ),
            ],
        ));
        // sshd for bob: exempt; su: recorded; unknown (NSS): the exemption
        // cannot be assumed, the recording can.
        assert!(!winner(&r, "bob", "sshd").unwrap().1);
        assert!(r.evaluate(&facts("bob", None)).unwrap().record);
        assert!(r.may_record(&facts("bob", Some("sshd"))));
        assert!(!r.may_record(&facts("dave", None)));
    }

    #[test]
    fn memberships_lookup_in_one_string() {
        let m = Memberships::from_pairs(vec![
            ("zed", vec!["b", "a", "a"]),
            ("alice", vec!["privileged"]),
            ("bad,name", vec!["x"]),
            ("empty", vec![]),
        ]);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("zed"), Some(vec!["a", "b"]));
        assert_eq!(m.get("alice"), Some(vec!["privileged"]));
        assert_eq!(m.get("empty"), Some(vec![]));
        assert_eq!(m.get("bad,name"), None);
        assert_eq!(m.get("bob"), None);
        // An unsorted (hand-edited) table still answers correctly.
        let text = serde_json::to_string(&"zed\ta\nalice\tb\n").unwrap();
        let m: Memberships = serde_json::from_str(&text).unwrap();
        assert_eq!(m.get("alice"), Some(vec!["b"]));
        assert_eq!(m.get("zed"), Some(vec!["a"]));
    }

    #[test]
    fn stale_after_max_age_or_from_the_future() {
        let r = reference("web1.example.test");
        let t = r.synced_at();
        let day = Duration::from_secs(86400);
        assert!(!r.is_stale(t + Duration::from_secs(10), day));
        assert!(r.is_stale(t + day + Duration::from_secs(1), day));
        assert!(!r.is_stale(t - Duration::from_secs(60), day));
        assert!(r.is_stale(t - Duration::from_secs(3600), day));
    }

    #[test]
    fn cache_roundtrip_and_precise_errors() {
        let file = reference_file("web1.example.test");
        let text = serde_json::to_string_pretty(&file).unwrap();
        let back = IpaRules::from_json(&text, "c.json").unwrap();
        assert_eq!(back.rules(), file.rules.as_slice());
        assert_eq!(serde_json::from_str::<CacheFile>(&text).unwrap(), file);
        assert!(text.contains("\"alice\\tprivileged\\n"), "{text}");

        let cut = &text[..text.len() / 2];
        let e = IpaRules::from_json(cut, "c.json").unwrap_err();
        assert!(e.message.starts_with("truncated FreeIPA cache"), "{e}");
        assert!(
            e.line.is_some() && e.to_string().starts_with("c.json:"),
            "{e}"
        );

        let bad = text.replacen("\"record\"", "\"recrod\"", 1);
        let e = IpaRules::from_json(&bad, "c.json").unwrap_err();
        assert!(
            e.message.starts_with("corrupt FreeIPA cache") && e.message.contains("recrod"),
            "{e}"
        );
        let line = bad.lines().position(|l| l.contains("recrod")).unwrap() + 1;
        assert_eq!(e.line, Some(line));

        let e = IpaRules::from_json(
            &text.replacen("\"version\": 2", "\"version\": 9", 1),
            "c.json",
        )
        .unwrap_err();
        assert!(e.message.contains("version 9 is not supported"), "{e}");
        let e = IpaRules::from_json("", "c.json").unwrap_err();
        assert!(e.message.contains("empty"), "{e}");
    }

    /// The case: a priority-1 exempt rule limited to one minute a
    /// day, over a record-everyone rule.
    fn time_limited(exempt_time: &[&str], record_time: &[&str]) -> IpaRules {
        let mut ex = rule(
            "exempt_alice_nightly",
            Some(1),
            Action::Exempt,
            Tier::All,
            users(false, &["alice"], &[]),
            services(true, &[], &[]),
        );
        ex.access_time = exempt_time.iter().map(|s| s.to_string()).collect();
        let mut rec = rule(
            "record_everyone",
            Some(50),
            Action::Record,
            Tier::All,
            users(true, &[], &[]),
            services(true, &[], &[]),
        );
        rec.access_time = record_time.iter().map(|s| s.to_string()).collect();
        IpaRules::from_file(cache("web1.example.test", vec![ex, rec]))
    }

    #[test]
    fn time_limited_exemption_is_never_applied() {
        // Control: without a time limit the exemption wins.
        let plain = time_limited(&[], &[]);
        assert_eq!(
            winner(&plain, "alice", "sshd"),
            Some(("exempt_alice_nightly".into(), false))
        );
        assert!(!plain.may_record(&facts("alice", None)));
        // With one, valid or not, it never applies: alice is recorded.
        for value in [
            "periodic daily 0300-0301",
            "absolute 201012161032 ~ 201012161033",
            "not a time",
            "",
        ] {
            let r = time_limited(&[value], &[]);
            let m = r.evaluate(&facts("alice", Some("sshd"))).unwrap();
            assert_eq!(
                (m.rule.as_str(), m.record),
                ("record_everyone", true),
                "{value:?}"
            );
            assert_eq!(m.unapplied_exemptions, vec!["exempt_alice_nightly"]);
            assert!(m.time_limit.is_empty());
            let note = m.time_note();
            assert!(
                note.contains("'exempt_alice_nightly'") && note.contains("never applied"),
                "{note}"
            );
            assert!(r.may_record(&facts("alice", None)), "{value:?}");
            // Others are not concerned.
            let m = r.evaluate(&facts("bob", Some("sshd"))).unwrap();
            assert!(m.record && m.unapplied_exemptions.is_empty() && m.time_note().is_empty());
        }
    }

    #[test]
    fn time_limited_exemption_alone_gives_no_verdict() {
        let mut ex = rule(
            "exempt_alice_nightly",
            Some(1),
            Action::Exempt,
            Tier::Name,
            users(false, &["alice"], &[]),
            services(true, &[], &[]),
        );
        ex.access_time = vec!["periodic daily 0300-0301".into()];
        let r = IpaRules::from_file(cache("web1.example.test", vec![ex]));
        // No exempt verdict: lower sources (sssd.conf) still decide.
        assert!(r.evaluate(&facts("alice", Some("sshd"))).is_none());
    }

    #[test]
    fn time_limited_record_rule_records_at_all_times() {
        let r = time_limited(&[], &["periodic weekly day Mon-Fri 0900-1700"]);
        let m = r.evaluate(&facts("bob", Some("sshd"))).unwrap();
        assert!(m.record);
        assert_eq!(m.time_limit, vec!["periodic weekly day Mon-Fri 0900-1700"]);
        let note = m.time_note();
        assert!(
            note.contains("\"periodic weekly day Mon-Fri 0900-1700\"")
                && note.contains("records at all times"),
            "{note}"
        );
        // And it never outranks a plain exemption it did not outrank before.
        let m = r.evaluate(&facts("alice", Some("sshd"))).unwrap();
        assert_eq!((m.rule.as_str(), m.record), ("exempt_alice_nightly", false));
    }

    #[test]
    fn time_limit_handling_by_mode() {
        assert_eq!(
            TimeLimitHandling::for_mode(Action::Exempt),
            TimeLimitHandling::ExemptionNeverApplied
        );
        assert!(TimeLimitHandling::for_mode(Action::Record)
            .to_string()
            .contains("records at all times"));
        assert_eq!(
            quote_values(&["a\nb".into(), "c".into()]),
            "\"a\\nb\", \"c\""
        );
    }

    #[test]
    fn cache_versions_and_time_limits_on_disk() {
        let mut file = reference_file("web1.example.test");
        // Without time limits nothing new is written.
        let text = serde_json::to_string_pretty(&file).unwrap();
        assert!(!text.contains("access_time"), "{text}");
        // Version 1 (written before time limits existed) still loads.
        let v1 = text.replacen("\"version\": 2", "\"version\": 1", 1);
        assert!(IpaRules::from_json(&v1, "c.json").is_ok());
        let e = IpaRules::from_json(
            &text.replacen("\"version\": 2", "\"version\": 3", 1),
            "c.json",
        )
        .unwrap_err();
        assert!(e.message.contains("version 3 is not supported"), "{e}");
        // A time limit round-trips, and a malformed one is still a string.
        file.rules[0].access_time = vec!["periodic daily 0300-0301".into()];
        let text = serde_json::to_string_pretty(&file).unwrap();
        let back = IpaRules::from_json(&text, "c.json").unwrap();
        assert_eq!(back.rules(), file.rules.as_slice());
        // A non-string time limit is a corrupt cache (fail-secure upstream).
        let bad = text.replacen("\"periodic daily 0300-0301\"", "42", 1);
        let e = IpaRules::from_json(&bad, "c.json").unwrap_err();
        assert!(e.message.starts_with("corrupt FreeIPA cache"), "{e}");
    }

    #[test]
    fn load_cache_refuses_writable_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tlog-rs-ipa-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("cache.json");
        let text = serde_json::to_string(&reference_file("web1.example.test")).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_cache(&p).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = load_cache(&p).unwrap_err();
        assert!(e.message.contains("world-writable"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = load_cache(&p).unwrap_err();
        assert!(
            e.message.contains("directory") && e.message.contains("world-writable"),
            "{e}"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(load_cache(&p).is_ok(), "sticky directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = load_cache(&dir.join("missing.json")).unwrap_err();
        assert!(e.message.contains("not found"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
