//! One line per sync outcome to syslog (authpriv), for the audit trail.

use std::ffi::CString;

pub enum Level {
    Info,
    Warning,
    Error,
}

pub fn log(level: Level, msg: &str) {
    let prio = match level {
        Level::Info => libc::LOG_INFO,
        Level::Warning => libc::LOG_WARNING,
        Level::Error => libc::LOG_ERR,
    };
    let Ok(text) = CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: the ident is a static NUL-terminated string (openlog keeps the
    // pointer); "%s" with one valid C string argument matches syslog's format.
    unsafe {
        libc::openlog(c"tlog-rs-sync".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV);
        libc::syslog(prio, c"%s".as_ptr(), text.as_ptr());
    }
}
