//! Link settings for the module glibc loads into every process that
//! resolves a user, and for its policy-parsing fallback (which uses this
//! build script too).
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // Each cdylib gets the soname it is installed under (glibc dlopens
    // NSS modules by soname).
    let soname = match std::env::var("CARGO_PKG_NAME").as_deref() {
        Ok("nss_tlog_fallback") => "libnss_tlog_fallback.so",
        _ => "libnss_tlog.so.2",
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    static_unwinder();
}

/// Link the unwinder (libgcc_eh.a) into the module instead of depending on
/// libgcc_s.so.1: one library less for ld.so to find, map and relocate on
/// the first lookup of every process (about a sixth of the instructions the
/// module's first lookup costs). rustc asks for `-lgcc_s`; a `libgcc_s.a`
/// that is the compiler's libgcc_eh.a, in a search directory that comes
/// first, answers it. Panics are still caught inside the module (its copy of
/// the unwinder is private: the cdylib exports only the NSS symbols).
/// Without libgcc_eh.a, the module keeps the shared unwinder.
fn static_unwinder() {
    println!("cargo:rerun-if-env-changed=CC");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let eh = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    // Without the library, cc prints its bare name.
    let Some(eh) = eh.filter(|p| p.is_absolute() && p.is_file()) else {
        println!(
            "cargo:warning=libgcc_eh.a not found with {cc}: libnss_tlog.so.2 links libgcc_s.so.1"
        );
        return;
    };
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let link = out.join("libgcc_s.a");
    let _ = std::fs::remove_file(&link);
    if std::os::unix::fs::symlink(&eh, &link).is_ok() {
        println!("cargo:rustc-link-search=native={}", out.display());
        println!("cargo:rerun-if-changed={}", Path::new(&eh).display());
    }
}
