//! Who and where is being recorded: the fields tlog puts in every message
//! header (host, rec, user, term, session) plus the tty.

use std::ffi::CStr;

/// The audit session id when audit has not assigned one.
pub const NO_AUDIT_SESSION: u32 = u32::MAX;

use tlog_rs_sys::proc::proc_stat;

/// Start time of a process in clock ticks since boot (stat field 22).
pub fn process_start_time(pid: u32) -> Option<u64> {
    proc_stat(pid).ok().map(|s| s.start_time)
}

/// tlog's recording id: `<boot_id without dashes>-<pid %x>-<starttime %x>`.
pub fn recording_id() -> Result<String, String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map_err(|e| format!("Failed reading boot ID: {e}"))?;
    let boot: String = boot.trim().chars().filter(|c| *c != '-').collect();
    let pid = std::process::id();
    let start = process_start_time(pid).ok_or("Failed reading process start time")?;
    Ok(format!("{boot}-{pid:x}-{start:x}"))
}

/// Audit session id from /proc/self/sessionid (4294967295 without audit).
pub fn audit_session() -> Result<u32, String> {
    let text = std::fs::read_to_string("/proc/self/sessionid")
        .map_err(|e| format!("Failed retrieving session ID: {e}"))?;
    text.trim()
        .parse()
        .map_err(|_| format!("Failed retrieving session ID: invalid value {text:?}"))
}

/// (name, shell) of the real uid's passwd entry (tlog uses the real uid, not
/// the effective one). The shell is `None` when empty.
fn own_passwd() -> Result<(String, Option<String>), String> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut buf = vec![0u8; 16384];
    // SAFETY: an all-zero passwd is a valid value for an out-parameter.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of pw.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pw.pw_name.is_null() {
        return Err(format!("Failed retrieving user entry for uid {uid}"));
    }
    // SAFETY: on success the non-null string fields point to NUL-terminated
    // strings inside buf, which is still alive.
    let text = |p: *const libc::c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    let shell = (!pw.pw_shell.is_null())
        .then(|| text(pw.pw_shell))
        .filter(|s| !s.is_empty());
    Ok((text(pw.pw_name), shell))
}

/// Name of the real uid.
pub fn user_name() -> Result<String, String> {
    own_passwd().map(|(name, _)| name)
}

/// Login shell of the real uid from the passwd database.
pub fn passwd_shell() -> Option<String> {
    own_passwd().ok().and_then(|(_, shell)| shell)
}

/// Fully qualified host name like tlog: gethostname, then the canonical name
/// from getaddrinfo. Returns the short name and a warning if that fails.
pub fn fqdn() -> (String, Option<String>) {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) } != 0 {
        return (String::new(), Some("Failed retrieving host name".into()));
    }
    let Ok(host) = CStr::from_bytes_until_nul(&buf) else {
        return (String::new(), Some("Host name is not terminated".into()));
    };
    let short = host.to_string_lossy().into_owned();
    // SAFETY: zeroed addrinfo is the documented way to build hints.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = libc::AF_UNSPEC;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: host is NUL-terminated, hints and res are valid pointers.
    let rc = unsafe { libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 || res.is_null() {
        let warn = format!("Failed retrieving the FQDN of host \"{short}\", using it as is");
        return (short, Some(warn));
    }
    // SAFETY: res is a valid list from getaddrinfo; canonname is NUL-terminated or null.
    let name = unsafe {
        let c = (*res).ai_canonname;
        let n = if c.is_null() {
            short.clone()
        } else {
            CStr::from_ptr(c).to_string_lossy().into_owned()
        };
        libc::freeaddrinfo(res);
        n
    };
    (name, None)
}

/// Path of the terminal on the first of stdin, stdout, stderr that is one.
pub fn tty_name() -> Option<String> {
    for fd in 0..3 {
        // SAFETY: isatty/ttyname on any fd number are safe; the result is
        // copied at once.
        unsafe {
            if libc::isatty(fd) == 1 {
                let p = libc::ttyname(fd);
                if !p.is_null() {
                    return Some(CStr::from_ptr(p).to_string_lossy().into_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rec_id_shape() {
        let id = recording_id().unwrap();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].len(), 32);
        assert_eq!(
            u32::from_str_radix(parts[1], 16).unwrap(),
            std::process::id()
        );
    }
}
