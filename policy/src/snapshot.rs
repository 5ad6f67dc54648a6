//! A compact, precompiled view of the policy for the NSS module, so that the
//! first user lookup in a new process reads one small file instead of
//! parsing TOML.
//!
//! `tlog-rs validate` writes it (atomically, root-owned) to
//! [`DEFAULT_SNAPSHOT_PATH`]. It holds what NSS needs: the record/exempt rules
//! that can apply on this host to a login of unknown service, the lookup
//! pre-check, the users selection by uid resolves, and the stamps of every
//! source file it was built from. A reader uses it only if it is root-owned,
//! built from the default policy path on this host, and every source stamp
//! is unchanged; otherwise (missing, stale) it parses the TOML as before, so
//! correctness never depends on the snapshot. A snapshot that cannot be
//! decoded is a broken policy: it fails secure (one written by another
//! version is only ignored). Policies with a FreeIPA source (time windows)
//! get no snapshot; sssd.conf's selection is kept in it, and the file is
//! then as readable as sssd.conf (normally root only).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Action;
use crate::engine::{hosts_match, service_matches, LookupNeeds, Policy};
use crate::error::PolicyError;
use crate::facts::LoginFacts;
use crate::source_file::FileStamp;
use crate::sssd::{Scope, SssdRecording, SssdVerdict};
use crate::trusted_file::{self, Links, Owner};
use crate::uid_match::NamedUids;

/// Where `tlog-rs validate` writes the snapshot and NSS looks for it.
pub const DEFAULT_SNAPSHOT_PATH: &str = "/run/tlog-rs/policy.snapshot";

const MAGIC: &[u8; 16] = b"tlog-rs nss v2\n\0";
/// What every version's magic starts with.
const VERSION_PREFIX: &[u8] = b"tlog-rs nss v";
/// Upper bound on what a reader accepts (a real snapshot is a few KiB).
const MAX_LEN: u64 = 16 << 20;

/// The NSS module's questions, answered by a loaded [`Policy`] or a
/// [`Snapshot`] of it.
pub trait NssView {
    /// See [`Policy::lookup_needs`].
    fn lookup_needs(&self, query: Option<&[u8]>) -> LookupNeeds;
    /// See [`Policy::may_record`].
    fn may_record(&self, facts: &LoginFacts) -> bool;
    fn recorder(&self) -> &str;
    /// See [`Policy::selects_uid_by_name`].
    fn selects_uid_by_name(&self, uid: u32, resolve: &mut dyn FnMut(&str) -> Option<u32>) -> bool;
}

impl NssView for Policy {
    fn lookup_needs(&self, query: Option<&[u8]>) -> LookupNeeds {
        Policy::lookup_needs(self, query)
    }
    fn may_record(&self, facts: &LoginFacts) -> bool {
        Policy::may_record(self, facts)
    }
    fn recorder(&self) -> &str {
        Policy::recorder(self)
    }
    fn selects_uid_by_name(&self, uid: u32, resolve: &mut dyn FnMut(&str) -> Option<u32>) -> bool {
        Policy::selects_uid_by_name(self, uid, resolve)
    }
}

/// One policy.toml rule as NSS sees it on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NssRule {
    record: bool,
    all_users: bool,
    users: Vec<String>,
    groups: Vec<String>,
}

/// The NSS view of a policy (see the module comment).
#[derive(Debug, Default)]
pub struct Snapshot {
    policy_path: String,
    host: String,
    recorder: String,
    stamps: Vec<FileStamp>,
    by_name_only: bool,
    names: Vec<String>,
    groups: bool,
    uid_aliases: bool,
    selecting_users: Vec<String>,
    rules: Vec<NssRule>,
    /// sssd.conf's selection, asked when no policy.toml rule matches.
    sssd: Option<SssdRecording>,
    name_uids: NamedUids,
}

/// Why a snapshot was not used.
#[derive(Debug)]
pub enum SnapshotError {
    /// No snapshot, or not one this process may trust or use (not
    /// root-owned, built for another policy path or host, a source changed):
    /// parse the policy instead.
    Unusable(String),
    /// The file is there and trusted but cannot be decoded: fail secure.
    Corrupt(PolicyError),
}

