//! Writing the cache so readers only ever see a complete file: policy's
//! atomic replacement (temp file in the same directory, fsync, rename, fsync
//! the directory), after creating a missing directory 0755.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tlog_rs_policy::atomic_file::{self, Durability};

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
    // 0644 whatever the umask: readers check the mode.
    atomic_file::write_atomic(path, text.as_bytes(), 0o644, Durability::Fsync)
        .map_err(|e| ctx("write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_directory_and_replaces_the_file_whole() {
        let root = std::env::temp_dir().join(format!("tlog-rs-cachefile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let path = root.join("sub/cache.json");
        write_atomic(&path, "one").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&root.join("sub")), 0o755);
        assert_eq!(mode(&path), 0o644);
        write_atomic(&path, "two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = fs::read_dir(root.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("cache.json")]);
        let e = write_atomic(Path::new("cache.json"), "x").unwrap_err();
        assert!(e.contains("no parent directory"), "{e}");
        fs::remove_dir_all(&root).unwrap();
    }
}
