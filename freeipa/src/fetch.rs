//! The LDAP reads of `tlog-rs sync`: this host, the hostgroups, the enabled
//! rules that may apply here (server-side prefilter as SSSD does for HBAC),
//! their seeAlso HBAC rules, the user and service groups, and the defaults.

use std::collections::HashMap;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{ldap_escape, LdapError, Scope, SearchEntry};

use crate::conn::{describe, Connection};
use crate::ldaperr::{LdapFailure, OpError, ResultCode, ResultError};
use crate::resolve::{Entry, Layout, Snapshot};

const PAGE: i32 = 500;

pub fn snapshot(c: &mut Connection) -> Result<Snapshot, String> {
    let base = c.cfg.base_dn.clone();
    let host = c.cfg.host.clone();
    let layout = Layout::new(&base);
    let host_entry = search(
        c,
        &layout.hosts,
        Scope::OneLevel,
        &format!("(&(objectClass=ipaHost)(fqdn={}))", ldap_escape(&host)),
        &["fqdn", "cn"],
    )?
    .into_iter()
    .next();
    let hostgroups = search(
        c,
        &layout.hostgroups,
        Scope::OneLevel,
        "(objectClass=groupOfNames)",
        &["cn", "member"],
    )?;
    let container = match search(c, &layout.rules, Scope::Base, "(objectClass=*)", &["*"]) {
        Ok(mut v) => v.pop(),
        Err(e) if e.code() == Some(ResultCode::NoSuchObject) => {
            return Err(format!(
                "{}: the session-recording container does not exist: load freeipa-schema/containers.ldif",
                layout.rules
            ))
        }
        Err(e) => return Err(e.into()),
    };

    // Rules naming this host, one of its (nested) hostgroups, all hosts, or
    // an HBAC rule (resolved below).
    let mut hosts = String::new();
    if let Some(h) = &host_entry {
        hosts.push_str(&format!("(memberHost={})", ldap_escape(&h.dn)));
        if let Some(hdn) = Some(h.ndn()) {
            for g in hostgroup_ancestors(&hostgroups, &hdn) {
                hosts.push_str(&format!("(memberHost={})", ldap_escape(&g)));
            }
        }
    }
    let filter = format!(
        "(&(objectClass=ipaSessionRecordingRule)(ipaEnabledFlag=TRUE)(|(hostCategory=all){hosts}(seeAlso=*)))"
    );
    let rules = search(c, &layout.rules, Scope::OneLevel, &filter, &["*"])?;

    let mut hbac = HashMap::new();
    for r in &rules {
        for target in r.get("seealso") {
            let key = crate::dn::normalize(target);
            if hbac.contains_key(&key) {
                continue;
            }
            let found = match search(
                c,
                target,
                Scope::Base,
                "(&(objectClass=ipaHBACRule)(ipaEnabledFlag=TRUE)(accessRuleType=allow))",
                &["*"],
            ) {
                Ok(mut v) => v.pop(),
                Err(e) if e.code() == Some(ResultCode::NoSuchObject) => None,
                Err(e) => return Err(e.into()),
            };
            hbac.insert(key, found);
        }
    }
    let usergroups = search(
        c,
        &layout.groups,
        Scope::OneLevel,
        "(objectClass=groupOfNames)",
        &["cn", "member"],
    )?;
    let servicegroups = search(
        c,
        &layout.servicegroups,
        Scope::OneLevel,
        "(objectClass=groupOfNames)",
        &["cn", "member"],
    )
    .or_else(|e| {
        if e.code() == Some(ResultCode::NoSuchObject) {
            Ok(vec![])
        } else {
            Err(e)
        }
    })?;
    Ok(Snapshot {
        base_dn: base,
        host,
        server: c.uri.clone(),
        host_entry,
        hostgroups,
        rules,
        hbac,
        usergroups,
        servicegroups,
        container,
    })
}

fn hostgroup_ancestors(groups: &[Entry], member: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![member.to_string()];
    while let Some(x) = stack.pop() {
        for g in groups {
            let gdn = g.ndn();
            if !out.contains(&gdn) && g.get("member").iter().any(|m| crate::dn::normalize(m) == x) {
                out.push(gdn.clone());
                stack.push(gdn);
            }
        }
    }
    out
}

/// A paged search (servers cap unpaged results: OpenLDAP 500, 389-DS 2000).
pub fn search(
    c: &mut Connection,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[&str],
) -> Result<Vec<Entry>, OpError> {
    let cfg = c.cfg.clone();
    let ctx = |e: &LdapError| OpError {
        op: format!("search {base} {filter}"),
        cause: match e {
            LdapError::LdapResult { result } => LdapFailure::Result(ResultError::from(result)),
            e => LdapFailure::Transport(describe(e, &cfg)),
        },
    };
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE)),
    ];
    let mut stream = c
        .op()
        .streaming_search_with(adapters, base, scope, filter, attrs.to_vec())
        .map_err(|e| ctx(&e))?;
    let mut out = Vec::new();
    loop {
        match stream.next() {
            Ok(Some(re)) => {
                let se = SearchEntry::construct(re);
                out.push(Entry::new(&se.dn, se.attrs));
            }
            Ok(None) => break,
            Err(e) => return Err(ctx(&e)),
        }
    }
    let res = stream.result();
    if res.rc != 0 {
        return Err(ctx(&LdapError::LdapResult { result: res }));
    }
    Ok(out)
}