impl Snapshot {
    /// The snapshot of `policy` (loaded from `policy_path`) for `host`, or
    /// None if the policy has sources a snapshot does not cover.
    pub fn of(policy: &Policy, policy_path: &str, host: &str) -> Option<Snapshot> {
        let config = policy.config();
        if config.freeipa.is_some() {
            return None;
        }
        let (by_name_only, names, groups, uid_aliases) = policy.prefilter_parts();
        let rules = config
            .rules
            .iter()
            .filter(|r| hosts_match(r, host) && service_matches(r, None))
            .map(|r| NssRule {
                record: r.action == Action::Record,
                all_users: r.all_users,
                users: r.users.clone(),
                groups: r.groups.clone(),
            })
            .collect();
        Some(Snapshot {
            policy_path: policy_path.to_string(),
            host: host.to_string(),
            recorder: policy.recorder().to_string(),
            stamps: policy.stamps().to_vec(),
            by_name_only,
            names: names.to_vec(),
            groups,
            uid_aliases,
            selecting_users: policy.selecting_names().users,
            rules,
            // The selection only: not the raw section or validate's warnings.
            sssd: policy.sssd().map(|s| SssdRecording {
                scope: s.scope,
                users: s.users.clone(),
                groups: s.groups.clone(),
                exclude_users: s.exclude_users.clone(),
                exclude_groups: s.exclude_groups.clone(),
                origin: s.origin.clone(),
                section: Default::default(),
                skipped: Vec::new(),
            }),
            name_uids: NamedUids::default(),
        })
    }

    /// Whether this snapshot answers for `policy_path` on `host` now (every
    /// source file unchanged).
    pub fn is_current(&self, policy_path: &str, host: &str) -> bool {
        self.policy_path == policy_path
            && self.host == host
            && self.stamps.iter().all(FileStamp::unchanged)
    }

