//! The one temporary directory of the tests (the end-to-end tests here and,
//! through the dev-dependency, the recorder's own tests).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop. Mode 0755
/// whatever the umask, so that programs run as another user can reach it.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tlog-rs-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        TempDir(p)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.0
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Write `name` (creating its parent directories); returns its path.
    pub fn write(&self, name: &str, data: &(impl AsRef<[u8]> + ?Sized)) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&p, data.as_ref()).expect("write temp file");
        p
    }

    /// Write `name` with `mode`, whatever the umask.
    pub fn write_mode(&self, name: &str, data: &(impl AsRef<[u8]> + ?Sized), mode: u32) -> PathBuf {
        let p = self.write(name, data);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .expect("chmod temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
