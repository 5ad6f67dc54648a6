//! The one rule for files whose content decides who is recorded (policy
//! inputs, the FreeIPA cache, the PAM hand-off and its marks, the policy
//! snapshot, the utempter helper): nobody but a trusted owner can have
//! written them.
//!
//! The rule: the expected kind (regular file or directory), owned by the
//! trusted owner, not writable by group or others. A directory that is
//! writable by others but sticky (like /tmp) passes: others cannot replace
//! the files in it. Symbolic links are refused (O_NOFOLLOW, lstat) where the
//! caller asks for it, and followed elsewhere.

use std::fmt;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Who may own a trusted file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// root, or this process's effective uid (a test or a user's own
    /// `tlog-rs check` reading files it made).
    RootOrSelf,
    /// Exactly this uid: root (0), or the recorder account for its marks.
    Uid(u32),
}

impl Owner {
    fn allows(self, uid: u32) -> bool {
        match self {
            // SAFETY: geteuid has no preconditions and cannot fail.
            Owner::RootOrSelf => uid == 0 || uid == unsafe { libc::geteuid() },
            Owner::Uid(u) => uid == u,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::RootOrSelf | Owner::Uid(0) => f.write_str("root"),
            Owner::Uid(u) => write!(f, "uid {u}"),
        }
    }
}

/// What the path must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// Whether a symbolic link at the path itself is followed or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Follow,
    Refuse,
}

/// Why a path is not trusted.
#[derive(Debug)]
pub enum Untrusted {
    /// It could not be opened or examined (NotFound among them).
    Io(io::Error),
    /// A symbolic link, where links are refused.
    Symlink,
    /// Not of the expected kind.
    NotA(Kind),
    /// Owned by someone other than the trusted owner.
    Owner { uid: u32, expected: Owner },
    /// Group or others may write it.
    Writable { mode: u32 },
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Untrusted::Io(e) => write!(f, "{e}"),
            Untrusted::Symlink => f.write_str("is a symbolic link"),
            Untrusted::NotA(Kind::File) => f.write_str("not a regular file"),
            Untrusted::NotA(Kind::Dir) => f.write_str("not a directory"),
            Untrusted::Owner { uid, expected } => {
                write!(f, "owned by uid {uid}, must be owned by {expected}")
            }
            Untrusted::Writable { mode } => write!(
                f,
                "mode {mode:04o} is group- or world-writable; run chmod go-w"
            ),
        }
    }
}

impl std::error::Error for Untrusted {}

impl From<io::Error> for Untrusted {
    fn from(e: io::Error) -> Self {
        if e.raw_os_error() == Some(libc::ELOOP) {
            Untrusted::Symlink
        } else {
            Untrusted::Io(e)
        }
    }
}

/// The rule on a path's metadata (from fstat or lstat).
pub fn check(meta: &Metadata, kind: Kind, owner: Owner) -> Result<(), Untrusted> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Err(Untrusted::Symlink);
    }
    let is_kind = match kind {
        Kind::File => ft.is_file(),
        Kind::Dir => ft.is_dir(),
    };
    rule(is_kind, meta.uid(), meta.mode(), kind, owner)
}