    /// The encoded snapshot (format: MAGIC, fields, FNV-1a 64 checksum).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(MAGIC.to_vec());
        w.str(&self.policy_path);
        w.str(&self.host);
        w.str(&self.recorder);
        w.u32(self.stamps.len() as u32);
        for s in &self.stamps {
            w.bytes(s.path.as_os_str().as_encoded_bytes());
            match s.meta {
                None => w.0.push(0),
                Some((dev, ino, size, ms, mns, cs, cns)) => {
                    w.0.push(1);
                    for v in [dev, ino, size, ms as u64, mns as u64, cs as u64, cns as u64] {
                        w.0.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        w.flags(&[self.by_name_only, self.groups, self.uid_aliases]);
        w.strs(&self.names);
        w.strs(&self.selecting_users);
        w.u32(self.rules.len() as u32);
        for r in &self.rules {
            w.flags(&[r.record, r.all_users]);
            w.strs(&r.users);
            w.strs(&r.groups);
        }
        match &self.sssd {
            None => w.0.push(0),
            Some(s) => {
                w.0.push(match s.scope {
                    Scope::None => 1,
                    Scope::Some => 2,
                    Scope::All => 3,
                });
                w.str(&s.origin);
                for set in [&s.users, &s.groups, &s.exclude_users, &s.exclude_groups] {
                    let mut names: Vec<String> = set.iter().cloned().collect();
                    names.sort();
                    w.strs(&names);
                }
            }
        }
        let sum = fnv1a(&w.0);
        w.0.extend_from_slice(&sum.to_le_bytes());
        w.0
    }

    /// Decode `bytes`; `origin` names the file in errors.
    pub fn decode(bytes: &[u8], origin: &str) -> Result<Snapshot, PolicyError> {
        let bad = |what: &str| PolicyError::new(origin, None, format!("corrupt snapshot: {what}"));
        let body_len = bytes
            .len()
            .checked_sub(8)
            .filter(|&n| n >= MAGIC.len())
            .ok_or_else(|| bad("too short"))?;
        let (body, sum) = bytes.split_at(body_len);
        if !body.starts_with(MAGIC) {
            return Err(bad("not a tlog-rs NSS snapshot (or another version)"));
        }
        if sum != fnv1a(body).to_le_bytes() {
            return Err(bad("checksum mismatch"));
        }
        let mut r = Reader(&body[MAGIC.len()..]);
        let s = (|| {
            let policy_path = r.str()?;
            let host = r.str()?;
            let recorder = r.str()?;
            let n = r.count()?;
            let mut stamps = Vec::with_capacity(n);
            for _ in 0..n {
                let path = PathBuf::from(r.str()?);
                let meta = match r.byte()? {
                    0 => None,
                    1 => {
                        let mut v = [0u64; 7];
                        for x in &mut v {
                            *x = r.u64()?;
                        }
                        let i = |x: u64| x as i64;
                        Some((v[0], v[1], v[2], i(v[3]), i(v[4]), i(v[5]), i(v[6])))
                    }
                    _ => return None,
                };
                stamps.push(FileStamp { path, meta });
            }
            let [by_name_only, groups, uid_aliases] = r.flags()?;
            let names = r.strs()?;
            let selecting_users = r.strs()?;
            let n = r.count()?;
            let mut rules = Vec::with_capacity(n);
            for _ in 0..n {
                let [record, all_users] = r.flags()?;
                rules.push(NssRule {
                    record,
                    all_users,
                    users: r.strs()?,
                    groups: r.strs()?,
                });
            }
            let scope = match r.byte()? {
                0 => None,
                1 => Some(Scope::None),
                2 => Some(Scope::Some),
                3 => Some(Scope::All),
                _ => return None,
            };
            let sssd = match scope {
                None => None,
                Some(scope) => {
                    let origin = r.str()?;
                    let mut set = || Some(r.strs()?.into_iter().collect());
                    Some(SssdRecording {
                        scope,
                        users: set()?,
                        groups: set()?,
                        exclude_users: set()?,
                        exclude_groups: set()?,
                        origin,
                        section: Default::default(),
                        skipped: Vec::new(),
                    })
                }
            };
            r.0.is_empty().then_some(Snapshot {
                policy_path,
                host,
                recorder,
                stamps,
                by_name_only,
                names,
                groups,
                uid_aliases,
                selecting_users,
                rules,
                sssd,
                name_uids: NamedUids::default(),
            })
        })();
        s.ok_or_else(|| bad("malformed content"))
    }

    /// Read the snapshot at `path` for `policy_path` on `host`.
    pub fn load(path: &Path, policy_path: &str, host: &str) -> Result<Snapshot, SnapshotError> {
        Snapshot::read(path, policy_path, host).1
    }

    /// As [`Snapshot::load`], also giving the stamp of the file version read
    /// (missing if it could not be opened). Guest code's first lookup pays
    /// for every syscall here: open, one fstat (the trust check's, which
    /// also stamps), one read of the known length, close.
    pub fn read(
        path: &Path,
        policy_path: &str,
        host: &str,
    ) -> (FileStamp, Result<Snapshot, SnapshotError>) {
        let unusable = |why: String| SnapshotError::Unusable(format!("{}: {why}", path.display()));
        // Anyone else's snapshot is ignored, not trusted.
        let (mut file, meta) = match trusted_file::open(path, Owner::Uid(0), Links::Follow) {
            Ok(opened) => opened,
            Err(e) => return (FileStamp::missing(path), Err(unusable(e.to_string()))),
        };
        let stamp = FileStamp::of_open(path, &meta);
        if meta.len() > MAX_LEN {
            return (
                stamp,
                Err(unusable(format!("{} bytes is too large", meta.len()))),
            );
        }
        // The writer replaces the file by rename, never in place: the
        // length fstat gave is the length to read.
        let mut bytes = vec![0; meta.len() as usize];
        if let Err(e) = file.read_exact(&mut bytes) {
            return (stamp, Err(unusable(e.to_string())));
        }
        // Another version's snapshot (an upgrade, before the next rewrite) is
        // not damage: parse the policy rather than fail secure.
        if bytes.starts_with(VERSION_PREFIX) && !bytes.starts_with(MAGIC) {
            return (
                stamp,
                Err(unusable("written by another tlog-rs version".into())),
            );
        }
        let snap = match Snapshot::decode(&bytes, &path.display().to_string()) {
            Ok(s) => s,
            Err(e) => return (stamp, Err(SnapshotError::Corrupt(e))),
        };
        if !snap.is_current(policy_path, host) {
            return (stamp, Err(unusable("stale".into())));
        }
        (stamp, Ok(snap))
    }

    /// Write atomically (temporary file in the same directory, then rename);
    /// creates the directory (0755) if needed. Readable by whoever may read
    /// every source (their modes, at most 0644): the snapshot tells as much.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = path.parent().filter(|d| !d.exists()) {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)?;
            // The umask must not hide the snapshot from unprivileged lookups.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
        }
        // Readable only by whoever may read every source (sssd.conf is
        // normally 0600: unprivileged processes then parse, as before).
        let mode = std::iter::once(Path::new(&self.policy_path))
            .chain(
                self.stamps
                    .iter()
                    .filter(|s| s.meta.is_some())
                    .map(|s| s.path.as_path()),
            )
            .map(|p| fs::metadata(p).map_or(0o600, |m| m.mode() & 0o644))
            .fold(0o644, |a, b| a & b);
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let res = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)?;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            f.write_all(&self.encode())?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }
}

