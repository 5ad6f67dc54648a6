//! `tlog-rs sync --hostgroups FILE`: FreeIPA's host groups for the central
//! side. Each group is resolved to the FQDNs of all its hosts, nested groups
//! included, and written as a `[hostgroups]` table, the form central.toml
//! takes (its `hostgroups_file` key reads it; tlog-rs-central.toml(5)).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use ldap3::Scope;

use crate::conn::Connection;
use crate::fetch::search;
use crate::resolve::{Entry, Layout};
use crate::{cachefile, config, conn, dn};

/// Group name → sorted FQDNs of its hosts, direct or through nested groups.
pub type HostGroups = BTreeMap<String, Vec<String>>;

/// Resolve membership. Members that are neither a known host nor a known
/// host group (deleted entries, other object types) are skipped; cycles
/// between groups end where they close.
pub fn resolve(groups: &[Entry], hosts: &[Entry]) -> HostGroups {
    let fqdn: HashMap<String, &str> = hosts
        .iter()
        .filter_map(|h| h.one("fqdn").map(|f| (h.ndn(), f)))
        .collect();
    let by_dn: HashMap<String, &Entry> = groups.iter().map(|g| (g.ndn(), g)).collect();
    let mut out = HostGroups::new();
    for g in groups {
        let Some(name) = g.one("cn") else { continue };
        let mut found = BTreeSet::new();
        let mut seen = BTreeSet::from([g.ndn()]);
        let mut stack: Vec<&Entry> = vec![g];
        while let Some(x) = stack.pop() {
            for m in x.get("member").iter().map(|m| dn::normalize(m)) {
                if let Some(f) = fqdn.get(&m) {
                    found.insert(f.to_string());
                } else if let Some(sub) = by_dn.get(&m) {
                    if seen.insert(m) {
                        stack.push(sub);
                    }
                }
            }
        }
        out.insert(name.to_string(), found.into_iter().collect());
    }
    out
}

/// The file: a comment naming the source, then `[hostgroups]`.
pub fn to_toml(groups: &HostGroups, source: &str) -> Result<String, String> {
    #[derive(serde::Serialize)]
    struct File<'a> {
        hostgroups: &'a HostGroups,
    }
    let body = toml::to_string(&File { hostgroups: groups })
        .map_err(|e| format!("encode host groups: {e}"))?;
    Ok(format!(
        "# Written by `tlog-rs sync --hostgroups` from {source}; do not edit\n# (the next sync replaces it). Read through hostgroups_file in central.toml.\n{body}"
    ))
}

fn fetch(c: &mut Connection) -> Result<HostGroups, String> {
    let layout = Layout::new(&c.cfg.base_dn.clone());
    let groups = search(
        c,
        &layout.hostgroups,
        Scope::OneLevel,
        "(objectClass=groupOfNames)",
        &["cn", "member"],
    )?;
    let hosts = search(
        c,
        &layout.hosts,
        Scope::OneLevel,
        "(objectClass=ipaHost)",
        &["fqdn"],
    )?;
    Ok(resolve(&groups, &hosts))
}

/// Connect, read, resolve, write `out` atomically (the old file stays on
/// any failure). Returns the summary line.
pub fn sync(cfg: &config::SyncConfig, out: &Path) -> Result<String, String> {
    let mut c = conn::connect(&cfg.ldap)?;
    // ldap3 panics on a malformed server response: report it as a failure.
    let groups = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fetch(&mut c)))
        .map_err(|_| format!("{}: malformed answer from the server", c.uri))??;
    let _ = c.ldap.unbind();
    cachefile::write_atomic(out, &to_toml(&groups, &c.uri)?)?;
    let hosts: BTreeSet<&String> = groups.values().flatten().collect();
    Ok(format!(
        "synced {} host group(s) with {} host(s) from {} into {}",
        groups.len(),
        hosts.len(),
        c.uri,
        out.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "cn=accounts,dc=example,dc=test";

    fn host(f: &str) -> Entry {
        Entry::new(
            &format!("fqdn={f},cn=computers,{B}"),
            HashMap::from([("fqdn".into(), vec![f.into()])]),
        )
    }

    fn group(cn: &str, members: &[String]) -> Entry {
        Entry::new(
            &format!("cn={cn},cn=hostgroups,{B}"),
            HashMap::from([
                ("cn".into(), vec![cn.into()]),
                ("member".into(), members.to_vec()),
            ]),
        )
    }

    fn h(f: &str) -> String {
        format!("fqdn={f},cn=computers,{B}")
    }

    fn g(cn: &str) -> String {
        // Another spelling of the same DN: membership compares normalized.
        format!("CN={cn}, cn=hostgroups,{B}")
    }

    #[test]
    fn nested_groups_resolve_to_their_hosts_and_cycles_end() {
        let hosts = [host("web1.x"), host("db1.x"), host("db2.x")];
        let groups = [
            group("web", &[h("web1.x")]),
            group("db", &[h("db1.x"), h("db2.x"), h("gone.x")]),
            group("prod", &[g("web"), g("db")]),
            // a ↔ b: each holds the other's hosts, and the walk ends.
            group("a", &[g("b"), h("web1.x")]),
            group("b", &[g("a"), h("db1.x")]),
            group("empty", &[]),
        ];
        let r = resolve(&groups, &hosts);
        assert_eq!(r["web"], ["web1.x"]);
        assert_eq!(r["db"], ["db1.x", "db2.x"], "unknown members are skipped");
        assert_eq!(r["prod"], ["db1.x", "db2.x", "web1.x"]);
        assert_eq!(r["a"], ["db1.x", "web1.x"]);
        assert_eq!(r["b"], ["db1.x", "web1.x"]);
        assert!(r["empty"].is_empty());
    }

    #[test]
    fn the_file_is_a_hostgroups_table() {
        let mut m = HostGroups::new();
        m.insert("nj \"fs\"".into(), vec!["fs1.nj".into()]);
        let t = to_toml(&m, "ldap://x").unwrap();
        assert!(t.starts_with("# Written by `tlog-rs sync --hostgroups` from ldap://x"));
        #[derive(serde::Deserialize)]
        struct File {
            hostgroups: HostGroups,
        }
        let back: File = toml::from_str(&t).unwrap();
        assert_eq!(back.hostgroups, m);
    }
}