fn rule(is_kind: bool, uid: u32, mode: u32, kind: Kind, owner: Owner) -> Result<(), Untrusted> {
    if !is_kind {
        return Err(Untrusted::NotA(kind));
    }
    if !owner.allows(uid) {
        return Err(Untrusted::Owner {
            uid,
            expected: owner,
        });
    }
    let sticky_dir = kind == Kind::Dir && mode & libc::S_ISVTX != 0;
    if mode & 0o022 != 0 && !sticky_dir {
        return Err(Untrusted::Writable {
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Open `path` for reading and check it by its descriptor (fstat), so the
/// file checked is the file read. O_NONBLOCK: a FIFO planted there cannot
/// hang the reader before it is refused.
pub fn open(path: &Path, owner: Owner, links: Links) -> Result<(File, Metadata), Untrusted> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let meta = file.metadata()?;
    check(&meta, Kind::File, owner)?;
    Ok((file, meta))
}

/// Check the directory `dir` (lstat when links are refused).
pub fn check_dir(dir: &Path, owner: Owner, links: Links) -> Result<(), Untrusted> {
    let meta = match links {
        Links::Follow => fs::metadata(dir)?,
        Links::Refuse => fs::symlink_metadata(dir)?,
    };
    check(&meta, Kind::Dir, owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn me() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p =
                std::env::temp_dir().join(format!("tlog-rs-trusted-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir(&p).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            Tmp(p)
        }
        fn file(&self, name: &str, mode: u32) -> PathBuf {
            let p = self.0.join(name);
            fs::write(&p, "x").unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            p
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn rule_owner_and_mode() {
        let f = Kind::File;
        assert!(rule(true, 0, 0o100644, f, Owner::Uid(0)).is_ok());
        assert!(rule(true, 0, 0o100600, f, Owner::RootOrSelf).is_ok());
        assert!(rule(true, me(), 0o100644, f, Owner::RootOrSelf).is_ok());
        assert!(matches!(
            rule(true, me() + 1, 0o100644, f, Owner::RootOrSelf),
            Err(Untrusted::Owner { .. })
        ));
        assert!(matches!(
            rule(true, 0, 0o100644, f, Owner::Uid(42)),
            Err(Untrusted::Owner { uid: 0, .. })
        ));
        for mode in [0o100664, 0o100646, 0o100666] {
            assert!(matches!(
                rule(true, 0, mode, f, Owner::Uid(0)),
                Err(Untrusted::Writable { .. })
            ));
        }
        // Sticky helps a directory only, never a file.
        assert!(rule(true, 0, 0o41777, Kind::Dir, Owner::Uid(0)).is_ok());
        assert!(matches!(
            rule(true, 0, 0o40777, Kind::Dir, Owner::Uid(0)),
            Err(Untrusted::Writable { mode: 0o777 })
        ));
        assert!(matches!(
            rule(true, 0, 0o101666, f, Owner::Uid(0)),
            Err(Untrusted::Writable { .. })
        ));
        assert!(matches!(
            rule(false, 0, 0o644, f, Owner::Uid(0)),
            Err(Untrusted::NotA(Kind::File))
        ));
    }

    #[test]
    fn world_writable_and_wrong_owner_files() {
        let t = Tmp::new("mode");
        let ok = t.file("ok", 0o644);
        assert!(open(&ok, Owner::RootOrSelf, Links::Refuse).is_ok());
        let ww = t.file("ww", 0o666);
        let e = open(&ww, Owner::RootOrSelf, Links::Follow).unwrap_err();
        assert!(matches!(e, Untrusted::Writable { mode: 0o666 }), "{e}");
        assert!(e.to_string().contains("world-writable"), "{e}");
        let e = open(&ok, Owner::Uid(me() + 1), Links::Follow).unwrap_err();
        assert!(matches!(e, Untrusted::Owner { .. }), "{e}");
        let e = open(&t.0.join("missing"), Owner::RootOrSelf, Links::Follow).unwrap_err();
        assert!(
            matches!(&e, Untrusted::Io(io) if io.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
    }

    #[test]
    fn symlinks_refused_or_followed() {
        let t = Tmp::new("link");
        let target = t.file("target", 0o644);
        let link = t.0.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            open(&link, Owner::RootOrSelf, Links::Refuse),
            Err(Untrusted::Symlink)
        ));
        assert!(open(&link, Owner::RootOrSelf, Links::Follow).is_ok());
        let dlink = t.0.join("dlink");
        std::os::unix::fs::symlink(&t.0, &dlink).unwrap();
        assert!(matches!(
            check_dir(&dlink, Owner::RootOrSelf, Links::Refuse),
            Err(Untrusted::Symlink)
        ));
        assert!(check_dir(&dlink, Owner::RootOrSelf, Links::Follow).is_ok());
    }

    #[test]
    fn not_a_regular_file_nor_a_directory() {
        let t = Tmp::new("kind");
        let e = open(&t.0, Owner::RootOrSelf, Links::Follow).unwrap_err();
        assert!(matches!(e, Untrusted::NotA(Kind::File)), "{e}");
        // A FIFO is refused without blocking in open.
        let fifo = t.0.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = open(&fifo, Owner::RootOrSelf, Links::Refuse).unwrap_err();
        assert!(matches!(e, Untrusted::NotA(Kind::File)), "{e}");
        let file = t.file("f", 0o644);
        let e = check_dir(&file, Owner::RootOrSelf, Links::Refuse).unwrap_err();
        assert!(matches!(e, Untrusted::NotA(Kind::Dir)), "{e}");
    }

    #[test]
    fn writable_directory_unless_sticky() {
        let t = Tmp::new("dir");
        assert!(check_dir(&t.0, Owner::RootOrSelf, Links::Refuse).is_ok());
        fs::set_permissions(&t.0, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            check_dir(&t.0, Owner::RootOrSelf, Links::Refuse),
            Err(Untrusted::Writable { mode: 0o777 })
        ));
        fs::set_permissions(&t.0, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check_dir(&t.0, Owner::RootOrSelf, Links::Refuse).is_ok());
        assert!(matches!(
            check_dir(&t.0, Owner::Uid(me() + 1), Links::Refuse),
            Err(Untrusted::Owner { .. })
        ));
    }
}