/// What [`refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// A current snapshot is in place.
    Written,
    /// The policy has a source a snapshot cannot hold (FreeIPA): any old
    /// snapshot is removed, NSS's fallback parses the policy.
    Removed,
}

/// The one writer of the snapshot: `tlog-rs validate` and `tlog-rs sync`
/// call it after the policy's inputs changed. On a write error the old file
/// is removed too: a stale one would be ignored anyway, a missing one costs
/// only the TOML parse.
pub fn refresh(
    policy: &Policy,
    policy_path: &str,
    host: &str,
    out: &Path,
) -> std::io::Result<Refreshed> {
    replace(Snapshot::of(policy, policy_path, host), out)
}

/// Write `snapshot` to `out`, or remove `out` when there is none.
fn replace(snapshot: Option<Snapshot>, out: &Path) -> std::io::Result<Refreshed> {
    let remove = || match fs::remove_file(out) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    match snapshot {
        Some(s) => s.write(out).map(|()| Refreshed::Written).inspect_err(|_| {
            let _ = remove();
        }),
        None => remove().map(|()| Refreshed::Removed),
    }
}

/// Write the snapshot unless a current one is there. pam_tlog calls this at
/// each login with the policy it loaded, so that the snapshot exists after a
/// reboot (/run is a tmpfs) and follows policy edits without an admin running
/// `tlog-rs validate`. None: the snapshot was current already.
///
/// Current means the trusted file holds exactly what this policy encodes
/// to: the encoding is deterministic and carries the stamps of the files the
/// policy was loaded from, which that load has just looked at. So one open
/// and one read, no decoding, no `stat` of the sources again.
pub fn ensure_current(
    policy: &Policy,
    policy_path: &str,
    host: &str,
    out: &Path,
) -> std::io::Result<Option<Refreshed>> {
    let snapshot = Snapshot::of(policy, policy_path, host);
    if let Some(s) = &snapshot {
        if holds(out, &s.encode()) {
            return Ok(None);
        }
    }
    replace(snapshot, out).map(Some)
}

/// Is `path` a root-owned file (as NSS trusts it) holding exactly `bytes`?
fn holds(path: &Path, bytes: &[u8]) -> bool {
    let Ok((file, meta)) = trusted_file::open(path, Owner::Uid(0), Links::Follow) else {
        return false;
    };
    if meta.len() != bytes.len() as u64 {
        return false;
    }
    let mut have = Vec::with_capacity(bytes.len());
    file.take(bytes.len() as u64 + 1)
        .read_to_end(&mut have)
        .is_ok_and(|_| have == bytes)
}

