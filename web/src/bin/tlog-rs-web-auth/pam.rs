//! The few libpam calls one authentication needs (Linux-PAM ABI).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

#[repr(C)]
struct PamHandle {
    _opaque: [u8; 0],
}

pub const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_CONV_ERR: c_int = 19;
const PAM_USER: c_int = 2;
const PAM_RHOST: c_int = 4;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_SILENT: c_int = 0x8000;
const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;

#[link(name = "pam")]
extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    fn pam_end(pamh: *mut PamHandle, status: c_int) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item: c_int, value: *const c_void) -> c_int;
    fn pam_get_item(pamh: *const PamHandle, item: c_int, value: *mut *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
}

/// What the conversation answers: the user name to echoed prompts, the
/// password to hidden ones.
struct Answers {
    user: CString,
    password: CString,
}

/// Copy `s` into memory PAM frees with free(3).
fn c_dup(s: &CStr) -> *mut c_char {
    // SAFETY: s is a valid NUL-terminated string; strdup returns a malloc'd
    // copy or NULL.
    unsafe { libc::strdup(s.as_ptr()) }
}

unsafe extern "C" fn converse(
    n: c_int,
    msgs: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    data: *mut c_void,
) -> c_int {
    if n <= 0 || msgs.is_null() || resp.is_null() || data.is_null() {
        return PAM_CONV_ERR;
    }
    let n = n as usize;
    // SAFETY: calloc of n zeroed responses; PAM frees the array and each resp.
    let out = unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    if out.is_null() {
        return PAM_BUF_ERR;
    }
    // SAFETY: data is the &Answers passed to pam_start, alive for the handle.
    let answers = unsafe { &*(data as *const Answers) };
    for i in 0..n {
        // SAFETY: Linux-PAM passes an array of n message pointers.
        let m = unsafe { *msgs.add(i) };
        if m.is_null() {
            continue;
        }
        // SAFETY: m points to a valid pam_message for the call's duration.
        let style = unsafe { (*m).msg_style };
        let answer = match style {
            PAM_PROMPT_ECHO_OFF => Some(answers.password.as_c_str()),
            PAM_PROMPT_ECHO_ON => Some(answers.user.as_c_str()),
            // Info and error texts: nothing to answer (no browser dialogue yet).
            _ => None,
        };
        if let Some(a) = answer {
            let p = c_dup(a);
            if p.is_null() {
                free_responses(out, n);
                return PAM_BUF_ERR;
            }
            // SAFETY: out has n elements, i < n.
            unsafe { (*out.add(i)).resp = p };
        }
    }
    // SAFETY: resp is a valid out-pointer given by PAM.
    unsafe { *resp = out };
    PAM_SUCCESS
}

fn free_responses(out: *mut PamResponse, n: usize) {
    for i in 0..n {
        // SAFETY: out has n elements; each resp is NULL or from strdup.
        unsafe {
            let r = (*out.add(i)).resp;
            if !r.is_null() {
                libc::explicit_bzero(r as *mut c_void, libc::strlen(r));
                libc::free(r as *mut c_void);
            }
        }
    }
    // SAFETY: out came from calloc.
    unsafe { libc::free(out as *mut c_void) };
}

#[derive(Debug)]
pub enum Outcome {
    /// The canonical user name PAM ended with.
    Ok(String),
    /// Authentication or account check refused, with PAM's reason.
    Denied(String),
}

fn strerror(h: *mut PamHandle, rc: c_int) -> String {
    // SAFETY: pam_strerror returns a static string (or NULL).
    let p = unsafe { pam_strerror(h, rc) };
    if p.is_null() {
        return format!("PAM error {rc}");
    }
    // SAFETY: non-NULL, NUL-terminated.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// One authentication: pam_start, PAM_RHOST, pam_authenticate,
/// pam_acct_mgmt, the canonical PAM_USER, pam_end. Never opens a session.
pub fn authenticate(service: &str, user: &str, password: Vec<u8>, rhost: &str) -> Outcome {
    let (Ok(svc), Ok(cuser), Ok(crhost)) = (
        CString::new(service),
        CString::new(user),
        CString::new(rhost),
    ) else {
        return Outcome::Denied("NUL byte in input".into());
    };
    let Ok(cpass) = CString::new(password) else {
        return Outcome::Denied("NUL byte in input".into());
    };
    let answers = Box::new(Answers {
        user: cuser.clone(),
        password: cpass,
    });
    let conv = PamConv {
        conv: converse,
        appdata_ptr: &*answers as *const Answers as *mut c_void,
    };
    let mut h: *mut PamHandle = ptr::null_mut();
    // SAFETY: valid strings and conv, all alive until pam_end below.
    let rc = unsafe { pam_start(svc.as_ptr(), cuser.as_ptr(), &conv, &mut h) };
    if rc != PAM_SUCCESS || h.is_null() {
        return Outcome::Denied(format!("pam_start failed ({rc})"));
    }
    let result = (|| {
        // SAFETY: h is a live handle; PAM copies the string.
        let rc = unsafe { pam_set_item(h, PAM_RHOST, crhost.as_ptr() as *const c_void) };
        if rc != PAM_SUCCESS {
            return (rc, Outcome::Denied(strerror(h, rc)));
        }
        // SAFETY: live handle.
        let rc = unsafe { pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK) };
        if rc != PAM_SUCCESS {
            return (rc, Outcome::Denied(strerror(h, rc)));
        }
        // Expired accounts and passwords (PAM_NEW_AUTHTOK_REQD) are refused:
        // the web UI has no password change.
        // SAFETY: live handle.
        let rc = unsafe { pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK) };
        if rc != PAM_SUCCESS {
            return (rc, Outcome::Denied(strerror(h, rc)));
        }
        let mut item: *const c_void = ptr::null();
        // SAFETY: live handle; item points into PAM's memory until pam_end.
        let rc = unsafe { pam_get_item(h, PAM_USER, &mut item) };
        if rc != PAM_SUCCESS || item.is_null() {
            return (
                rc,
                Outcome::Denied("no PAM_USER after authentication".into()),
            );
        }
        // SAFETY: PAM_USER is a NUL-terminated string owned by the handle.
        let name = unsafe { CStr::from_ptr(item as *const c_char) };
        (
            PAM_SUCCESS,
            Outcome::Ok(name.to_string_lossy().into_owned()),
        )
    })();
    // SAFETY: h is live and not used afterwards.
    unsafe { pam_end(h, result.0) };
    let mut answers = answers;
    let mut pw = std::mem::take(&mut answers.password).into_bytes_with_nul();
    // SAFETY: pw is a valid, owned buffer of pw.len() bytes.
    unsafe { libc::explicit_bzero(pw.as_mut_ptr() as *mut c_void, pw.len()) };
    result.1
}
