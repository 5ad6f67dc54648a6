//! Login through the privileged helper `tlog-rs-web-auth` (one process per
//! attempt, so PAM modules never run inside the server and a blocking or
//! crashing module costs one child), then authorisation on the canonical
//! user's NSS groups.

use std::ffi::{CStr, CString};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// PAM can sleep (pam_faildelay) or wait on the network (sssd, krb5).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong user or password, expired account, ...: PAM's reason (logged,
    /// never shown to the browser).
    Denied(String),
    /// The helper could not run or answered nonsense.
    Helper(String),
}

/// Run the helper once; the canonical user name on success.
pub async fn authenticate(
    helper: &Path,
    user: &str,
    password: &str,
    rhost: &str,
) -> Result<String, LoginError> {
    let mut child = Command::new(helper)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LoginError::Helper(format!("{}: {e}", helper.display())))?;
    let mut input = Vec::with_capacity(user.len() + password.len() + rhost.len() + 3);
    for part in [user, password, rhost] {
        input.extend_from_slice(part.as_bytes());
        input.push(0);
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let run = async {
        stdin.write_all(&input).await?;
        drop(stdin);
        let mut out = String::new();
        stdout.read_to_string(&mut out).await?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((out, status))
    };
    let res = tokio::time::timeout(HELPER_TIMEOUT, run).await;
    input.fill(0);
    std::hint::black_box(&input);
    let (out, status) = match res {
        Err(_) => return Err(LoginError::Helper("timed out".into())),
        Ok(Err(e)) => return Err(LoginError::Helper(e.to_string())),
        Ok(Ok(v)) => v,
    };
    let line = out.lines().next().unwrap_or("");
    match (status.code(), line.split_once(' ')) {
        (Some(0), Some(("ok", name))) if valid_name(name) => Ok(name.to_string()),
        (Some(1), Some(("denied", why))) => Err(LoginError::Denied(why.to_string())),
        _ => Err(LoginError::Helper(format!(
            "unexpected answer ({status}): {line:?}"
        ))),
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 256 && !n.contains(|c: char| c.is_control() || c == '/')
}

/// The names of the NSS groups of `user` (primary group included), None if
/// the user is unknown to NSS.
pub fn groups(user: &str) -> Option<Vec<String>> {
    let cuser = CString::new(user).ok()?;
    let mut buf = vec![0u8; 16384];
    let mut pw: libc::passwd =
        // SAFETY: passwd is plain old data; zeroed is a valid value.
        unsafe { std::mem::zeroed() };
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers valid for the call; buf outlives pw's use.
    let rc = unsafe {
        libc::getpwnam_r(
            cuser.as_ptr(),
            &mut pw,
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            &mut res,
        )
    };
    if rc != 0 || res.is_null() {
        return None;
    }
    let mut n: libc::c_int = 64;
    let mut gids: Vec<libc::gid_t> = vec![0; n as usize];
    loop {
        let cap = n;
        // SAFETY: gids has room for n entries; n is updated to the count.
        let r = unsafe { libc::getgrouplist(cuser.as_ptr(), pw.pw_gid, gids.as_mut_ptr(), &mut n) };
        if r >= 0 {
            gids.truncate(n.max(0) as usize);
            break;
        }
        if n <= cap {
            n = cap * 2;
        }
        if n > 65536 {
            return None;
        }
        gids.resize(n as usize, 0);
    }
    let mut names = Vec::new();
    for g in gids {
        if let Some(name) = group_name(g) {
            names.push(name);
        }
    }
    Some(names)
}

fn group_name(gid: libc::gid_t) -> Option<String> {
    let mut buf = vec![0u8; 16384];
    loop {
        // SAFETY: group is plain old data; zeroed is a valid value.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut res: *mut libc::group = std::ptr::null_mut();
        // SAFETY: pointers valid for the call.
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                &mut gr,
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
                &mut res,
            )
        };
        if rc == libc::ERANGE && buf.len() < (1 << 22) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || res.is_null() {
            return None;
        }
        // SAFETY: gr_name is a NUL-terminated string inside buf.
        return Some(
            unsafe { CStr::from_ptr(gr.gr_name) }
                .to_string_lossy()
                .into_owned(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_in_its_primary_group() {
        let g = groups("root").expect("root exists");
        assert!(g.iter().any(|n| n == "root"), "{g:?}");
        assert_eq!(groups("no-such-user-tlog-rs-web"), None);
    }

    #[test]
    fn helper_answers_are_checked() {
        assert!(valid_name("alice"));
        assert!(!valid_name(""));
        assert!(!valid_name("a\nb"));
        assert!(!valid_name("../x"));
    }
}
