//! The policy: every source loaded and indexed, and the pure decision.
//!
//! Combination rule (see README.md): sources are consulted in a fixed
//! priority order — policy.toml rules (in file order), then the FreeIPA rule
//! cache, then sssd.conf. The first source with a verdict (a matching record
//! rule or a matching explicit exemption) decides. No verdict anywhere: not
//! recorded. A broken policy: everyone recorded (fail-secure).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::config::{self, Action, FreeIpaConfig, OnStale, PolicyConfig, Rule};
use crate::decision::{real_shell, AuditLevel, Decision, Graphical, Source};
use crate::error::PolicyError;
use crate::facts::LoginFacts;
use crate::fast::FastMap;
use crate::freeipa::{self, IpaRules};
use crate::settings::RecSettings;
use crate::source_file::{read_checked, FileStamp};
use crate::sssd::{self, SssdRecording, SssdVerdict};
use crate::uid_match::{NamedUids, SelectingNames};
use crate::DEFAULT_RECORDER;

/// For each user / group name, the policy.toml rules that name it, so that a
/// decision costs one lookup per group instead of one per (rule, group).
#[derive(Debug, Default)]
struct RuleIndex {
    by_user: FastMap<Vec<u32>>,
    by_group: FastMap<Vec<u32>>,
    /// Bit set of the `all_users = true` rules (they apply to everyone).
    always: Vec<u64>,
}

impl RuleIndex {
    fn build(rules: &[Rule]) -> RuleIndex {
        let mut idx = RuleIndex {
            always: vec![0; rules.len().div_ceil(64)],
            ..Default::default()
        };
        for (i, r) in rules.iter().enumerate() {
            if r.all_users {
                idx.always[i / 64] |= 1 << (i % 64);
            }
            for u in dedup(&r.users) {
                idx.by_user.entry(u.into()).or_default().push(i as u32);
            }
            for g in dedup(&r.groups) {
                idx.by_group.entry(g.into()).or_default().push(i as u32);
            }
        }
        idx
    }
}

fn dedup(v: &[String]) -> impl Iterator<Item = &str> {
    let mut seen = HashSet::new();
    v.iter()
        .map(String::as_str)
        .filter(move |s| seen.insert(*s))
}

/// The FreeIPA source: the loaded cache plus its staleness.
#[derive(Debug)]
struct IpaSource {
    config: FreeIpaConfig,
    rules: IpaRules,
    stale: bool,
}

/// A loaded policy. Build with [`Policy::load`]; decide with [`Policy::decide`].
#[derive(Debug)]
pub struct Policy {
    origin: String,
    recorder: String,
    config: PolicyConfig,
    index: RuleIndex,
    sssd: Option<SssdRecording>,
    ipa: Option<IpaSource>,
    stamps: Vec<FileStamp>,
    prefilter: NamePrefilter,
    /// uids of the users named by record rules, resolved once (NSS).
    name_uids: NamedUids,
}

/// What an NSS lookup must gather before `may_record` can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupNeeds {
    /// The queried name could be selected (false: answer NOTFOUND at once).
    pub name_may_match: bool,
    /// Some record rule names a user: when the queried name does not
    /// match, the entry's uid may still be a selected user's
    /// (`Policy::selects_uid_by_name`).
    pub uid_aliases: bool,
    /// Some source selects or exempts by group: gather group names.
    pub groups: bool,
}

/// The NSS pre-check, derived once from the loaded sources. Only record
/// rules and sources can select a login, so when every one of them selects
/// by user name, a name none of them lists cannot be recorded.
#[derive(Debug, Clone, Default)]
struct NamePrefilter {
    by_name_only: bool,
    names: Vec<String>,
    groups: bool,
    /// Some record rule of any source names a user (set after the build).
    uid_aliases: bool,
}

