//! Reading the cache only from a file nobody but root can have written.

use std::path::Path;

use super::eval::IpaRules;
use crate::source_file::untrusted;
use crate::trusted_file::{self, Links, Owner, Untrusted};
use crate::PolicyError;

/// Read and verify the versioned JSON cache. A missing, unreadable, truncated
/// or corrupt file, or one (or a directory) that fails [`trusted_file`]'s
/// rule, is an error naming the file and (for content) the line. Only root
/// (or the reading user itself, for tests run unprivileged) may own it.
pub fn load_cache(path: &Path) -> Result<IpaRules, PolicyError> {
    use std::io::Read;
    let origin = path.display().to_string();
    let (mut f, _) = trusted_file::open(path, Owner::RootOrSelf, Links::Follow)
        .map_err(|e| untrusted(&origin, e))?;
    // Whoever can write the directory can replace the file.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        trusted_file::check_dir(dir, Owner::RootOrSelf, Links::Follow).map_err(|e| match e {
            Untrusted::Io(io) => PolicyError::io(&origin, &io),
            e => PolicyError::new(&origin, None, format!("directory {}: {e}", dir.display())),
        })?;
    }
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| PolicyError::io(&origin, &e))?;
    IpaRules::from_json(&text, &origin)
}
