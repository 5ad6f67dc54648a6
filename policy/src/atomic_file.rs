//! Replacing a file so that readers see the old or the new one, never half
//! of one: a temp file `.<name>.tmp` in the same directory (created anew,
//! no symlink followed), the mode set whatever the umask, then a rename.
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

/// Write `bytes` to `path` atomically with `mode`. Stale temp files of an
/// earlier failed write are removed first; on failure the temp file is too.
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
    let tmp = path.with_file_name(format!(".{name}.tmp"));
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