impl NamePrefilter {
    fn build(config: &PolicyConfig, sssd: Option<&SssdRecording>) -> NamePrefilter {
        let mut f = NamePrefilter {
            by_name_only: config.freeipa.is_none(),
            names: Vec::new(),
            groups: config.freeipa.is_some(),
            uid_aliases: false,
        };
        for r in &config.rules {
            f.groups |= !r.groups.is_empty();
            if r.action == Action::Record {
                f.by_name_only &= !r.all_users && r.groups.is_empty();
                f.names.extend(r.users.iter().cloned());
            }
        }
        if let Some(sr) = sssd {
            match sr.scope {
                sssd::Scope::None => {}
                sssd::Scope::Some => {
                    f.groups |= !sr.groups.is_empty();
                    f.by_name_only &= sr.groups.is_empty();
                    f.names.extend(sr.users.iter().cloned());
                }
                sssd::Scope::All => {
                    f.groups |= !sr.exclude_groups.is_empty();
                    f.by_name_only = false;
                }
            }
        }
        f
    }
}

/// Everything `validate` found.
#[derive(Debug, Default)]
pub struct ValidationReport {
    /// Problems that make the policy fail (fail-secure: everyone recorded).
    pub errors: Vec<PolicyError>,
    /// Suspicious but accepted (e.g. keys SSSD ignores).
    pub warnings: Vec<PolicyError>,
    /// True if the policy cannot be loaded at all (then every login is
    /// recorded); false if it loads but something else is wrong.
    pub load_failed: bool,
}

/// FreeIPA settings the recorder would refuse at login (out of range):
/// the sync stores the numbers as LDAP holds them, so they are checked here.
fn ipa_setting_problems(ipa: &IpaSource) -> Vec<PolicyError> {
    let origin = &ipa.config.cache;
    let mut out: Vec<PolicyError> = ipa
        .rules
        .default_settings()
        .problems()
        .into_iter()
        .map(|p| PolicyError::new(origin.clone(), None, format!("domain defaults: {p}")))
        .collect();
    for r in ipa.rules.rules() {
        let s = RecSettings {
            limit_rate: r.settings.limit_rate,
            limit_burst: r.settings.limit_burst,
            ..RecSettings::default()
        };
        out.extend(
            s.problems()
                .into_iter()
                .map(|p| PolicyError::new(origin.clone(), None, format!("rule {:?}: {p}", r.name))),
        );
    }
    out
}

