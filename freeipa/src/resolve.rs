//! From the LDAP entries `fetch` read to the per-host rule cache. Pure: the
//! whole FreeIPA rule semantics that depend on the directory (nested groups,
//! hostgroups, categories, seeAlso HBAC rules, validation) live here, so they
//! can be unit-tested without a server.

use std::collections::{HashMap, HashSet};

use tlog_rs_policy::freeipa::{
    quote_values, CacheFile, CacheRule, CacheServices, CacheSettings, CacheUsers, ServiceGroup,
    SkippedRule, Tier, TimeLimitHandling, CACHE_FORMAT, CACHE_VERSION,
};

use tlog_rs_policy::Action;

use crate::dn;

/// One LDAP entry; attribute names lowercased, DN kept as returned.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub dn: String,
    pub attrs: HashMap<String, Vec<String>>,
}

impl Entry {
    pub fn new(dn: &str, attrs: HashMap<String, Vec<String>>) -> Entry {
        Entry {
            dn: dn.to_string(),
            attrs: attrs
                .into_iter()
                .map(|(k, v)| (k.to_lowercase(), v))
                .collect(),
        }
    }
    pub fn get(&self, attr: &str) -> &[String] {
        self.attrs.get(attr).map(Vec::as_slice).unwrap_or(&[])
    }
    pub fn one(&self, attr: &str) -> Option<&str> {
        self.get(attr).first().map(String::as_str)
    }
    pub fn ndn(&self) -> String {
        dn::normalize(&self.dn)
    }
}

/// Everything the sync read from the directory for one host.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub base_dn: String,
    pub host: String,
    pub server: String,
    /// The ipaHost entry of this host, if the host is enrolled.
    pub host_entry: Option<Entry>,
    /// Every hostgroup (cn, member).
    pub hostgroups: Vec<Entry>,
    /// Enabled rules that may apply to this host (server-side prefilter).
    pub rules: Vec<Entry>,
    /// seeAlso target (normalized DN) -> the HBAC rule if it exists, is
    /// enabled and is an allow rule.
    pub hbac: HashMap<String, Option<Entry>>,
    /// Every user group (cn, member).
    pub usergroups: Vec<Entry>,
    /// Every HBAC service group (cn, member).
    pub servicegroups: Vec<Entry>,
    /// The cn=sessionrecording container (defaults).
    pub container: Option<Entry>,
}

/// Containers under the base DN (FreeIPA layout, ipalib/constants.py).
pub struct Layout {
    pub users: String,
    pub groups: String,
    pub hosts: String,
    pub hostgroups: String,
    pub services: String,
    pub servicegroups: String,
    pub hbac: String,
    pub rules: String,
}

impl Layout {
    pub fn new(base_dn: &str) -> Layout {
        let b = dn::normalize(base_dn);
        Layout {
            users: format!("cn=users,cn=accounts,{b}"),
            groups: format!("cn=groups,cn=accounts,{b}"),
            hosts: format!("cn=computers,cn=accounts,{b}"),
            hostgroups: format!("cn=hostgroups,cn=accounts,{b}"),
            services: format!("cn=hbacservices,cn=hbac,{b}"),
            servicegroups: format!("cn=hbacservicegroups,cn=hbac,{b}"),
            hbac: format!("cn=hbac,{b}"),
            rules: format!("cn=sessionrecording,{b}"),
        }
    }
}

/// An enabled rule the sync did not apply as written: ignored (invalid), or
/// carrying a time limit that is not evaluated. Reported by `tlog-rs sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleNotice {
    pub rule: String,
    pub dn: String,
    /// What was done and why, in words.
    pub what: String,
}

impl std::fmt::Display for RuleNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {:?} {} [dn: {}]", self.rule, self.what, self.dn)
    }
}

/// The cache and what the sync must report about it.
pub struct Built {
    pub cache: CacheFile,
    pub notices: Vec<RuleNotice>,
}

/// Build the cache for `snap.host` (see [`build`]).
pub fn build_cache(snap: &Snapshot, synced_at: u64) -> CacheFile {
    build(snap, synced_at).cache
}

