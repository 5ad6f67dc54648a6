//! A small per-process cache of recent answers (like SSSD's memcache or
//! nscd, but tiny and short-lived): `ls -l`, `ps` and login programs ask for
//! the same few users over and over, and a miss costs a nested passwd lookup
//! plus, for group-based policies, a walk over the user's groups.
//!
//! Entries live `TTL` and are dropped when the policy is re-read. A stale
//! answer can never give an unrecorded session: pam_tlog decides afresh at
//! each login and refuses (fail=closed) a recorded user whose shell is not
//! the recorder.

use std::time::{Duration, Instant};

use crate::sys::{Key, PwEntry};

pub const TTL: Duration = Duration::from_secs(5);
pub const CAPACITY: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnedKey {
    Name(Vec<u8>),
    Uid(u32),
}

impl OwnedKey {
    fn of(key: Key<'_>) -> OwnedKey {
        match key {
            Key::Name(n) => OwnedKey::Name(n.to_bytes().to_vec()),
            Key::Uid(u) => OwnedKey::Uid(u),
        }
    }
    fn is(&self, key: Key<'_>) -> bool {
        match (self, key) {
            (OwnedKey::Name(a), Key::Name(b)) => a.as_slice() == b.to_bytes(),
            (OwnedKey::Uid(a), Key::Uid(b)) => *a == b,
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Entry {
    key: OwnedKey,
    at: Instant,
    answer: Option<PwEntry>,
}

#[derive(Debug)]
pub struct AnswerCache {
    entries: Vec<Entry>,
    /// Policy generation (reload count) the entries were computed with.
    generation: u64,
}

impl AnswerCache {
    pub const fn new() -> AnswerCache {
        AnswerCache {
            entries: Vec::new(),
            generation: 0,
        }
    }

    /// The cached answer for `key`: Some(None) = cached "not ours".
    pub fn get(&mut self, key: Key<'_>, now: Instant, generation: u64) -> Option<Option<PwEntry>> {
        if generation != self.generation {
            self.entries.clear();
            self.generation = generation;
            return None;
        }
        let e = self.entries.iter().find(|e| e.key.is(key))?;
        (now.saturating_duration_since(e.at) < TTL).then(|| e.answer.clone())
    }

    pub fn put(&mut self, key: Key<'_>, now: Instant, generation: u64, answer: Option<PwEntry>) {
        if generation != self.generation {
            self.entries.clear();
            self.generation = generation;
        }
        self.entries
            .retain(|e| !e.key.is(key) && now.saturating_duration_since(e.at) < TTL);
        if self.entries.len() >= CAPACITY {
            // Oldest first: entries are appended in time order.
            self.entries.remove(0);
        }
        self.entries.push(Entry {
            key: OwnedKey::of(key),
            at: now,
            answer,
        });
    }
}

impl Default for AnswerCache {
    fn default() -> Self {
        AnswerCache::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(name: &str) -> PwEntry {
        PwEntry {
            name: name.into(),
            passwd: b"x".to_vec(),
            uid: 1,
            gid: 1,
            gecos: Vec::new(),
            dir: b"/".to_vec(),
            shell: b"/rec".to_vec(),
        }
    }

    #[test]
    fn hits_expire_and_policy_reloads_invalidate() {
        let mut c = AnswerCache::new();
        let t0 = Instant::now();
        let alice = Key::Name(c"alice");
        assert_eq!(c.get(alice, t0, 0), None);
        c.put(alice, t0, 0, Some(pw("alice")));
        c.put(Key::Uid(7), t0, 0, None);
        assert_eq!(
            c.get(alice, t0 + Duration::from_secs(1), 0),
            Some(Some(pw("alice")))
        );
        assert_eq!(c.get(Key::Uid(7), t0, 0), Some(None));
        assert_eq!(c.get(Key::Name(c"bob"), t0, 0), None);
        assert_eq!(c.get(alice, t0 + TTL, 0), None, "expired");
        assert_eq!(c.get(alice, t0, 1), None, "new policy generation");
        assert_eq!(c.get(Key::Uid(7), t0, 1), None);
    }

    #[test]
    fn capacity_is_bounded() {
        let mut c = AnswerCache::new();
        let t0 = Instant::now();
        for uid in 0..(CAPACITY as u32 * 3) {
            c.put(Key::Uid(uid), t0, 0, None);
        }
        assert_eq!(c.entries.len(), CAPACITY);
        assert_eq!(c.get(Key::Uid(0), t0, 0), None);
        assert_eq!(c.get(Key::Uid(CAPACITY as u32 * 3 - 1), t0, 0), Some(None));
    }
}
