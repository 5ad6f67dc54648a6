//! The one passwd type ([`PwEntry`], byte strings) and the buffer protocol
//! of getpw*_r, shared by the glibc lookup here (through every source, ours
//! included: what nss_tlog and pam_tlog compare and copy) and the
//! underlying-services lookup in [`crate::nss`]; group names and the host
//! name are re-exported from there.
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

impl PwEntry {
    /// Copy the C strings of a filled `struct passwd`.
    ///
    /// # Safety
    /// `pw` must be a passwd filled by a successful getpw*_r-style call whose
    /// buffer is still alive; its string pointers are NUL-terminated or null.
    pub(crate) unsafe fn from_passwd(pw: &libc::passwd) -> PwEntry {
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
}

/// What one getpw*_r-style call gave.
pub(crate) enum Attempt<T> {
    Done(T),
    /// The buffer was too small; the answer if it cannot grow any more.
    TooSmall(T),
}

/// The buffer protocol of every getpw*_r-style call (glibc's and an NSS
/// service's): `call` gets a zeroed passwd and a buffer, 1 KiB first, four
/// times larger after each `TooSmall`, up to MAX_BUF.
pub(crate) fn with_passwd_buffer<T>(
    mut call: impl FnMut(&mut libc::passwd, &mut [c_char]) -> Attempt<T>,
) -> T {
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0 as c_char; size];
        // SAFETY: passwd is plain old data; all-zero is a valid value.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        match call(&mut pw, &mut buf) {
            Attempt::Done(t) => return t,
            Attempt::TooSmall(t) if size >= MAX_BUF => return t,
            Attempt::TooSmall(_) => size *= 4,
        }
    }
}

/// getpwnam_r / getpwuid_r through glibc (the whole nsswitch chain, or nscd).
/// Inside nss_tlog, call this only with the reentrancy guard set.
pub fn getpw(key: Key<'_>) -> LookupResult {
    with_passwd_buffer(|pw, buf| {
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = match key {
            // SAFETY: name is NUL-terminated; pw, buf (of its len) and result
            // are valid for writes for the duration of the call.
            Key::Name(name) => unsafe {
                libc::getpwnam_r(name.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), &mut result)
            },
            // SAFETY: as above.
            Key::Uid(uid) => unsafe {
                libc::getpwuid_r(uid, pw, buf.as_mut_ptr(), buf.len(), &mut result)
            },
        };
        match rc {
            libc::ERANGE => Attempt::TooSmall(Err(rc)),
            // glibc reports "not found" as 0 + NULL, but some modules say ENOENT.
            libc::ENOENT | libc::ESRCH => Attempt::Done(Ok(None)),
            0 if result.is_null() => Attempt::Done(Ok(None)),
            // SAFETY: the call succeeded and buf is still alive.
            0 => Attempt::Done(Ok(Some(unsafe { PwEntry::from_passwd(pw) }))),
            _ => Attempt::Done(Err(rc)),
        }
    })
}

pub use crate::nss::{groups_of, host_name};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_grows_until_it_fits_then_gives_up_at_the_bound() {
        let mut sizes = Vec::new();
        let got = with_passwd_buffer(|_, buf| {
            sizes.push(buf.len());
            if buf.len() < 16 * 1024 {
                Attempt::TooSmall("small")
            } else {
                Attempt::Done("fits")
            }
        });
        assert_eq!((got, sizes), ("fits", vec![1024, 4096, 16384]));
        let mut calls = 0;
        let got = with_passwd_buffer(|_, buf| {
            calls += 1;
            assert!(buf.len() <= MAX_BUF);
            Attempt::TooSmall(buf.len())
        });
        assert_eq!(got, MAX_BUF);
        assert_eq!(calls, 6);
    }

    #[test]
    fn glibc_lookup_by_name_and_uid_agree() {
        let by_uid = getpw(Key::Uid(0)).unwrap().expect("uid 0 exists");
        let by_name = getpw(Key::Name(
            &std::ffi::CString::new(by_uid.name.clone()).unwrap(),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(by_uid, by_name);
        assert_eq!(by_uid.uid, 0);
        assert_eq!(getpw(Key::Name(c"no-such-user-tlog-rs")).unwrap(), None);
    }
}