impl Policy {
    /// Parse policy.toml and every source it includes.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let (res, _) = Self::load_stamped(path);
        res.map_err(|mut e| e.remove(0))
    }

    /// Like `load`, but returns every problem and the stamps of every file
    /// read (also on failure, so a cache knows when to retry).
    pub(crate) fn load_stamped(path: &Path) -> (Result<Policy, Vec<PolicyError>>, Vec<FileStamp>) {
        let origin = path.display().to_string();
        match read_checked(path) {
            Ok((text, stamp)) => {
                let mut stamps = vec![stamp];
                let res = Self::build(&text, &origin, &mut stamps);
                (res, stamps)
            }
            Err(e) => (Err(vec![e]), vec![FileStamp::missing(path)]),
        }
    }

    /// Parse policy.toml text (for tests); included sources are still read from disk.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let mut stamps = Vec::new();
        Self::build(text, origin, &mut stamps).map_err(|mut e| e.remove(0))
    }

    fn build(
        text: &str,
        origin: &str,
        stamps: &mut Vec<FileStamp>,
    ) -> Result<Policy, Vec<PolicyError>> {
        let config = config::parse(text, origin)?;
        let mut errs = Vec::new();
        let sssd = match &config.sssd {
            None => None,
            Some(s) => {
                let dir = s.conf_dir.as_deref().map(Path::new);
                match sssd::load(Path::new(&s.conf), dir) {
                    Ok((rec, st)) => {
                        stamps.extend(st);
                        Some(rec)
                    }
                    Err(e) => {
                        stamps.push(FileStamp::missing(Path::new(&s.conf)));
                        errs.push(e);
                        None
                    }
                }
            }
        };
        let ipa = match &config.freeipa {
            None => None,
            Some(f) => {
                let path = Path::new(&f.cache);
                stamps.push(FileStamp::of(path).unwrap_or_else(|_| FileStamp::missing(path)));
                match freeipa::load_cache(path) {
                    Ok(rules) => {
                        let stale =
                            rules.is_stale(SystemTime::now(), Duration::from_secs(f.max_age_secs));
                        Some(IpaSource {
                            config: f.clone(),
                            rules,
                            stale,
                        })
                    }
                    Err(e) => {
                        errs.push(e);
                        None
                    }
                }
            }
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        let mut policy = Policy {
            origin: origin.to_string(),
            recorder: config
                .recorder
                .clone()
                .unwrap_or_else(|| DEFAULT_RECORDER.to_string()),
            index: RuleIndex::build(&config.rules),
            prefilter: NamePrefilter::build(&config, sssd.as_ref()),
            config,
            sssd,
            ipa,
            stamps: stamps.clone(),
            name_uids: NamedUids::default(),
        };
        policy.prefilter.uid_aliases = !policy.selecting_names().users.is_empty();
        Ok(policy)
    }

    /// Check the policy file and every source it names; report all problems.
    pub fn validate(path: &Path) -> ValidationReport {
        let mut report = ValidationReport::default();
        let (res, _) = Self::load_stamped(path);
        match res {
            Err(errs) => {
                report.errors = errs;
                report.load_failed = true;
            }
            Ok(p) => {
                if let Some(s) = &p.sssd {
                    report.warnings.extend(s.warnings());
                }
                if let Some(ipa) = p.ipa.as_ref().filter(|i| i.stale) {
                    report.warnings.push(PolicyError::new(
                        ipa.config.cache.clone(),
                        None,
                        match ipa.config.on_stale {
                            OnStale::Record => format!(
                                "older than max_age ({} s): every login policy.toml does not \
                                 decide is recorded until `tlog-rs sync` succeeds",
                                ipa.config.max_age_secs
                            ),
                            OnStale::Use => format!(
                                "older than max_age ({} s): its rules are still used (on_stale = \"use\")",
                                ipa.config.max_age_secs
                            ),
                        },
                    ));
                }
                if let Some(ipa) = &p.ipa {
                    report.errors.extend(ipa_setting_problems(ipa));
                }
                if std::fs::metadata(&p.recorder).is_err() {
                    report.errors.push(PolicyError::new(
                        p.origin.clone(),
                        None,
                        format!(
                            "recorder {} does not exist: recorded users could not log in",
                            p.recorder
                        ),
                    ));
                }
            }
        }
        report
    }

    /// The parsed policy.toml (for the NSS snapshot).
    /// sssd.conf's `[session_recording]`, if the policy has that source.
    pub(crate) fn sssd(&self) -> Option<&SssdRecording> {
        self.sssd.as_ref()
    }

    pub(crate) fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The NSS pre-check's parts (by_name_only, names, groups, uid_aliases),
    /// stored by the NSS snapshot.
    pub(crate) fn prefilter_parts(&self) -> (bool, &[String], bool, bool) {
        let f = &self.prefilter;
        (f.by_name_only, &f.names, f.groups, f.uid_aliases)
    }

    /// Path of the login-shell recorder.
    pub fn recorder(&self) -> &str {
        &self.recorder
    }

    /// The PAM services of display managers (`display_managers`).
    pub fn display_managers(&self) -> &[String] {
        &self.config.display_managers
    }

    /// The policy.toml path or origin this policy was parsed from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Files this policy was built from, with the versions read.
    pub fn stamps(&self) -> &[FileStamp] {
        &self.stamps
    }

    /// Re-evaluate the FreeIPA cache's age against `now` (the decision
    /// itself never reads the clock).
    pub fn refresh_staleness(&mut self, now: SystemTime) {
        if let Some(ipa) = &mut self.ipa {
            ipa.stale = ipa
                .rules
                .is_stale(now, Duration::from_secs(ipa.config.max_age_secs));
        }
    }

    /// Whether the FreeIPA cache is configured and older than `max_age`.
    pub fn ipa_stale(&self) -> Option<bool> {
        self.ipa.as_ref().map(|i| i.stale)
    }

    /// The decision for one login. Pure: no I/O, no clock.
    pub fn decide(&self, facts: &LoginFacts) -> Decision {
        self.decide_for_service(facts, facts.service.as_deref())
    }

    /// `decide` with the service replaced (None = the NSS view).
    fn decide_for_service(&self, facts: &LoginFacts, service: Option<&str>) -> Decision {
        let shell = real_shell(&facts.passwd_shell, &self.recorder);
        if let Some(d) = self.decide_toml(facts, service, &shell) {
            return d;
        }
        if let Some(d) = self.decide_ipa(facts, service, &shell) {
            return d;
        }
        if let Some(d) = self.decide_sssd(facts, &shell) {
            return d;
        }
        Decision {
            record: false,
            source: Source::Default,
            rule: "default".into(),
            reason: "no rule of any configured source selects this login".into(),
            settings: RecSettings::default(),
            shell,
            audit_level: AuditLevel::None,
            graphical: Graphical::Skip,
        }
    }

    /// For NSS, which cannot see the PAM service: true if any service could
    /// record this user on this host. Service-restricted record rules count
    /// as matching and service-restricted exemptions as not matching.
    /// The NSS pre-check for a lookup by name (`None`: by uid). Names are
    /// compared case-insensitively and also without an `@domain` suffix,
    /// because name-normalising sources (sss with case_sensitive=false,
    /// short vs qualified names) may answer a query for "ALICE" or
    /// "alice@example" with the entry "alice"; a normalisation still missed
    /// is caught by pam_tlog's consistency check (fail=closed refuses).
    pub fn lookup_needs(&self, query: Option<&[u8]>) -> LookupNeeds {
        let f = &self.prefilter;
        let name_may_match = match query {
            Some(q) if f.by_name_only => {
                let short = q.split(|b| *b == b'@').next().unwrap_or(q);
                f.names.iter().any(|n| {
                    n.as_bytes().eq_ignore_ascii_case(q) || n.as_bytes().eq_ignore_ascii_case(short)
                })
            }
            _ => true,
        };
        LookupNeeds {
            name_may_match,
            uid_aliases: f.uid_aliases,
            groups: f.groups,
        }
    }

    /// The users and groups record rules name, in every source (for
    /// selection by uid, see `uid_match`). Sorted, without duplicates.
    /// The FreeIPA cache's members of rule-named groups: users the
    /// directory puts in them, and groups nested in them (whose NSS members
    /// are in them too). Empty without a FreeIPA source.
    pub fn freeipa_members(&self) -> SelectingNames {
        let mut n = SelectingNames::default();
        if let Some(ipa) = &self.ipa {
            n.users = ipa.rules.directory_users().map(String::from).collect();
            n.groups = ipa.rules.nested_groups().map(String::from).collect();
        }
        n
    }

    /// The policy.toml rules that record.
    fn record_rules(&self) -> impl Iterator<Item = &Rule> {
        (self.config.rules.iter()).filter(|r| r.action == Action::Record)
    }

    /// The FreeIPA cache's rules that record (none without a cache).
    fn ipa_record_rules(&self) -> impl Iterator<Item = &freeipa::CacheRule> {
        let rules = self.ipa.as_ref().map_or(&[][..], |ipa| ipa.rules.rules());
        rules.iter().filter(|r| r.mode == Action::Record)
    }

    /// PAM services that record rules name (TOML rules, FreeIPA rules and
    /// their service groups). For readers that must consider every service
    /// a login could use, such as the audit rules (the kernel matches auids,
    /// not services).
    pub fn named_services(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .record_rules()
            .flat_map(|r| r.services.iter().cloned())
            .collect();
        for r in self.ipa_record_rules() {
            out.extend(r.services.names.iter().cloned());
            for g in &r.services.groups {
                out.extend(g.services.iter().cloned());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    pub fn selecting_names(&self) -> SelectingNames {
        let mut n = SelectingNames::default();
        for r in self.record_rules() {
            n.users.extend(r.users.iter().cloned());
            n.groups.extend(r.groups.iter().cloned());
        }
        for r in self.ipa_record_rules() {
            n.users.extend(r.users.names.iter().cloned());
            n.groups.extend(r.users.groups.iter().cloned());
        }
        if let Some(s) = self.sssd.as_ref().filter(|s| s.scope == sssd::Scope::Some) {
            n.users.extend(s.users.iter().cloned());
            n.groups.extend(s.groups.iter().cloned());
        }
        for v in [&mut n.users, &mut n.groups] {
            v.sort();
            v.dedup();
        }
        n
    }

    /// NSS's cheap selection by uid: true if `uid` is the uid of a user that
    /// a record rule names. `resolve` (name -> uid, never through our own
    /// NSS module) runs once per name and policy load; the group members
    /// and the rules' restrictions are left to pam_tlog, which decides.
    pub fn selects_uid_by_name(
        &self,
        uid: u32,
        resolve: &mut dyn FnMut(&str) -> Option<u32>,
    ) -> bool {
        self.name_uids
            .contains(uid, &self.selecting_names().users, resolve)
    }

    pub fn may_record(&self, facts: &LoginFacts) -> bool {
        self.decide_for_service(facts, None).record
    }

    /// Decision when the policy cannot be loaded: every login is recorded,
    /// root included, with the recorder's default settings, so that breaking
    /// or removing the policy never yields an unrecorded session.
    pub fn failsafe_decision(err: &PolicyError, facts: &LoginFacts) -> Decision {
        Decision {
            record: true,
            source: Source::Error,
            rule: "fail-secure".into(),
            reason: format!("the policy cannot be used ({err}), so every login is recorded"),
            settings: RecSettings::default(),
            shell: real_shell(&facts.passwd_shell, DEFAULT_RECORDER),
            audit_level: AuditLevel::Session,
            graphical: Graphical::Skip,
        }
    }

    fn recorded(
        &self,
        source: Source,
        rule: String,
        reason: String,
        settings: &RecSettings,
        audit: Option<AuditLevel>,
        shell: &str,
    ) -> Decision {
        Decision {
            record: true,
            source,
            rule,
            reason,
            settings: settings.or(&self.config.settings),
            shell: shell.to_string(),
            audit_level: audit.unwrap_or(self.config.audit_level),
            graphical: Graphical::Skip,
        }
    }

    fn not_recorded(source: Source, rule: String, reason: String, shell: &str) -> Decision {
        Decision {
            record: false,
            source,
            rule,
            reason,
            settings: RecSettings::default(),
            shell: shell.to_string(),
            audit_level: AuditLevel::None,
            graphical: Graphical::Skip,
        }
    }

    fn decide_toml(
        &self,
        facts: &LoginFacts,
        service: Option<&str>,
        shell: &str,
    ) -> Option<Decision> {
        let rules = &self.config.rules;
        if rules.is_empty() {
            return None;
        }
        // Candidate rules as a bit set (on the stack for up to 512 rules):
        // the all_users rules plus every rule naming the user or a group.
        let words = self.index.always.len();
        let mut stack = [0u64; 8];
        let mut heap = Vec::new();
        let selected: &mut [u64] = if words <= stack.len() {
            &mut stack[..words]
        } else {
            heap.resize(words, 0);
            &mut heap
        };
        selected.copy_from_slice(&self.index.always);
        let mut mark = |ids: &Vec<u32>| {
            for &i in ids {
                selected[(i / 64) as usize] |= 1 << (i % 64);
            }
        };
        if let Some(ids) = self.index.by_user.get(facts.user.as_str()) {
            mark(ids);
        }
        for g in facts.primary_group.iter().chain(facts.groups.iter()) {
            if let Some(ids) = self.index.by_group.get(g.as_str()) {
                mark(ids);
            }
        }
        // Visit candidates in rule order (ascending bits).
        let candidates = selected.iter().enumerate().flat_map(|(w, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + b
                })
            })
        });
        for i in candidates {
            let rule = &rules[i];
            if !hosts_match(rule, &facts.host) {
                continue;
            }
            if !service_matches(rule, service) {
                continue;
            }
            let who = who_matched(rule, facts);
            let label = format!("policy.toml rule '{}' (line {})", rule.name, rule.line);
            return Some(match rule.action {
                Action::Record => Decision {
                    graphical: rule.graphical,
                    ..self.recorded(
                        Source::Toml,
                        label,
                        format!("{who}, so rule '{}' records this login", rule.name),
                        &rule.settings,
                        rule.audit_level,
                        shell,
                    )
                },
                Action::Exempt => Self::not_recorded(
                    Source::Toml,
                    label,
                    format!(
                        "{who}, and rule '{}' exempts this login from recording",
                        rule.name
                    ),
                    shell,
                ),
            });
        }
        None
    }

    fn decide_ipa(
        &self,
        facts: &LoginFacts,
        service: Option<&str>,
        shell: &str,
    ) -> Option<Decision> {
        let ipa = self.ipa.as_ref()?;
        if ipa.stale && ipa.config.on_stale == OnStale::Record {
            return Some(self.recorded(
                Source::FreeIpa,
                "freeipa cache stale".into(),
                format!(
                    "the FreeIPA rule cache {} is older than max_age ({} s) and on_stale = \"record\", \
                     so every login not decided by policy.toml is recorded",
                    ipa.config.cache, ipa.config.max_age_secs
                ),
                &RecSettings::default(),
                None,
                shell,
            ));
        }
        let m = if facts.service.as_deref() == service {
            ipa.rules.evaluate(facts)?
        } else {
            let mut f = facts.clone();
            f.service = service.map(str::to_string);
            ipa.rules.evaluate(&f)?
        };
        let label = format!("ipa rule '{}'", m.rule);
        Some(if m.record {
            self.recorded(
                Source::FreeIpa,
                label,
                format!(
                    "FreeIPA rule '{}' records this login{}",
                    m.rule,
                    m.time_note()
                ),
                &m.settings,
                Some(m.audit_level),
                shell,
            )
        } else {
            Self::not_recorded(
                Source::FreeIpa,
                label,
                format!(
                    "FreeIPA rule '{}' exempts this login from recording{}",
                    m.rule,
                    m.time_note()
                ),
                shell,
            )
        })
    }

    fn decide_sssd(&self, facts: &LoginFacts, shell: &str) -> Option<Decision> {
        let s = self.sssd.as_ref()?;
        let label = format!("sssd.conf scope={}", s.scope.as_str());
        match s.evaluate(facts) {
            SssdVerdict::Record(why) => Some(self.recorded(
                Source::Sssd,
                label,
                format!("{why} in {}", s.origin),
                &RecSettings::default(),
                None,
                shell,
            )),
            SssdVerdict::Exempt(why) => Some(Self::not_recorded(
                Source::Sssd,
                label,
                format!("{why} in {}", s.origin),
                shell,
            )),
            SssdVerdict::NoMatch(_) => None,
        }
    }
}

