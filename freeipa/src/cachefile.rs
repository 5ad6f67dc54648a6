//! Writing the cache so readers only ever see a complete file: temp file in
//! the same directory, fsync, rename over the old one, fsync the directory.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let ctx = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", path.display());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| format!("{}: no parent directory", path.display()))?;
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| ctx("create directory", e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| ctx("chmod directory", e))?;
    }
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: no file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| ctx("create temp file", e))?;
        // The umask must not change the mode readers check.
        f.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(|e| ctx("chmod temp file", e))?;
        f.write_all(text.as_bytes()).map_err(|e| ctx("write", e))?;
        f.sync_all().map_err(|e| ctx("fsync", e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| ctx("rename", e))?;
        fsync_dir(dir).map_err(|e| ctx("fsync directory", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: c is a valid NUL-terminated path; the fd is closed below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is an open descriptor we own.
    let rc = unsafe { libc::fsync(fd) };
    let err = std::io::Error::last_os_error();
    // SAFETY: closing the descriptor opened above, exactly once.
    unsafe { libc::close(fd) };
    if rc != 0 {
        return Err(err);
    }
    Ok(())
}