/// Build the cache for `snap.host`. Rules that do not apply to this host are
/// left out; enabled rules that are invalid are listed in `skipped`; both
/// those and time-limited rules are listed in `notices`.
pub fn build(snap: &Snapshot, synced_at: u64) -> Built {
    let layout = Layout::new(&snap.base_dn);
    let host_dn = snap.host_entry.as_ref().map(Entry::ndn);
    let host_groups = host_dn
        .as_deref()
        .map(|h| ancestors(&snap.hostgroups, h))
        .unwrap_or_default();
    let service_groups = group_members(&snap.servicegroups);

    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    let mut notices = Vec::new();
    for e in &snap.rules {
        let name = e.one("cn").unwrap_or(&e.dn).to_string();
        match rule_for_host(
            e,
            snap,
            &layout,
            host_dn.as_deref(),
            &host_groups,
            &service_groups,
        ) {
            Ok(Some(r)) => {
                if let Some(what) = time_limit_notice(e, &r) {
                    notices.push(RuleNotice {
                        rule: name,
                        dn: e.dn.clone(),
                        what,
                    });
                }
                rules.push(r)
            }
            Ok(None) => {}
            Err(reason) => {
                notices.push(RuleNotice {
                    rule: name.clone(),
                    dn: e.dn.clone(),
                    what: format!("ignored: {reason}"),
                });
                skipped.push(SkippedRule { rule: name, reason })
            }
        }
    }
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    notices.sort_by(|a, b| a.rule.cmp(&b.rule).then(a.dn.cmp(&b.dn)));

    let referenced: HashSet<String> = rules
        .iter()
        .flat_map(|r| r.users.groups.iter().cloned())
        .collect();
    let (user_groups, group_closure) = memberships(&snap.usergroups, &layout, &referenced);

    let cache = CacheFile {
        format: CACHE_FORMAT.into(),
        version: CACHE_VERSION,
        host: snap.host.clone(),
        synced_at,
        server: snap.server.clone(),
        base_dn: snap.base_dn.clone(),
        defaults: snap
            .container
            .as_ref()
            .map(|c| settings(c).unwrap_or_else(|_| CacheSettings::default()))
            .unwrap_or_default(),
        rules,
        user_groups,
        group_closure,
        skipped,
    };
    Built { cache, notices }
}

/// The report for a rule that carries accessTime (its own or its seeAlso
/// HBAC rule's), or None.
fn time_limit_notice(e: &Entry, r: &CacheRule) -> Option<String> {
    if r.access_time.is_empty() {
        return None;
    }
    let own = e.get("accesstime");
    let hbac = r.access_time.get(own.len()..).unwrap_or(&[]);
    let mut from = Vec::new();
    if !own.is_empty() {
        from.push(format!("accessTime {}", quote_values(own)));
    }
    if let (false, Some(h)) = (hbac.is_empty(), &r.via_hbac) {
        from.push(format!(
            "its seeAlso HBAC rule {h:?} has accessTime {}",
            quote_values(hbac)
        ));
    }
    Some(format!(
        "({} rule) is time-limited: {}; {}",
        r.mode,
        from.join(" and "),
        TimeLimitHandling::for_mode(r.mode)
    ))
}

