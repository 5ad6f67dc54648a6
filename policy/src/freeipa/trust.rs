//! Reading the cache only from a file nobody but root can have written.

use std::path::Path;

use super::eval::IpaRules;
use crate::PolicyError;

/// Read and verify the versioned JSON cache. A missing, unreadable, truncated
/// or corrupt file, or one writable by a non-root user, is an error naming
/// the file and (for content) the line.
pub fn load_cache(path: &Path) -> Result<IpaRules, PolicyError> {
    let origin = path.display().to_string();
    let text = read_trusted(path).map_err(|e| match e {
        Untrusted::Io(io) => PolicyError::io(&origin, &io),
        Untrusted::Perm(msg) => PolicyError::new(&origin, None, msg),
    })?;
    IpaRules::from_json(&text, &origin)
}

enum Untrusted {
    Io(std::io::Error),
    Perm(String),
}

/// The cache decides who is recorded: only root (or the reading user itself,
/// for tests run unprivileged) may own it, and nobody else may write it.
fn read_trusted(path: &Path) -> Result<String, Untrusted> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut f = std::fs::File::open(path).map_err(Untrusted::Io)?;
    let md = f.metadata().map_err(Untrusted::Io)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if md.uid() != 0 && md.uid() != euid {
        return Err(Untrusted::Perm(format!(
            "owned by uid {}, not root: refusing to trust it",
            md.uid()
        )));
    }
    if md.mode() & 0o022 != 0 {
        return Err(Untrusted::Perm(format!(
            "mode {:04o} is group- or world-writable: refusing to trust it",
            md.mode() & 0o7777
        )));
    }
    // Whoever can write the directory can replace the file.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let dmd = std::fs::metadata(dir).map_err(Untrusted::Io)?;
        if dmd.uid() != 0 && dmd.uid() != euid {
            return Err(Untrusted::Perm(format!(
                "directory {} is owned by uid {}, not root: refusing to trust the cache in it",
                dir.display(),
                dmd.uid()
            )));
        }
        // A sticky directory (like /tmp) stops others replacing our file.
        if dmd.mode() & 0o022 != 0 && dmd.mode() & 0o1000 == 0 {
            return Err(Untrusted::Perm(format!(
                "directory {} (mode {:04o}) is group- or world-writable: refusing to trust the cache in it",
                dir.display(),
                dmd.mode() & 0o7777
            )));
        }
    }
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(Untrusted::Io)?;
    Ok(text)
}
