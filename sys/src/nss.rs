//! The passwd and group lookups of the modules and the CLI (with
//! [`crate::passwd`]), above all the "underlying passwd lookup" that PAM,
//! NSS and the CLI share.
//!
//! Why an underlying lookup: when our NSS module (`tlog` in nsswitch.conf)
//! answers passwd queries, `getpwnam` returns the recorder as the shell. The
//! real shell must come from the services *after* ours. We read the
//! `passwd:` line of nsswitch.conf, skip `tlog`, and call each remaining
//! service's `_nss_<service>_getpwnam_r` directly (glibc ≥ 2.34 exports
//! `_nss_files_*` from libc.so.6; other services are `libnss_<service>.so.2`),
//! honouring `[STATUS=return]` actions. No environment variable is consulted,
//! so a user cannot influence it. This never re-enters our own module, so it
//! is safe to call from inside it.
//!
//! Thread- and fork-safety: only reentrant `_r` functions, no global state;
//! libraries are opened with RTLD_NODELETE so a pointer stays valid.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};

use crate::passwd::{with_passwd_buffer, Attempt, Key, PwEntry};

/// The service name of our NSS module (libnss_tlog.so.2).
pub const OUR_NSS_SERVICE: &str = "tlog";
/// Where nsswitch.conf lives.
pub const NSSWITCH_CONF: &str = "/etc/nsswitch.conf";

/// Why a passwd or group lookup failed. "Not found" is `Ok(None)` (or an
/// empty member list), never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The name contains a NUL byte, so no database can hold it.
    NulInName,
    /// An NSS service answered "try again" (with the errno it set).
    TryAgain { service: String, errno: i32 },
    /// The C library call failed with this errno.
    Os(i32),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NulInName => f.write_str("the name contains a NUL byte"),
            LookupError::TryAgain { service, errno } => {
                write!(
                    f,
                    "nss service {service}: temporary failure (errno {errno})"
                )
            }
            LookupError::Os(errno) => write!(f, "{}", std::io::Error::from_raw_os_error(*errno)),
        }
    }
}

impl std::error::Error for LookupError {}

/// `enum nss_status` values.
const NSS_STATUS_TRYAGAIN: c_int = -2;
const NSS_STATUS_UNAVAIL: c_int = -1;
const NSS_STATUS_NOTFOUND: c_int = 0;
const NSS_STATUS_SUCCESS: c_int = 1;

type GetpwnamR =
    unsafe extern "C" fn(*const c_char, *mut libc::passwd, *mut c_char, usize, *mut c_int) -> c_int;
type GetpwuidR =
    unsafe extern "C" fn(libc::uid_t, *mut libc::passwd, *mut c_char, usize, *mut c_int) -> c_int;

/// One service of an nsswitch line, with its `[STATUS=return]` actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NssService {
    pub name: String,
    /// Return (stop) on: notfound, unavail, tryagain. Success always stops.
    pub return_on: [bool; 3],
}

/// Parse the services of database `db` (e.g. "passwd") from nsswitch.conf
/// text. Missing line: glibc's default, `files`.
pub fn parse_nsswitch(text: &str, db: &str) -> Vec<NssService> {
    let mut line = None;
    for l in text.lines() {
        let l = l.split('#').next().unwrap_or("");
        if let Some((k, v)) = l.split_once(':') {
            if k.trim() == db {
                line = Some(v.to_string());
            }
        }
    }
    let Some(line) = line else {
        return vec![NssService {
            name: "files".into(),
            return_on: [false; 3],
        }];
    };
    let mut out: Vec<NssService> = Vec::new();
    let mut rest = line.as_str();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            if let Some(last) = out.last_mut() {
                apply_actions(&r[..end], last);
            }
            rest = r.get(end + 1..).unwrap_or("");
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '[')
            .unwrap_or(rest.len());
        out.push(NssService {
            name: rest[..end].to_string(),
            return_on: [false; 3],
        });
        rest = &rest[end..];
    }
    out
}

fn apply_actions(spec: &str, svc: &mut NssService) {
    const STATUSES: [&str; 3] = ["notfound", "unavail", "tryagain"];
    for item in spec.split_whitespace() {
        let Some((status, action)) = item.split_once('=') else {
            continue;
        };
        let ret = action.eq_ignore_ascii_case("return");
        let (neg, status) = match status.strip_prefix('!') {
            Some(s) => (true, s),
            None => (false, status),
        };
        let status = status.to_ascii_lowercase();
        for (i, s) in STATUSES.iter().enumerate() {
            if (*s == status) != neg {
                svc.return_on[i] = ret;
            }
        }
    }
}