/// The cached form of rule `e` if it applies to this host; Err = invalid.
fn rule_for_host(
    e: &Entry,
    snap: &Snapshot,
    layout: &Layout,
    host_dn: Option<&str>,
    host_groups: &HashSet<String>,
    service_groups: &HashMap<String, Vec<String>>,
) -> Result<Option<CacheRule>, String> {
    if !e
        .one("ipaenabledflag")
        .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))
    {
        return Ok(None);
    }
    let name = e.one("cn").ok_or("no cn")?.to_string();
    let id = e.one("ipauniqueid").unwrap_or("").to_string();
    let priority = match e.one("ipasessionrecordingpriority") {
        None => None,
        Some(p) => Some(p.trim().parse::<u32>().map_err(|_| {
            format!(
                "ipaSessionRecordingPriority {p:?} is not a number from 0 to {}",
                u32::MAX
            )
        })?),
    };
    let mode = match e.one("ipasessionrecordingmode").map(str::to_lowercase) {
        None => Action::Record,
        Some(m) => m
            .parse()
            .map_err(|_| format!("ipaSessionRecordingMode {m:?}: expected record or exempt"))?,
    };
    let settings = settings(e)?;

    // Selectors come from the rule itself or, with seeAlso, from the HBAC rule.
    let see_also = e.get("seealso");
    let (sel, via_hbac) = match see_also {
        [] => (e, None),
        [target] => {
            let local = [
                "memberuser",
                "usercategory",
                "memberhost",
                "hostcategory",
                "memberservice",
                "servicecategory",
            ];
            if let Some(a) = local.iter().find(|a| !e.get(a).is_empty()) {
                return Err(format!("has seeAlso and its own {a}: use one or the other"));
            }
            match snap.hbac.get(&dn::normalize(target)) {
                Some(Some(h)) => (h, Some(h.one("cn").unwrap_or(target).to_string())),
                _ => {
                    return Err(format!(
                        "seeAlso HBAC rule {target} does not exist, is disabled or is not an allow rule"
                    ))
                }
            }
        }
        _ => return Err("more than one seeAlso".into()),
    };

    let host = match dimension(sel, "hostcategory", "memberhost", name.as_str())? {
        Dim::All => Tier::All,
        Dim::Members(members) => {
            if host_dn.is_some_and(|h| members.iter().any(|m| m == h)) {
                Tier::Name
            } else if members.iter().any(|m| host_groups.contains(m)) {
                Tier::Group
            } else {
                return Ok(None);
            }
        }
    };
    let users = match dimension(sel, "usercategory", "memberuser", &name)? {
        Dim::All => CacheUsers {
            all: true,
            ..Default::default()
        },
        Dim::Members(members) => {
            let mut u = CacheUsers::default();
            for m in members {
                let parent = dn::parent(&m);
                if let Some((_, value)) = dn::first_rdn(&m) {
                    if parent == layout.users {
                        u.names.push(value.to_lowercase());
                    } else if parent == layout.groups {
                        u.groups.push(value.to_lowercase());
                    }
                }
            }
            u
        }
    };
    // Kept for `tlog-rs check`, never evaluated (TimeLimitHandling): the
    // rule's own values first, then its HBAC rule's.
    let mut access_time = e.get("accesstime").to_vec();
    if via_hbac.is_some() {
        access_time.extend(sel.get("accesstime").iter().cloned());
    }
    let services = match dimension(sel, "servicecategory", "memberservice", &name)? {
        Dim::All => CacheServices {
            all: true,
            ..Default::default()
        },
        Dim::Members(members) => {
            let mut s = CacheServices::default();
            for m in members {
                let parent = dn::parent(&m);
                let Some((_, value)) = dn::first_rdn(&m) else {
                    continue;
                };
                if parent == layout.services {
                    s.names.push(value.to_lowercase());
                } else if parent == layout.servicegroups {
                    let mut members: Vec<String> = service_groups
                        .get(&m)
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .filter(|d| dn::parent(d) == layout.services)
                        .filter_map(|d| dn::first_rdn(d).map(|(_, v)| v.to_lowercase()))
                        .collect();
                    members.sort();
                    members.dedup();
                    s.groups.push(ServiceGroup {
                        name: value,
                        services: members,
                    });
                }
            }
            s
        }
    };
    Ok(Some(CacheRule {
        name,
        id,
        priority,
        mode,
        host,
        via_hbac,
        users,
        services,
        settings,
        access_time,
    }))
}

enum Dim {
    All,
    Members(Vec<String>),
}

/// One selector dimension: `category=all`, or the member DNs (normalized).
fn dimension(e: &Entry, category: &str, member: &str, rule: &str) -> Result<Dim, String> {
    let cat = e.get(category);
    let members = e.get(member);
    match (cat, members) {
        ([], m) => Ok(Dim::Members(m.iter().map(|d| dn::normalize(d)).collect())),
        ([c], []) if c.eq_ignore_ascii_case("all") => Ok(Dim::All),
        ([c], []) => Err(format!("{category} {c:?}: the only category is \"all\"")),
        (_, _) => {
            Err(format!(
            "{}{category}=all together with {member} entries (rule {rule}): use one or the other",
            if e.get("objectclass").iter().any(|o| o.eq_ignore_ascii_case("ipahbacrule")) {
                "its HBAC rule has "
            } else {
                ""
            }
        ))
        }
    }
}

/// An optional attribute holding one of an enum's words (case-insensitive).
fn word<T: std::str::FromStr>(
    e: &Entry,
    attr: &str,
    invalid: impl Fn(&str) -> String,
) -> Result<Option<T>, String> {
    e.one(attr)
        .map(|v| {
            v.to_lowercase()
                .parse()
                .map_err(|_| invalid(&v.to_lowercase()))
        })
        .transpose()
}

fn settings(e: &Entry) -> Result<CacheSettings, String> {
    let boolean = |a: &str, label: &str| -> Result<Option<bool>, String> {
        match e.one(a) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("TRUE") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("FALSE") => Ok(Some(false)),
            Some(v) => Err(format!("{label} {v:?}: expected TRUE or FALSE")),
        }
    };
    let number = |a: &str, label: &str| -> Result<Option<u64>, String> {
        match e.one(a) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{label} {v:?}: expected a number of bytes")),
        }
    };
    let limit_action = word(e, "ipasessionrecordinglimitaction", |v| {
        format!("ipaSessionRecordingLimitAction {v:?}: expected pass, delay or drop")
    })?;
    let audit_level = word(e, "ipasessionrecordingauditlevel", |v| {
        format!("ipaSessionRecordingAuditLevel {v:?}: expected none, login or session")
    })?;
    Ok(CacheSettings {
        log_input: boolean("ipasessionrecordingloginput", "ipaSessionRecordingLogInput")?,
        log_output: boolean(
            "ipasessionrecordinglogoutput",
            "ipaSessionRecordingLogOutput",
        )?,
        log_window: boolean(
            "ipasessionrecordinglogwindow",
            "ipaSessionRecordingLogWindow",
        )?,
        limit_rate: number(
            "ipasessionrecordingratelimit",
            "ipaSessionRecordingRateLimit",
        )?,
        limit_burst: number(
            "ipasessionrecordingburstlimit",
            "ipaSessionRecordingBurstLimit",
        )?,
        limit_action,
        audit_level,
    })
}