impl NssView for Snapshot {
    /// Same pre-check as `Policy::lookup_needs`, from the stored parts.
    fn lookup_needs(&self, query: Option<&[u8]>) -> LookupNeeds {
        let name_may_match = match query {
            Some(q) if self.by_name_only => {
                let short = q.split(|b| *b == b'@').next().unwrap_or(q);
                self.names.iter().any(|n| {
                    n.as_bytes().eq_ignore_ascii_case(q) || n.as_bytes().eq_ignore_ascii_case(short)
                })
            }
            _ => true,
        };
        LookupNeeds {
            name_may_match,
            uid_aliases: self.uid_aliases,
            groups: self.groups,
        }
    }

    /// policy.toml's first-match rule for an unknown service on this host
    /// (the rules kept are those that can apply; see `Snapshot::of`), else
    /// sssd.conf's verdict, as `Policy::may_record` decides.
    fn may_record(&self, facts: &LoginFacts) -> bool {
        let in_groups = |r: &NssRule| {
            facts
                .primary_group
                .iter()
                .chain(facts.groups.iter())
                .any(|g| r.groups.contains(g))
        };
        match self
            .rules
            .iter()
            .find(|r| r.all_users || r.users.contains(&facts.user) || in_groups(r))
        {
            Some(r) => r.record,
            None => self
                .sssd
                .as_ref()
                .is_some_and(|s| matches!(s.evaluate(facts), SssdVerdict::Record(_))),
        }
    }

    fn recorder(&self) -> &str {
        &self.recorder
    }