/// Look `name` up in the passwd services after (and except) ours.
pub fn underlying_getpwnam(name: &str) -> Result<Option<PwEntry>, LookupError> {
    let c = CString::new(name).map_err(|_| LookupError::NulInName)?;
    lookup(Key::Name(&c))
}

/// Look `uid` up in the passwd services after (and except) ours.
pub fn underlying_getpwuid(uid: u32) -> Result<Option<PwEntry>, LookupError> {
    lookup(Key::Uid(uid))
}

fn lookup(key: Key<'_>) -> Result<Option<PwEntry>, LookupError> {
    let conf = std::fs::read_to_string(NSSWITCH_CONF).unwrap_or_default();
    let mut last_err = None;
    for svc in parse_nsswitch(&conf, "passwd") {
        if svc.name == OUR_NSS_SERVICE {
            continue;
        }
        let status = match call_service(&svc.name, &key) {
            Ok(Some(e)) => return Ok(Some(e)),
            Ok(None) => 0,
            Err(Some(e)) => {
                last_err = Some(e);
                2
            }
            Err(None) => 1,
        };
        if svc.return_on[status] {
            break;
        }
    }
    match last_err {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// Ok(Some) found; Ok(None) not found; Err(None) service unavailable;
/// Err(Some) temporary failure.
fn call_service(service: &str, key: &Key<'_>) -> Result<Option<PwEntry>, Option<LookupError>> {
    if !service
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(None);
    }
    let fname = match key {
        Key::Name(_) => format!("_nss_{service}_getpwnam_r"),
        Key::Uid(_) => format!("_nss_{service}_getpwuid_r"),
    };
    let Some(f) = find_symbol(service, &fname) else {
        return Err(None);
    };
    with_passwd_buffer(|pw, buf| {
        let mut errno: c_int = 0;
        // SAFETY: `f` is the NSS entry point named `fname`, whose ABI is the
        // documented glibc NSS module interface; every pointer is valid for the
        // call and buf describes a live buffer of its length.
        let status = unsafe {
            match key {
                Key::Name(n) => {
                    let f: GetpwnamR = std::mem::transmute::<*mut c_void, GetpwnamR>(f);
                    f(n.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), &mut errno)
                }
                Key::Uid(u) => {
                    let f: GetpwuidR = std::mem::transmute::<*mut c_void, GetpwuidR>(f);
                    f(*u, pw, buf.as_mut_ptr(), buf.len(), &mut errno)
                }
            }
        };
        let try_again = || {
            Err(Some(LookupError::TryAgain {
                service: service.to_string(),
                errno,
            }))
        };
        match status {
            // SAFETY: on success the module filled `pw` with pointers into `buf`
            // (or static strings), all NUL-terminated and alive here.
            NSS_STATUS_SUCCESS => Attempt::Done(Ok(Some(unsafe { PwEntry::from_passwd(pw) }))),
            NSS_STATUS_TRYAGAIN if errno == libc::ERANGE => Attempt::TooSmall(try_again()),
            NSS_STATUS_TRYAGAIN => Attempt::Done(try_again()),
            NSS_STATUS_NOTFOUND => Attempt::Done(Ok(None)),
            NSS_STATUS_UNAVAIL => Attempt::Done(Err(None)),
            _ => Attempt::Done(Err(None)),
        }
    })
}

/// Find an NSS entry point: libc itself first (glibc ≥ 2.34 has `files`
/// built in), then `libnss_<service>.so.2`.
fn find_symbol(service: &str, fname: &str) -> Option<*mut c_void> {
    let sym = CString::new(fname).ok()?;
    if service == "files" {
        // SAFETY: dlsym with RTLD_DEFAULT and a valid C string has no other preconditions.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, sym.as_ptr()) };
        if !p.is_null() {
            return Some(p);
        }
    }
    let lib = CString::new(format!("libnss_{service}.so.2")).ok()?;
    // SAFETY: valid C string; RTLD_NODELETE keeps the library mapped after
    // dlclose, so the returned function pointer stays valid.
    let handle = unsafe {
        libc::dlopen(
            lib.as_ptr(),
            libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_NODELETE,
        )
    };
    if handle.is_null() {
        return None;
    }
    // SAFETY: handle is a live dlopen handle; sym is a valid C string.
    let p = unsafe { libc::dlsym(handle, sym.as_ptr()) };
    // SAFETY: handle came from dlopen; with RTLD_NODELETE the code stays mapped.
    unsafe { libc::dlclose(handle) };
    (!p.is_null()).then_some(p)
}

