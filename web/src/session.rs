//! Server-side sessions (the cookie holds only a random token) and the
//! login rate limits.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tlog_rs_index::store::Scope;

use crate::acl::Access;

/// Idle time after which a session ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login whatever happens.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
pub const COOKIE: &str = "tlogrs_session";
/// Pre-login cookie: the login form's CSRF token (double submit).
pub const LOGIN_COOKIE: &str = "tlogrs_login";

/// 32 random bytes from the kernel, hex.
pub fn token() -> String {
    let mut b = [0u8; 32];
    // getrandom(2) only fails on kernels older than 3.17 without /dev/urandom;
    // a zero token would then be guessable, so refuse to go on.
    if getrandom::getrandom(&mut b).is_err() {
        std::process::abort();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Constant-time comparison of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[derive(Debug, Clone)]
pub struct Session {
    /// The canonical user PAM returned.
    pub user: String,
    /// Sees every recording and the access log (`[web] auditors_group`).
    pub auditor: bool,
    /// What a non-auditor may see: own recordings and any scoped auditor
    /// groups' scopes (`[[web.auditors]]`); None for auditors.
    pub scope: Option<Scope>,
    /// May purge the recordings they see.
    pub can_purge: bool,
    pub csrf: String,
    /// Recordings (host, rec) whose playback this session started (and
    /// the access log holds): their segments are served without a log row each.
    pub playing: HashSet<(String, String)>,
    created: Instant,
    seen: Instant,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn create(&self, user: String, access: Access) -> String {
        let t = token();
        let now = Instant::now();
        let s = Session {
            user,
            auditor: access.auditor,
            scope: access.scope,
            can_purge: access.can_purge,
            csrf: token(),
            playing: HashSet::new(),
            created: now,
            seen: now,
        };
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, s| live(s, now));
        m.insert(t.clone(), s);
        t
    }

    /// The live session of this token, its idle timer restarted.
    pub fn get(&self, token: &str) -> Option<Session> {
        let now = Instant::now();
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let s = m.get_mut(token)?;
        if !live(s, now) {
            m.remove(token);
            return None;
        }
        s.seen = now;
        Some(s.clone())
    }

    /// Whether the session is still live, its idle timer left alone: a
    /// follow left open in a tab does not keep the session alive.
    pub fn alive(&self, token: &str) -> bool {
        let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.get(token).is_some_and(|s| live(s, Instant::now()))
    }

    pub fn start_playing(&self, token: &str, host: &str, rec: &str) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = m.get_mut(token) {
            s.playing.insert((host.to_string(), rec.to_string()));
        }
    }

    pub fn remove(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.seen) < IDLE && now.duration_since(s.created) < ABSOLUTE
}

type Failures<K> = HashMap<K, Vec<Instant>>;

/// Failed logins per client address and per user name in a sliding window.
pub struct Limiter {
    window: Duration,
    per_ip: usize,
    per_user: usize,
    fails: Mutex<(Failures<IpAddr>, Failures<String>)>,
}

impl Limiter {
    pub fn new(window: Duration, per_ip: usize, per_user: usize) -> Self {
        Limiter {
            window,
            per_ip,
            per_user,
            fails: Mutex::default(),
        }
    }

    /// May this address try this user now?
    pub fn allowed(&self, ip: IpAddr, user: &str) -> bool {
        let now = Instant::now();
        let mut g = self.fails.lock().unwrap_or_else(|e| e.into_inner());
        let (ips, users) = &mut *g;
        let w = self.window;
        let prune = |v: &mut Vec<Instant>| v.retain(|t| now.duration_since(*t) < w);
        ips.values_mut().for_each(prune);
        users.values_mut().for_each(prune);
        ips.retain(|_, v| !v.is_empty());
        users.retain(|_, v| !v.is_empty());
        ips.get(&ip).map_or(0, Vec::len) < self.per_ip
            && users.get(user).map_or(0, Vec::len) < self.per_user
    }

    pub fn failed(&self, ip: IpAddr, user: &str) {
        let now = Instant::now();
        let mut g = self.fails.lock().unwrap_or_else(|e| e.into_inner());
        g.0.entry(ip).or_default().push(now);
        g.1.entry(user.to_string()).or_default().push(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_fully() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..63]));
    }

    #[test]
    fn sessions_end_on_logout() {
        let s = Sessions::default();
        let t = s.create(
            "alice".into(),
            Access {
                auditor: false,
                scope: Some(Scope::default()),
                can_purge: false,
            },
        );
        assert_eq!(s.get(&t).unwrap().user, "alice");
        s.start_playing(&t, "h", "r");
        assert!(s
            .get(&t)
            .unwrap()
            .playing
            .contains(&("h".into(), "r".into())));
        assert!(s.get("nope").is_none());
        s.remove(&t);
        assert!(s.get(&t).is_none());
    }

    #[test]
    fn alive_leaves_the_idle_timer_alone() {
        let s = Sessions::default();
        let t = s.create(
            "alice".into(),
            Access {
                auditor: false,
                scope: Some(Scope::default()),
                can_purge: false,
            },
        );
        let Some(old) = Instant::now().checked_sub(IDLE / 2) else {
            return;
        };
        s.map.lock().unwrap().get_mut(&t).unwrap().seen = old;
        assert!(s.alive(&t));
        assert_eq!(s.map.lock().unwrap()[&t].seen, old);
        assert!(!s.alive("nope"));
        s.remove(&t);
        assert!(!s.alive(&t));
    }

    #[test]
    fn limits_per_ip_and_per_user() {
        let l = Limiter::new(Duration::from_secs(600), 3, 2);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        l.failed(a, "alice");
        assert!(l.allowed(a, "alice"));
        l.failed(b, "alice");
        // alice has 2 failures: blocked from any address.
        assert!(!l.allowed(a, "alice"));
        assert!(!l.allowed("192.0.2.9".parse().unwrap(), "alice"));
        assert!(l.allowed(a, "bob"));
        l.failed(a, "carol");
        l.failed(a, "dave");
        // a has 3 failures: blocked for every user.
        assert!(!l.allowed(a, "erin"));
        assert!(l.allowed(b, "erin"));
    }
}
