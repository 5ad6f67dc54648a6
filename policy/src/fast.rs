//! Name sets and maps with a fast hasher, shared by the policy engine and
//! the sssd.conf reader (kept apart so neither imports the other).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: names are short and come from the admin's configuration, so a
/// fast non-keyed hash is the right trade-off for NSS-speed decisions.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type FastMap<V> = HashMap<Box<str>, V, BuildHasherDefault<Fnv>>;
/// A set of names with the fast hasher.
pub type FastSet = HashSet<String, BuildHasherDefault<Fnv>>;