/// Which name selected the user, in words.
fn who_matched(rule: &Rule, facts: &LoginFacts) -> String {
    if rule.all_users {
        return "the rule applies to all users".into();
    }
    if rule.users.contains(&facts.user) {
        return format!("user {:?} is listed", facts.user);
    }
    if let Some(p) = &facts.primary_group {
        if rule.groups.contains(p) {
            return format!("primary group {p:?} is listed");
        }
    }
    match facts.groups.iter().find(|g| rule.groups.contains(g)) {
        Some(g) => format!("group {g:?} is listed"),
        None => "the user matches".into(),
    }
}

/// Hosts: an unknown (empty) host name matches a record rule restricted to
/// some hosts (it might apply) but not such an exemption, like services.
pub(crate) fn hosts_match(rule: &Rule, host: &str) -> bool {
    if rule.hosts.is_empty() {
        return true;
    }
    if host.is_empty() {
        return rule.action == Action::Record;
    }
    rule.hosts.iter().any(|p| host_matches(p, host))
}

/// Services: `None` (NSS, unknown) matches a record rule restricted to some
/// services (it might apply) but not such an exemption (it might not).
pub(crate) fn service_matches(rule: &Rule, service: Option<&str>) -> bool {
    if rule.services.is_empty() {
        return true;
    }
    match service {
        Some(s) => rule.services.iter().any(|x| x == s),
        None => rule.action == Action::Record,
    }
}

/// Host patterns: shell-style `*` and `?`, case-insensitive (DNS names are).
/// A pattern without a dot also matches the host's first label, so "web1"
/// matches "web1.example.com".
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if glob_ci(pattern.as_bytes(), host.as_bytes()) {
        return true;
    }
    if !pattern.contains('.') {
        if let Some((short, _)) = host.split_once('.') {
            return glob_ci(pattern.as_bytes(), short.as_bytes());
        }
    }
    false
}

fn glob_ci(p: &[u8], s: &[u8]) -> bool {
    // Iterative matcher with single backtrack point for '*'.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&s[si])) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}
