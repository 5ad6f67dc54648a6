//! Robustness of pam_tlog.so as guest code, driven through the real libpam
//! (pam_start / pam_open_session / pam_getenvlist) inside a world's mount
//! namespace: no thread is left behind after open_session, nothing is
//! written to stdout or stderr, the PAM environment is right, and with a
//! build that has the `fault-injection` feature a forced panic or internal
//! error neither crashes the host nor lets a fail=closed session through.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use tlog_rs_tests::sshd::{World, WorldConfig};
use tlog_rs_tests::{require_root, target_dir};

const CHILD_ENV: &str = "TLOG_RS_PAM_CHILD";

/// pam_tlog.so built with `--features fault-injection`, in its own target
/// dir (so the normal artifact is not replaced under other tests).
fn fault_build() -> PathBuf {
    let target = target_dir().parent().unwrap().join("fault-injection");
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "-q",
            "-p",
            "pam_tlog",
            "--features",
            "fault-injection",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("cargo");
    assert!(
        out.status.success(),
        "building the fault-injection module: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug/libpam_tlog.so")
}

#[test]
fn pam_module_is_silent_threadless_and_survives_faults() {
    if !require_root("pam_module_is_silent_threadless_and_survives_faults") {
        return;
    }
    let fault = fault_build();
    let mut cfg = WorldConfig::new("pam-robust");
    cfg.user("alice", &[]).user("bob", &[]);
    cfg.policy("[[rule]]\nname = \"alice\"\nusers = [\"alice\"]\n");
    let f = fault.display();
    cfg.etc_file(
        "pam.d/tlog-robust",
        "session required {T}/lib/pam_tlog.so\n",
        0o644,
    );
    cfg.etc_file(
        "pam.d/tlog-panic-closed",
        &format!("session required {f} fault=panic\n"),
        0o644,
    );
    cfg.etc_file(
        "pam.d/tlog-error-closed",
        &format!("session required {f} fault=error\n"),
        0o644,
    );
    cfg.etc_file(
        "pam.d/tlog-panic-open",
        &format!("session required pam_permit.so\nsession required {f} fail=open fault=panic\n"),
        0o644,
    );
    let w = World::start(cfg);
    let me = std::env::current_exe().unwrap();
    let out = Command::new("nsenter")
        .args(["-t", &w.sshd_pid().to_string(), "-m", "--"])
        .arg(&me)
        .args([
            "--exact",
            "pam_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("PAM-CHILD-OK"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

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
#[repr(C)]
struct PamConv {
    conv: extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int,
    appdata: *mut c_void,
}

static MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

extern "C" fn conv(
    n: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    _: *mut c_void,
) -> c_int {
    for i in 0..n as usize {
        // SAFETY: libpam passes n valid message pointers.
        let m = unsafe { &**msg.add(i) };
        // SAFETY: NUL-terminated message text.
        let text = unsafe { CStr::from_ptr(m.msg) }
            .to_string_lossy()
            .into_owned();
        MESSAGES.lock().unwrap().push(text);
    }
    // SAFETY: libpam frees the responses with free(); calloc gives empty ones.
    unsafe { *resp = libc::calloc(n as usize, std::mem::size_of::<PamResponse>()).cast() };
    0
}

type StartFn =
    unsafe extern "C" fn(*const c_char, *const c_char, *const PamConv, *mut *mut c_void) -> c_int;
type HandleFn = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type EnvListFn = unsafe extern "C" fn(*mut c_void) -> *mut *mut c_char;

struct Pam {
    start: StartFn,
    open: HandleFn,
    close: HandleFn,
    end: HandleFn,
    envlist: EnvListFn,
}

fn libpam() -> Pam {
    // SAFETY: dlopen of the system libpam, kept loaded.
    let h = unsafe { libc::dlopen(c"libpam.so.0".as_ptr(), libc::RTLD_NOW) };
    assert!(!h.is_null());
    let s = |n: &CStr| {
        // SAFETY: valid handle and name.
        let p = unsafe { libc::dlsym(h, n.as_ptr()) };
        assert!(!p.is_null());
        p
    };
    // SAFETY: the libpam functions have these C signatures.
    unsafe {
        Pam {
            start: std::mem::transmute::<*mut c_void, StartFn>(s(c"pam_start")),
            open: std::mem::transmute::<*mut c_void, HandleFn>(s(c"pam_open_session")),
            close: std::mem::transmute::<*mut c_void, HandleFn>(s(c"pam_close_session")),
            end: std::mem::transmute::<*mut c_void, HandleFn>(s(c"pam_end")),
            envlist: std::mem::transmute::<*mut c_void, EnvListFn>(s(c"pam_getenvlist")),
        }
    }
}

fn tasks() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

struct Session {
    open_rc: c_int,
    env: Vec<String>,
    tasks_before: usize,
    tasks_after: usize,
    output: String,
}

/// One PAM transaction with fds 1 and 2 pointing at a file, so anything the
/// module writes there is caught.
fn session(pam: &Pam, service: &str, user: &str) -> Session {
    let capture = std::env::temp_dir().join(format!("tlog-pam-capture-{}", std::process::id()));
    let file = std::fs::File::create(&capture).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: dup/dup2 on valid descriptors; restored below.
    let (o, e) = unsafe { (libc::dup(1), libc::dup(2)) };
    // SAFETY: as above.
    unsafe {
        libc::dup2(file.as_raw_fd(), 1);
        libc::dup2(file.as_raw_fd(), 2);
    }
    let svc = CString::new(service).unwrap();
    let usr = CString::new(user).unwrap();
    let c = PamConv {
        conv,
        appdata: std::ptr::null_mut(),
    };
    let mut h: *mut c_void = std::ptr::null_mut();
    let tasks_before = tasks();
    // SAFETY: libpam API with valid arguments.
    let rc = unsafe { (pam.start)(svc.as_ptr(), usr.as_ptr(), &c, &mut h) };
    assert_eq!(rc, 0, "pam_start");
    // SAFETY: valid handle.
    let open_rc = unsafe { (pam.open)(h, 0) };
    let tasks_after = tasks();
    let mut env = Vec::new();
    // SAFETY: valid handle; the list and strings are malloc'd copies we own.
    unsafe {
        let list = (pam.envlist)(h);
        if !list.is_null() {
            let mut i = 0;
            while !(*list.add(i)).is_null() {
                env.push(CStr::from_ptr(*list.add(i)).to_string_lossy().into_owned());
                libc::free((*list.add(i)).cast());
                i += 1;
            }
            libc::free(list.cast());
        }
        if open_rc == 0 {
            (pam.close)(h, 0);
        }
        (pam.end)(h, open_rc);
    }
    // SAFETY: restore the saved descriptors.
    unsafe {
        libc::dup2(o, 1);
        libc::dup2(e, 2);
        libc::close(o);
        libc::close(e);
    }
    let output = std::fs::read_to_string(&capture).unwrap_or_default();
    let _ = std::fs::remove_file(&capture);
    Session {
        open_rc,
        env,
        tasks_before,
        tasks_after,
        output,
    }
}

#[test]
#[ignore = "child half of pam_module_is_silent_threadless_and_survives_faults"]
fn pam_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let pam = libpam();
    const PAM_SESSION_ERR: c_int = 14;

    let s = session(&pam, "tlog-robust", "alice");
    assert_eq!(s.open_rc, 0, "alice open_session");
    assert_eq!(s.tasks_before, s.tasks_after, "threads left behind");
    assert_eq!(s.output, "", "module wrote to stdout/stderr");
    let has = |env: &[String], k: &str| env.iter().any(|e| e.starts_with(&format!("{k}=")));
    for k in [
        "TLOG_REC_SHELL",
        "TLOG_REC_SESSION_SHELL",
        "TLOG_REC_CONF_TEXT",
        "TLOG_REC_SESSION_CONF_TEXT",
    ] {
        assert!(has(&s.env, k), "alice: {k} missing from {:?}", s.env);
    }
    // The hand-off is a file named after this process, not a variable.
    assert!(!has(&s.env, "TLOG_RS_HANDOFF"), "{:?}", s.env);
    assert!(
        s.env.iter().any(|e| e == "TLOG_REC_SHELL=/bin/bash"),
        "{:?}",
        s.env
    );
    // close_session removed the hand-off.
    assert_eq!(
        std::fs::read_dir("/run/tlog-rs/handoff")
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );

    let s = session(&pam, "tlog-robust", "bob");
    assert_eq!(s.open_rc, 0);
    assert_eq!(s.tasks_before, s.tasks_after);
    assert_eq!(s.output, "");
    assert!(
        !s.env.iter().any(|e| e.starts_with("TLOG_")),
        "bob: {:?}",
        s.env
    );

    MESSAGES.lock().unwrap().clear();
    let s = session(&pam, "tlog-panic-closed", "alice");
    assert_eq!(
        s.open_rc, PAM_SESSION_ERR,
        "panic with fail=closed must refuse"
    );
    assert_eq!(s.output, "", "panic message leaked to stderr");
    assert!(
        MESSAGES
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("login refused")),
        "no message to the user"
    );

    let s = session(&pam, "tlog-error-closed", "bob");
    assert_eq!(
        s.open_rc, PAM_SESSION_ERR,
        "internal error with fail=closed must refuse"
    );
    assert_eq!(s.output, "");

    let s = session(&pam, "tlog-panic-open", "alice");
    assert_eq!(
        s.open_rc, 0,
        "panic with fail=open must let the session open"
    );
    assert_eq!(s.output, "");
    assert!(!s.env.iter().any(|e| e.starts_with("TLOG_")), "{:?}", s.env);
    println!("PAM-CHILD-OK");
}
