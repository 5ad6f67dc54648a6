//! Reload the policy only when one of its files changed.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::engine::Policy;
use crate::error::PolicyError;
use crate::source_file::FileStamp;

/// Re-checks the policy file and every included file by (dev, inode, size,
/// mtime, ctime); re-parses only when one changed. A failed load is cached
/// too (with the stamps of what it read), so a broken policy is not
/// re-parsed on every call either.
pub struct PolicyCache {
    path: PathBuf,
    state: Option<(Result<Policy, PolicyError>, Vec<FileStamp>)>,
    loads: u64,
}

impl PolicyCache {
    pub fn new(path: PathBuf) -> Self {
        PolicyCache {
            path,
            state: None,
            loads: 0,
        }
    }

    /// The current policy (or why it cannot be used).
    pub fn get(&mut self) -> Result<&Policy, &PolicyError> {
        self.get_checked(true)
    }

    /// As `get`; with `recheck` false, a loaded policy is taken as it is,
    /// without looking at its files again (a caller that already did, moments
    /// ago, for the same request).
    pub fn get_checked(&mut self, recheck: bool) -> Result<&Policy, &PolicyError> {
        let fresh = match &self.state {
            Some((_, stamps)) => !recheck || stamps.iter().all(FileStamp::unchanged),
            None => false,
        };
        if !fresh {
            self.state = None;
        }
        let (res, _) = self.state.get_or_insert_with(|| {
            let (res, stamps) = Policy::load_stamped(&self.path);
            self.loads += 1;
            (res.map_err(|mut e| e.remove(0)), stamps)
        });
        if let Ok(p) = res {
            p.refresh_staleness(SystemTime::now());
        }
        res.as_ref()
    }

    /// How many times the policy was re-parsed after the first load.
    pub fn reloads(&self) -> u64 {
        self.loads.saturating_sub(1)
    }
}
