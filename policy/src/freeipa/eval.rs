//! The evaluator: the cache indexed once, then one decision per login.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cache::{CacheFile, CacheRule, CacheSettings, DiskCache, SkippedRule, Tier};
use super::codec::MembershipTable;
use super::{CACHE_FORMAT, CACHE_VERSION, CACHE_VERSION_MIN};
use crate::vocab::Action;
use crate::{AuditLevel, LoginFacts, PolicyError, RecSettings};

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
        IpaRules::index(f.map_tables(|m| m.to_memberships()))
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
    /// Users the directory puts in a rule-named group (resolved at sync).
    pub fn directory_users(&self) -> impl Iterator<Item = &str> {
        self.file.user_groups.keys()
    }

    /// Groups nested in a rule-named group, themselves included: their NSS
    /// members are selected too.
    pub fn nested_groups(&self) -> impl Iterator<Item = &str> {
        self.file.group_closure.keys()
    }

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
