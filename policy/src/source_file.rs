//! The file adapter shared by every source: read a file after checking that
//! only root (or the running user) can change it, and stamp it so a cache can
//! tell whether it changed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::PolicyError;

/// Identity and version of a file: (dev, inode, size, mtime, ctime). A
/// missing file has a stamp too, so that its creation is noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub path: PathBuf,
    /// None = the file did not exist.
    pub meta: Option<(u64, u64, u64, i64, i64, i64, i64)>,
}

impl FileStamp {
    pub fn of(path: &Path) -> std::io::Result<FileStamp> {
        let m = fs::metadata(path)?;
        Ok(FileStamp {
            path: path.to_path_buf(),
            meta: Some(stamp_of(&m)),
        })
    }

    pub fn missing(path: &Path) -> FileStamp {
        FileStamp {
            path: path.to_path_buf(),
            meta: None,
        }
    }

    /// Re-stat the path: true if it is still the same version.
    pub fn unchanged(&self) -> bool {
        match fs::metadata(&self.path) {
            Ok(m) => self.meta == Some(stamp_of(&m)),
            Err(_) => self.meta.is_none(),
        }
    }
}

fn stamp_of(m: &fs::Metadata) -> (u64, u64, u64, i64, i64, i64, i64) {
    (
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// Read a policy input. The file and its directory must be owned by root
/// (or the running user) and not writable by group or others: otherwise
/// someone else could exempt themselves from recording, so it is an error
/// (and the policy fails secure). The checks use the opened descriptor
/// (fstat), so the file checked is the file read.
pub fn read_checked(path: &Path) -> Result<(String, FileStamp), PolicyError> {
    use std::io::Read;
    let name = path.display().to_string();
    // Open first, so a missing file is reported as such (not its directory).
    let mut file = fs::File::open(path).map_err(|e| PolicyError::io(&name, &e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        check_dir(dir)?;
    }
    let meta = file.metadata().map_err(|e| PolicyError::io(&name, &e))?;
    if !meta.is_file() {
        return Err(PolicyError::new(&name, None, "not a regular file"));
    }
    check_owner(&name, &meta)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| PolicyError::io(&name, &e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        PolicyError::new(&name, Some(line), "file is not valid UTF-8")
    })?;
    Ok((
        text,
        FileStamp {
            path: path.to_path_buf(),
            meta: Some(stamp_of(&meta)),
        },
    ))
}

/// A directory holding policy inputs: same ownership rule as the files,
/// except that a sticky world-writable directory (like /tmp) is accepted
/// because others cannot replace our files in it.
pub fn check_dir(dir: &Path) -> Result<(), PolicyError> {
    let name = dir.display().to_string();
    let meta = fs::metadata(dir).map_err(|e| PolicyError::io(&name, &e))?;
    if meta.mode() & 0o1000 != 0 && meta.uid() == 0 {
        return Ok(());
    }
    check_owner(&name, &meta)
}

fn check_owner(name: &str, meta: &fs::Metadata) -> Result<(), PolicyError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(PolicyError::new(
            name,
            None,
            format!("owned by uid {}, must be owned by root", meta.uid()),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(PolicyError::new(
            name,
            None,
            format!(
                "mode {:04o} lets group or others write it; run chmod go-w",
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}