    fn selects_uid_by_name(&self, uid: u32, resolve: &mut dyn FnMut(&str) -> Option<u32>) -> bool {
        self.name_uids.contains(uid, &self.selecting_users, resolve)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn strs(&mut self, v: &[String]) {
        self.u32(v.len() as u32);
        for s in v {
            self.str(s);
        }
    }
    fn flags(&mut self, f: &[bool]) {
        self.0.extend(f.iter().map(|&b| u8::from(b)));
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        (n <= self.0.len()).then(|| {
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        })
    }
    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
    /// An element count, bounded by the bytes left (each element >= 1 byte).
    fn count(&mut self) -> Option<usize> {
        let n = self.u32()? as usize;
        (n <= self.0.len()).then_some(n)
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn strs(&mut self) -> Option<Vec<String>> {
        let n = self.count()?;
        (0..n).map(|_| self.str()).collect()
    }
    fn flags<const N: usize>(&mut self) -> Option<[bool; N]> {
        let b = self.take(N)?;
        let mut out = [false; N];
        for (o, &v) in out.iter_mut().zip(b) {
            *o = match v {
                0 => false,
                1 => true,
                _ => return None,
            };
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
recorder = "/usr/bin/tlog-rs-rec-session"
[[rule]]
name = "ops exempt on db hosts"
groups = ["ops"]
hosts = ["db*"]
action = "exempt"
[[rule]]
name = "ssh only exempt"
users = ["carol"]
services = ["sshd"]
action = "exempt"
[[rule]]
name = "dbas"
groups = ["dbas"]
[[rule]]
name = "named"
users = ["alice", "carol", "ALICE"]
[[rule]]
name = "web only"
users = ["dave"]
hosts = ["web1"]
[[rule]]
name = "erin exempt"
users = ["erin"]
action = "exempt"
[[rule]]
name = "everyone"
all_users = true
hosts = ["lab*"]
"#;

    fn facts(user: &str, groups: &[&str], host: &str) -> LoginFacts {
        LoginFacts {
            user: user.into(),
            uid: 1000,
            gid: 1000,
            primary_group: groups.first().map(|g| g.to_string()),
            groups: groups.iter().skip(1).map(|g| g.to_string()).collect(),
            host: host.into(),
            service: None,
            passwd_shell: "/bin/bash".into(),
        }
    }

    #[test]
    fn decides_like_the_policy_after_a_round_trip() {
        let p = Policy::from_toml_str(POLICY, "t").unwrap();
        let users = ["alice", "Alice", "bob", "carol", "dave", "erin", "zed"];
        let groups: [&[&str]; 5] = [
            &[],
            &["ops"],
            &["users", "dbas"],
            &["dbas", "ops"],
            &["erin"],
        ];
        for host in ["db1", "web1", "web1.example.com", "lab3", "other", ""] {
            let s = Snapshot::of(&p, "t", host).unwrap();
            let s = Snapshot::decode(&s.encode(), "snap").unwrap();
            assert!(s.is_current("t", host));
            assert!(!s.is_current("t", "elsewhere") || host == "elsewhere");
            for u in users {
                for g in groups {
                    let f = facts(u, g, host);
                    assert_eq!(
                        NssView::may_record(&s, &f),
                        p.may_record(&f),
                        "{u} {g:?} on {host:?}"
                    );
                }
                for q in [u, "alice@EXAMPLE", "nobody"] {
                    assert_eq!(
                        NssView::lookup_needs(&s, Some(q.as_bytes())),
                        p.lookup_needs(Some(q.as_bytes()))
                    );
                }
            }
            let mut resolve = |n: &str| (n == "alice").then_some(2001);
            assert!(NssView::selects_uid_by_name(&s, 2001, &mut resolve));
            assert_eq!(NssView::recorder(&s), p.recorder());
        }
        let by_user =
            Policy::from_toml_str("[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n", "t").unwrap();
        let s = Snapshot::of(&by_user, "t", "h").unwrap();
        for q in ["alice", "ALICE", "bob", "alice@x"] {
            assert_eq!(
                NssView::lookup_needs(&s, Some(q.as_bytes())),
                by_user.lookup_needs(Some(q.as_bytes()))
            );
        }
    }

    /// With an sssd.conf source (each scope), under policy.toml rules that
    /// decide first: the snapshot decides as the policy does, and is as
    /// readable as sssd.conf.
    #[test]
    fn holds_the_sssd_selection_and_decides_like_the_policy() {
        let dir = std::env::temp_dir().join(format!("tlog-snap-sssd-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("sssd.conf");
        let pol = dir.join("policy.toml");
        let path = pol.display().to_string();
        let toml = format!(
            "[sssd]\nconf = {:?}\n[[rule]]\nname = \"erin exempt\"\nusers = [\"erin\"]\naction = \"exempt\"\n\
             [[rule]]\nname = \"dave\"\nusers = [\"dave\"]\n",
            conf.display().to_string()
        );
        fs::write(&pol, toml).unwrap();
        let users = ["alice", "bob", "carol", "dave", "erin", "zed"];
        let groups: [&[&str]; 4] = [&[], &["ops"], &["users", "dbas"], &["dbas", "ops"]];
        for sssd in [
            "[session_recording]\nscope = some\nusers = alice, erin\ngroups = dbas\n",
            "[session_recording]\nscope = all\nexclude_users = bob, dave\nexclude_groups = ops\n",
            "[session_recording]\nscope = none\n",
        ] {
            fs::write(&conf, sssd).unwrap();
            fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).unwrap();
            let p = Policy::load(&pol).unwrap();
            let s = Snapshot::of(&p, &path, "h").expect("an sssd source is held");
            let s = Snapshot::decode(&s.encode(), "snap").unwrap();
            assert!(s.is_current(&path, "h"));
            for u in users {
                for g in groups {
                    let f = facts(u, g, "h");
                    assert_eq!(
                        NssView::may_record(&s, &f),
                        p.may_record(&f),
                        "{sssd}: {u} {g:?}"
                    );
                }
                for q in [u, "nobody"] {
                    assert_eq!(
                        NssView::lookup_needs(&s, Some(q.as_bytes())),
                        p.lookup_needs(Some(q.as_bytes())),
                        "{sssd}: {q}"
                    );
                }
            }
            for uid in [2001, 2002, 2003] {
                let mut resolve =
                    |n: &str| users.iter().position(|u| *u == n).map(|i| 2001 + i as u32);
                let mut resolve2 = resolve;
                assert_eq!(
                    NssView::selects_uid_by_name(&s, uid, &mut resolve),
                    p.selects_uid_by_name(uid, &mut resolve2),
                    "{sssd}: uid {uid}"
                );
            }
            let snap = dir.join("policy.snapshot");
            Snapshot::of(&p, &path, "h").unwrap().write(&snap).unwrap();
            let mode = fs::metadata(&snap).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o600, "as readable as sssd.conf");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    /// `ensure_current` (pam_tlog, each login) leaves a snapshot that holds
    /// what the policy encodes to, from another load of the same files too,
    /// and rewrites a missing, stale or foreign-owned one.
    #[test]
    fn ensure_current_rewrites_only_what_differs() {
        let dir = std::env::temp_dir().join(format!("tlog-snap-ensure-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let pol = dir.join("policy.toml");
        let path = pol.display().to_string();
        let snap = dir.join("policy.snapshot");
        fs::write(&pol, POLICY).unwrap();
        let load = || Policy::load(&pol).unwrap();
        let ensure = |p: &Policy| ensure_current(p, &path, "h", &snap).unwrap();
        assert_eq!(ensure(&load()), Some(Refreshed::Written), "missing");
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let version = FileStamp::of(&snap).unwrap();
            assert_eq!(ensure(&load()), None, "current, from another load");
            assert!(version.unchanged(), "not rewritten");
            std::os::unix::fs::chown(&snap, Some(1), Some(1)).unwrap();
            assert_eq!(ensure(&load()), Some(Refreshed::Written), "not root's");
            assert_eq!(ensure(&load()), None);
        }
        fs::write(&pol, format!("{POLICY}\n# edited\n")).unwrap();
        assert_eq!(ensure(&load()), Some(Refreshed::Written), "stale");
        let s = Snapshot::decode(&fs::read(&snap).unwrap(), "s").unwrap();
        assert!(s.is_current(&path, "h"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_damage_is_an_error() {
        let p = Policy::from_toml_str(POLICY, "t").unwrap();
        let bytes = Snapshot::of(&p, "t", "h").unwrap().encode();
        for n in 0..bytes.len() {
            assert!(
                Snapshot::decode(&bytes[..n], "s").is_err(),
                "truncated at {n}"
            );
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            assert!(Snapshot::decode(&b, "s").is_err(), "flipped byte {i}");
        }
        let e = Snapshot::decode(b"garbage", "/run/x").unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Invalid);
    }

    #[test]
    fn stale_when_a_source_changes() {
        let dir = std::env::temp_dir().join(format!("tlog-snap-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let pol = dir.join("policy.toml");
        fs::write(&pol, "[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n").unwrap();
        let p = Policy::load(&pol).unwrap();
        let path = pol.display().to_string();
        let s = Snapshot::of(&p, &path, "h").unwrap();
        let snap = dir.join("policy.snapshot");
        s.write(&snap).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&snap), mode(&pol) & 0o644);
        fs::set_permissions(&pol, fs::Permissions::from_mode(0o600)).unwrap();
        let p = Policy::load(&pol).unwrap();
        let s = Snapshot::of(&p, &path, "h").unwrap();
        s.write(&snap).unwrap();
        assert_eq!(mode(&snap), 0o600, "as private as policy.toml");
        let got = Snapshot::load(&snap, &path, "h");
        // SAFETY: geteuid has no preconditions and cannot fail.
        // The file is root-owned (trusted) only when the tests run as root.
        if unsafe { libc::geteuid() } == 0 {
            assert!(got.is_ok(), "{got:?}");
            assert!(matches!(
                Snapshot::load(&snap, "/etc/other.toml", "h"),
                Err(SnapshotError::Unusable(_))
            ));
        }
        fs::write(&pol, "[[rule]]\nname = \"b\"\nusers = [\"bob\"]\n").unwrap();
        assert!(!s.is_current(&path, "h"));
        assert!(matches!(
            Snapshot::load(&snap, &path, "h"),
            Err(SnapshotError::Unusable(_))
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    /// `read` stamps the version it read: a corrupt snapshot keeps failing
    /// until it is replaced, and the replacement is noticed.
    #[test]
    fn read_stamps_the_file_version_it_read() {
        let dir = std::env::temp_dir().join(format!("tlog-snap-read-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let pol = dir.join("policy.toml");
        let path = pol.display().to_string();
        let snap = dir.join("policy.snapshot");
        let (stamp, got) = Snapshot::read(&snap, &path, "h");
        assert_eq!(stamp.meta, None, "missing");
        assert!(matches!(got, Err(SnapshotError::Unusable(_))), "{got:?}");
        fs::write(&pol, "[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n").unwrap();
        let p = Policy::load(&pol).unwrap();
        Snapshot::of(&p, &path, "h").unwrap().write(&snap).unwrap();
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let (stamp, got) = Snapshot::read(&snap, &path, "h");
            assert!(got.is_ok(), "{got:?}");
            assert_eq!(stamp, FileStamp::of(&snap).unwrap());
            let mut bytes = fs::read(&snap).unwrap();
            bytes[20] ^= 1;
            let tmp = dir.join("corrupt");
            fs::write(&tmp, &bytes).unwrap();
            fs::rename(&tmp, &snap).unwrap();
            let (stamp, got) = Snapshot::read(&snap, &path, "h");
            assert!(matches!(got, Err(SnapshotError::Corrupt(_))), "{got:?}");
            assert!(stamp.unchanged());
            // Another format version: not used, and not corrupt either.
            let mut other = fs::read(&snap).unwrap();
            other[13] = b'9';
            fs::write(&tmp, &other).unwrap();
            fs::rename(&tmp, &snap).unwrap();
            let (_, got) = Snapshot::read(&snap, &path, "h");
            assert!(matches!(got, Err(SnapshotError::Unusable(_))), "{got:?}");
            Snapshot::of(&p, &path, "h").unwrap().write(&snap).unwrap();
            assert!(!stamp.unchanged(), "the replacement is a new version");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn refresh_writes_a_plain_policy_and_removes_one_it_cannot_hold() {
        let dir = std::env::temp_dir().join(format!("tlog-snap-refresh-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let pol = dir.join("policy.toml");
        let path = pol.display().to_string();
        let snap = dir.join("sub").join("policy.snapshot");
        fs::write(&pol, "[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n").unwrap();
        let p = Policy::load(&pol).unwrap();
        assert_eq!(refresh(&p, &path, "h", &snap).unwrap(), Refreshed::Written);
        let s = Snapshot::decode(&fs::read(&snap).unwrap(), "s").unwrap();
        assert!(s.is_current(&path, "h"));
        assert!(NssView::may_record(&s, &facts("alice", &[], "h")));
        assert!(!NssView::may_record(&s, &facts("bob", &[], "h")));
        // What `tlog-rs sync` meets: a FreeIPA source, which no snapshot holds.
        let cache = dir.join("ipa.json");
        let file = crate::freeipa::CacheFile {
            format: crate::freeipa::CACHE_FORMAT.into(),
            version: crate::freeipa::CACHE_VERSION,
            host: "h".into(),
            synced_at: 1_700_000_000,
            server: "ldap://ipa.example.test".into(),
            base_dn: "dc=example,dc=test".into(),
            defaults: Default::default(),
            rules: vec![],
            user_groups: Default::default(),
            group_closure: Default::default(),
            skipped: vec![],
        };
        fs::write(&cache, serde_json::to_string(&file).unwrap()).unwrap();
        let toml = format!(
            "[freeipa]\ncache = {:?}\n[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n",
            cache.display().to_string()
        );
        fs::write(&pol, toml).unwrap();
        let p = Policy::load(&pol).unwrap();
        assert!(p.config().freeipa.is_some());
        assert_eq!(refresh(&p, &path, "h", &snap).unwrap(), Refreshed::Removed);
        assert!(
            !snap.exists(),
            "an old snapshot must not outlive a FreeIPA source"
        );
        assert_eq!(refresh(&p, &path, "h", &snap).unwrap(), Refreshed::Removed);
        let _ = fs::remove_dir_all(&dir);
    }
}
