//! The passwd entry as NSS answers it (through every source, ours included),
//! as byte strings: what nss_tlog and pam_tlog compare and copy. System-facing
//! like `sys`; group names and the host name are re-exported from there.
//!
//! Guest-code rules: no panics on bad data (every C string is checked), heap
//! buffers that grow on ERANGE up to a bound, no locks, no threads.

use std::ffi::CStr;
use std::os::raw::c_char;

/// Largest buffer we give getpwnam_r / getgrgid_r before giving up.
const MAX_BUF: usize = 1 << 20;

/// An owned copy of a passwd entry. Byte strings, since names need not be UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PwEntry {
    pub name: Vec<u8>,
    pub passwd: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub gecos: Vec<u8>,
    pub dir: Vec<u8>,
    pub shell: Vec<u8>,
}

impl PwEntry {
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
    pub fn shell_lossy(&self) -> String {
        String::from_utf8_lossy(&self.shell).into_owned()
    }
}

/// A lookup key.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    Name(&'a CStr),
    Uid(u32),
}

/// Outcome of a lookup through glibc: found, not found, or an error (errno).
pub type LookupResult = Result<Option<PwEntry>, i32>;

/// Copy the C strings of a filled `struct passwd`.
///
/// # Safety
/// `pw` must be a passwd filled by a successful getpw*_r call whose buffer is
/// still alive; its string pointers are NUL-terminated or null.
unsafe fn copy_passwd(pw: &libc::passwd) -> PwEntry {
    let s = |p: *const c_char| {
        if p.is_null() {
            Vec::new()
        } else {
            // SAFETY: per this function's contract, p is NUL-terminated and
            // points into a live buffer.
            unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()
        }
    };
    PwEntry {
        name: s(pw.pw_name),
        passwd: s(pw.pw_passwd),
        uid: pw.pw_uid,
        gid: pw.pw_gid,
        gecos: s(pw.pw_gecos),
        dir: s(pw.pw_dir),
        shell: s(pw.pw_shell),
    }
}

/// getpwnam_r / getpwuid_r through glibc (the whole nsswitch chain, or nscd).
/// Inside nss_tlog, call this only with the reentrancy guard set.
pub fn getpw(key: Key<'_>) -> LookupResult {
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: passwd is plain old data; all-zero is a valid value.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = match key {
            // SAFETY: name is NUL-terminated; pw, buf (of len size) and result
            // are valid for writes for the duration of the call.
            Key::Name(name) => unsafe {
                libc::getpwnam_r(
                    name.as_ptr(),
                    &mut pw,
                    buf.as_mut_ptr().cast(),
                    size,
                    &mut result,
                )
            },
            // SAFETY: as above.
            Key::Uid(uid) => unsafe {
                libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), size, &mut result)
            },
        };
        if rc == libc::ERANGE && size < MAX_BUF {
            size *= 4;
            continue;
        }
        if rc != 0 {
            // glibc reports "not found" as 0 + NULL, but some modules say ENOENT.
            return if rc == libc::ENOENT || rc == libc::ESRCH {
                Ok(None)
            } else {
                Err(rc)
            };
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: the call succeeded and buf is still alive.
        return Ok(Some(unsafe { copy_passwd(&pw) }));
    }
}

pub use crate::sys::{groups_of, host_name};
