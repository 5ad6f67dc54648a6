//! Which audit events belong to which recording.
//!
//! * **By `ses`** when the recording has a usable audit session (pam_loginuid
//!   ran): events of the same host and `ses` from shortly before the
//!   recording starts (the login's own records) to shortly after it ends (or
//!   without end while no end entry was seen; `ses` is unique per boot, the
//!   window only keeps a reused number after a reboot apart).
//! * **By host + user + time** otherwise: events of the same host within the
//!   same span whose auid is the user's uid or whose account is the user.
//! * **Authentication** before the session: USER_AUTH/ACCT/ERR and login
//!   events of the user (account or auid) on the host in the
//!   [`AUTH_BEFORE_MS`] before the start; failed attempts are counted
//!   ([`failed_attempts`]).
//!
//! A recording's correlation is computed from scratch whenever it or an
//! event near it changes, so the result does not depend on whether events
//! or recordings were indexed first.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::store::{Correlation, EventFilter, Join, RecFacts, Role};
use super::{AuditEvent, Kind};
use crate::store::{Result, Store};

/// The login's records (USER_START, LOGIN, ...) come just before the
/// recorder's start entry.
pub const SESSION_BEFORE_MS: i64 = 10_000;
/// The exit of the last processes and USER_END come just after its end.
pub const SESSION_AFTER_MS: i64 = 10_000;
/// Authentication events this long before a session are shown with it.
pub const AUTH_BEFORE_MS: i64 = 600_000;
/// "No end yet": far in the future, without overflowing additions.
const OPEN_END_MS: i64 = i64::MAX / 4;

const AUTH_KINDS: &[Kind] = &[Kind::Auth, Kind::Login];

/// What changed during an indexing run.
#[derive(Debug, Default)]
pub struct Touched {
    recs: HashSet<i64>,
    /// Per host: the earliest and latest new event.
    hosts: HashMap<String, (i64, i64)>,
}

impl Touched {
    pub fn recording(&mut self, key: i64) {
        self.recs.insert(key);
    }

    pub fn event(&mut self, e: &AuditEvent) {
        let r = self.hosts.entry(e.host.clone()).or_insert((e.t_ms, e.t_ms));
        r.0 = r.0.min(e.t_ms);
        r.1 = r.1.max(e.t_ms);
    }
}

fn usable_ses(s: Option<u32>) -> Option<u32> {
    s.filter(|&s| s != 0 && s != u32::MAX)
}

fn same_user(r: &RecFacts, e: &AuditEvent) -> bool {
    (r.uid.is_some() && e.auid == r.uid)
        || (r.user.is_some() && e.acct.as_deref() == r.user.as_deref())
}

/// The correlation of one recording; None if it has no start time yet.
pub fn correlate(store: &mut dyn Store, key: i64) -> Result<Option<Correlation>> {
    let a = store.audit()?;
    let Some(r) = a.rec_facts(key)? else {
        return Ok(None);
    };
    let Some(start) = r.start_ms else {
        return Ok(None);
    };
    let end = if r.has_end {
        r.end_ms.unwrap_or(start).max(start)
    } else {
        OPEN_END_MS
    };
    let span = |ses| EventFilter {
        host: &r.host,
        from_ms: start - SESSION_BEFORE_MS,
        to_ms: end.saturating_add(SESSION_AFTER_MS),
        ses,
        kinds: &[],
    };
    let (join, session) = match usable_ses(r.session) {
        Some(s) => (Join::Ses, a.audit_event_keys(&span(Some(s)))?),
        None => {
            let mut v = a.audit_events(&span(None))?;
            v.retain(|(_, e)| same_user(&r, e));
            (Join::HostUserTime, v.into_iter().map(|(k, _)| k).collect())
        }
    };
    let linked: HashSet<i64> = session.iter().copied().collect();
    let mut auth = a.audit_events(&EventFilter {
        host: &r.host,
        from_ms: start - AUTH_BEFORE_MS,
        to_ms: start,
        ses: None,
        kinds: AUTH_KINDS,
    })?;
    auth.retain(|(k, e)| !linked.contains(k) && same_user(&r, e));
    let auth_failures = failed_attempts(auth.iter().map(|(_, e)| e));
    let mut links: Vec<(i64, Role)> = session.iter().map(|k| (*k, Role::Session)).collect();
    links.extend(auth.iter().map(|(k, _)| (*k, Role::Auth)));
    Ok(Some(Correlation {
        join,
        links,
        auth_failures,
    }))
}

/// Failed authentication attempts among `events`. A daemon that audits
/// itself (Debian's sshd) writes a failed USER_LOGIN for each attempt PAM
/// already reported as a failed USER_AUTH: per process, the larger of the
/// two counts is the number of attempts (a failed public key has only the
/// daemon's record).
pub fn failed_attempts<'a>(events: impl Iterator<Item = &'a AuditEvent>) -> u32 {
    let mut by_pid: HashMap<i64, [u32; 2]> = HashMap::new();
    let mut without_pid = 0;
    for e in events.filter(|e| e.failed()) {
        let Some(pid) = e.pid else {
            without_pid += 1;
            continue;
        };
        let n = by_pid.entry(pid).or_default();
        n[usize::from(e.kind == Kind::Login)] += 1;
    }
    without_pid
        + by_pid
            .values()
            .map(|[auth, login]| *auth.max(login))
            .sum::<u32>()
}

/// Correlate every recording that changed or has new events near it; the
/// number of recordings correlated.
pub fn run(store: &mut dyn Store, t: &Touched) -> Result<u64> {
    if t.hosts.is_empty() && store.audit().is_err() {
        // A backend without audit tables, and no audit input: nothing to do.
        return Ok(0);
    }
    let mut keys: BTreeSet<i64> = t.recs.iter().copied().collect();
    for (host, (lo, hi)) in &t.hosts {
        keys.extend(store.audit()?.recordings_near(
            host,
            *lo,
            *hi,
            AUTH_BEFORE_MS.max(SESSION_BEFORE_MS),
            SESSION_AFTER_MS,
        )?);
    }
    let mut n = 0;
    for key in keys {
        let Some(c) = correlate(store, key)? else {
            continue;
        };
        store.begin()?;
        store.audit()?.set_correlation(key, &c)?;
        store.commit()?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: Kind, pid: Option<i64>) -> AuditEvent {
        AuditEvent {
            kind,
            pid,
            res: Some("failed".into()),
            ..AuditEvent::default()
        }
    }

    #[test]
    fn a_self_auditing_daemon_counts_each_attempt_once() {
        let sshd = |kind| failure(kind, Some(7));
        // Two wrong passwords: PAM's USER_AUTH and sshd's USER_LOGIN each.
        let two_passwords = [
            sshd(Kind::Auth),
            sshd(Kind::Login),
            sshd(Kind::Auth),
            sshd(Kind::Login),
        ];
        assert_eq!(failed_attempts(two_passwords.iter()), 2);
        // A refused key has only sshd's record; another process counts apart.
        let mixed = [
            sshd(Kind::Auth),
            sshd(Kind::Login),
            sshd(Kind::Login),
            failure(Kind::Auth, Some(8)),
            failure(Kind::Auth, None),
        ];
        assert_eq!(failed_attempts(mixed.iter()), 4);
        let mut ok = sshd(Kind::Auth);
        ok.res = Some("success".into());
        assert_eq!(failed_attempts([ok].iter()), 0);
    }
}