/// group DN -> member DNs (normalized).
fn group_members(groups: &[Entry]) -> HashMap<String, Vec<String>> {
    // Service groups may nest: flatten to their leaf members.
    let direct: HashMap<String, Vec<String>> = groups
        .iter()
        .map(|g| {
            (
                g.ndn(),
                g.get("member").iter().map(|m| dn::normalize(m)).collect(),
            )
        })
        .collect();
    let mut out = HashMap::new();
    for g in direct.keys() {
        let mut seen = HashSet::new();
        let mut stack = vec![g.clone()];
        let mut leaves = Vec::new();
        while let Some(x) = stack.pop() {
            if !seen.insert(x.clone()) {
                continue;
            }
            match direct.get(&x) {
                Some(ms) => stack.extend(ms.iter().cloned()),
                None => leaves.push(x),
            }
        }
        out.insert(g.clone(), leaves);
    }
    out
}

/// Every group (normalized DN) that contains `member`, directly or nested.
fn ancestors(groups: &[Entry], member: &str) -> HashSet<String> {
    let parents = parent_map(groups);
    let mut out = HashSet::new();
    let mut stack = vec![member.to_string()];
    while let Some(x) = stack.pop() {
        for p in parents.get(&x).into_iter().flatten() {
            if out.insert(p.clone()) {
                stack.push(p.clone());
            }
        }
    }
    out
}

/// member DN -> DNs of the groups listing it.
fn parent_map(groups: &[Entry]) -> HashMap<String, Vec<String>> {
    let mut parents: HashMap<String, Vec<String>> = HashMap::new();
    for g in groups {
        let gdn = g.ndn();
        for m in g.get("member") {
            parents
                .entry(dn::normalize(m))
                .or_default()
                .push(gdn.clone());
        }
    }
    parents
}

/// (user -> rule-named groups it is in, group -> rule-named groups it is in
/// incl. itself), both transitive, names lowercased, empty entries omitted.
#[allow(clippy::type_complexity)]
fn memberships(
    groups: &[Entry],
    layout: &Layout,
    referenced: &HashSet<String>,
) -> (HashMap<String, Vec<String>>, HashMap<String, Vec<String>>) {
    let mut user_groups: HashMap<String, Vec<String>> = HashMap::new();
    let mut closure: HashMap<String, Vec<String>> = HashMap::new();
    if referenced.is_empty() {
        return (user_groups, closure);
    }
    let parents = parent_map(groups);
    let name_of: HashMap<String, String> = groups
        .iter()
        .map(|g| {
            let n = g
                .one("cn")
                .map(str::to_string)
                .or_else(|| dn::first_rdn(&g.ndn()).map(|(_, v)| v))
                .unwrap_or_default();
            (g.ndn(), n.to_lowercase())
        })
        .collect();
    // Referenced groups each group is in (itself included), memoized.
    let mut memo: HashMap<String, Vec<String>> = HashMap::new();
    for g in groups {
        let gdn = g.ndn();
        let mut set: HashSet<&str> = HashSet::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = vec![&gdn];
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            if let Some(n) = name_of.get(x) {
                if referenced.contains(n) {
                    set.insert(n);
                }
            }
            for p in parents.get(x).into_iter().flatten() {
                stack.push(p);
            }
        }
        let mut v: Vec<String> = set.into_iter().map(String::from).collect();
        v.sort();
        memo.insert(gdn, v);
    }
    for g in groups {
        let gdn = g.ndn();
        let refs = &memo[&gdn];
        if refs.is_empty() {
            continue;
        }
        if let Some(n) = name_of.get(&gdn) {
            closure.insert(n.clone(), refs.clone());
        }
        for m in g.get("member") {
            let m = dn::normalize(m);
            if dn::parent(&m) != layout.users {
                continue;
            }
            if let Some((_, uid)) = dn::first_rdn(&m) {
                let e = user_groups.entry(uid.to_lowercase()).or_default();
                e.extend(refs.iter().cloned());
            }
        }
    }
    for v in user_groups.values_mut() {
        v.sort();
        v.dedup();
    }
    (user_groups, closure)
}

#[cfg(test)]
mod tests;
