//! The compact on-disk form of the cache's membership tables.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

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
    pub(super) fn index(&self) -> Vec<u32> {
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

    pub(super) fn lookup<'a>(
        &'a self,
        index: &[u32],
        name: &str,
    ) -> Option<impl Iterator<Item = &'a str>> {
        let i = index.binary_search_by(|&s| self.key_at(s).cmp(name)).ok()?;
        let line = self.line_at(index[i]);
        let values = line.split_once('\t').map_or("", |(_, v)| v);
        Some(values.split(',').filter(|v| !v.is_empty()))
    }

    /// Values for `name` (a linear scan: for tests and reports).
    pub fn get(&self, name: &str) -> Option<Vec<&str>> {
        self.lookup(&self.index(), name).map(Iterator::collect)
    }

    /// The names that have a line (for reports and the audit rules).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.lines().filter_map(|l| l.split('\t').next())
    }

    pub fn len(&self) -> usize {
        self.0.lines().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How a membership table is held in memory; on disk it is always the
/// compact [`Memberships`] string.
pub trait MembershipTable: Sized {
    fn to_memberships(&self) -> Memberships;
    fn from_memberships(m: Memberships) -> Self;
}

impl MembershipTable for Memberships {
    fn to_memberships(&self) -> Memberships {
        self.clone()
    }
    fn from_memberships(m: Memberships) -> Self {
        m
    }
}

impl MembershipTable for HashMap<String, Vec<String>> {
    fn to_memberships(&self) -> Memberships {
        Memberships::from_pairs(
            self.iter()
                .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect())),
        )
    }
    fn from_memberships(m: Memberships) -> Self {
        m.0.lines()
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
            .collect()
    }
}

/// serde for a membership table in either form (`#[serde(with = "table")]`).
pub mod table {
    use super::{MembershipTable, Memberships};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<M: MembershipTable, S: Serializer>(m: &M, s: S) -> Result<S::Ok, S::Error> {
        m.to_memberships().serialize(s)
    }

    pub fn deserialize<'de, M: MembershipTable, D: Deserializer<'de>>(d: D) -> Result<M, D::Error> {
        Memberships::deserialize(d).map(M::from_memberships)
    }
}