/// Name of the group with this gid (reentrant getgrgid_r), if one exists.
pub fn group_name(gid: u32) -> Option<String> {
    let mut buflen = 1024usize;
    loop {
        let mut buf = vec![0 as c_char; buflen];
        // SAFETY: zeroed is a valid bit pattern for struct group.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut res: *mut libc::group = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the call; buf/buflen describe a live buffer.
        let rc = unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), buflen, &mut res) };
        if rc == libc::ERANGE && buflen < (1 << 22) {
            buflen *= 4;
            continue;
        }
        if rc != 0 || res.is_null() || gr.gr_name.is_null() {
            return None;
        }
        // SAFETY: on success gr_name points to a NUL-terminated string in buf.
        return Some(
            unsafe { CStr::from_ptr(gr.gr_name) }
                .to_string_lossy()
                .into_owned(),
        );
    }
}

/// All group ids of `user` (getgrouplist: `gid` plus supplementary groups).
/// The group database is never our passwd module, so this is safe inside it.
pub fn group_ids(user: &[u8], gid: u32) -> Vec<u32> {
    let Ok(c) = CString::new(user) else {
        return vec![gid];
    };
    let mut n: c_int = 64;
    loop {
        let mut ids = vec![0 as libc::gid_t; n as usize];
        let mut count = n;
        // SAFETY: ids has room for `count` entries; c is a valid C string.
        let rc = unsafe { libc::getgrouplist(c.as_ptr(), gid, ids.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            ids.truncate(count.max(0) as usize);
            return ids;
        }
        if count <= n || count > 1 << 20 {
            return vec![gid];
        }
        n = count;
    }
}

/// (name of the group whose gid is `gid`, sorted and deduplicated names of
/// the other groups `user` is in), as the modules need them.
pub fn groups_of(user: &[u8], gid: u32) -> (Option<String>, Vec<String>) {
    let primary = group_name(gid);
    let mut names: Vec<String> = group_ids(user, gid)
        .into_iter()
        .filter(|g| *g != gid)
        .filter_map(group_name)
        .collect();
    names.sort();
    names.dedup();
    (primary, names)
}

/// The member names the group database lists for `group` (getgrnam_r's
/// `gr_mem`; users whose primary gid it is are not listed there).
/// `Ok(empty)` if there is no such group.
pub fn group_members(group: &str) -> Result<Vec<String>, LookupError> {
    let c = CString::new(group).map_err(|_| LookupError::NulInName)?;
    let mut buflen = 1024usize;
    loop {
        let mut buf = vec![0 as c_char; buflen];
        // SAFETY: zeroed is a valid bit pattern for struct group.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut res: *mut libc::group = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the call; buf/buflen describe a live buffer.
        let rc =
            unsafe { libc::getgrnam_r(c.as_ptr(), &mut gr, buf.as_mut_ptr(), buflen, &mut res) };
        if rc == libc::ERANGE && buflen < (1 << 22) {
            buflen *= 4;
            continue;
        }
        if rc == libc::ENOENT || (rc == 0 && res.is_null()) {
            return Ok(Vec::new());
        }
        if rc != 0 {
            return Err(LookupError::Os(rc));
        }
        let mut out = Vec::new();
        let mut p = gr.gr_mem;
        // SAFETY: on success gr_mem is a NULL-terminated array of
        // NUL-terminated strings in buf (or null).
        while !p.is_null() && !unsafe { *p }.is_null() {
            // SAFETY: as above; *p is a valid C string.
            out.push(unsafe { CStr::from_ptr(*p) }.to_string_lossy().into_owned());
            // SAFETY: the array is NULL-terminated, so p + 1 is in bounds.
            p = unsafe { p.add(1) };
        }
        return Ok(out);
    }
}

/// This host's name as `gethostname()` returns it (no DNS: modules must not
/// use the network). Host patterns are matched against it.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; the last byte is reserved so
    // the name is always NUL-terminated.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut c_char, buf.len() - 1) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len() - 1);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
