//! The file adapter shared by every source: read a file after checking that
//! only root (or the running user) can change it, and stamp it so a cache can
//! tell whether it changed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::PolicyError;
use crate::trusted_file::{self, Links, Owner, Untrusted};

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

    /// The stamp of an opened file (its fstat): the version actually read.
    pub fn of_open(path: &Path, meta: &fs::Metadata) -> FileStamp {
        FileStamp {
            path: path.to_path_buf(),
            meta: Some(stamp_of(meta)),
        }
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

/// Read a policy input. The file and its directory must pass
/// [`trusted_file`]'s rule with root (or the running user) as owner:
/// otherwise someone else could exempt themselves from recording, so it is
/// an error (and the policy fails secure). The file checked is the file
/// read (fstat of the opened descriptor).
pub fn read_checked(path: &Path) -> Result<(String, FileStamp), PolicyError> {
    use std::io::Read;
    let name = path.display().to_string();
    // Open first, so a missing file is reported as such (not its directory).
    let (mut file, meta) = trusted_file::open(path, Owner::RootOrSelf, Links::Follow)
        .map_err(|e| untrusted(&name, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        check_dir(dir)?;
    }
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

/// A directory holding policy inputs: the same rule (a sticky directory
/// like /tmp passes, as others cannot replace our files in it).
pub fn check_dir(dir: &Path) -> Result<(), PolicyError> {
    trusted_file::check_dir(dir, Owner::RootOrSelf, Links::Follow)
        .map_err(|e| untrusted(&dir.display().to_string(), e))
}

/// A [`PolicyError`] naming `name`; I/O errors keep their kind (NotFound).
pub fn untrusted(name: &str, e: Untrusted) -> PolicyError {
    match e {
        Untrusted::Io(io) => PolicyError::io(name, &io),
        other => PolicyError::new(name, None, other.to_string()),
    }
}
