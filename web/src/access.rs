//! Logins and every view or export go to syslog (authpriv, ident
//! `tlog-rs-web`); views and exports also go to the index's access log,
//! which auditors read in the UI.

use std::ffi::CString;

pub fn open_syslog() {
    // SAFETY: the ident is a 'static NUL-terminated string, as openlog keeps
    // the pointer.
    unsafe { libc::openlog(c"tlog-rs-web".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV) };
}

pub fn syslog(msg: &str) {
    let Ok(m) = CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: constant format string with one %s argument, a valid C string.
    unsafe {
        libc::syslog(
            libc::LOG_AUTHPRIV | libc::LOG_INFO,
            c"%s".as_ptr(),
            m.as_ptr(),
        )
    };
}
