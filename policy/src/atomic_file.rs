//! Replacing a file so that readers see the old or the new one, never half
//! of one: a temp file `.<name>.<pid>.tmp` in the same directory (created
//! anew, no symlink followed), the mode set whatever the umask, then a
//! rename. The pid keeps two writers at once (a timer's `tlog-rs sync` and
//! an admin's) off each other's temp file: the last rename wins, whole.
//! Used by the PAM hand-off (on tmpfs, not flushed: it lives one login) and
//! by the audit rules file (flushed: it must survive a crash).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Whether the new file must be on disk before this returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Rename only (tmpfs, short-lived files).
    Rename,
    /// fsync the file before the rename and the directory after it.
    Fsync,
}

/// Write `bytes` to `path` atomically with `mode`. A stale temp file of this
/// pid is removed first; on failure the temp file is too.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    durability: Durability,
) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        if durability == Durability::Fsync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durability == Durability::Fsync {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_with_the_mode_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("tlog-rs-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cache");
        let ours = dir.join(format!(".cache.{}.tmp", std::process::id()));
        let other = dir.join(".cache.1.tmp");
        // A stale temp file of this pid (a symlink, even) is replaced, not
        // followed; another writer's temp file is left alone.
        std::os::unix::fs::symlink("/nonexistent-target", &ours).unwrap();
        fs::write(&other, b"other writer").unwrap();
        write_atomic(&path, b"one", 0o640, Durability::Rename).unwrap();
        write_atomic(&path, b"two", 0o600, Durability::Fsync).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(fs::symlink_metadata(&ours).is_err());
        assert_eq!(fs::read(&other).unwrap(), b"other writer");
        fs::remove_dir_all(&dir).unwrap();
    }
}
