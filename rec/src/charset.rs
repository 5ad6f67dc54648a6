//! The session's terminal charset (rec/README.md "Terminal charsets"): what
//! the user's programs will use, nl_langinfo(CODESET) under the first
//! non-empty of LC_ALL, LC_CTYPE, LANG of the shell's environment, looked
//! up with newlocale/nl_langinfo_l (our own process locale is never
//! changed). UTF-8 and ASCII (the C locale) take the encoder's own UTF-8
//! path, byte for byte as before; the conversion of other charsets is
//! tlog_rs_format::charset.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

pub use tlog_rs_format::charset::{Charset, Conversion, UnknownCharset};

/// The locale name the user's programs will use for LC_CTYPE: the first
/// non-empty of LC_ALL, LC_CTYPE, LANG in `env`; "C" without one.
pub fn ctype_locale(env: &[(OsString, OsString)]) -> OsString {
    for name in ["LC_ALL", "LC_CTYPE", "LANG"] {
        // The last definition wins, as for getenv on a merged list.
        if let Some((_, v)) = env.iter().rev().find(|(k, _)| k == name) {
            if !v.is_empty() {
                return v.clone();
            }
        }
    }
    "C".into()
}

/// The charset of `locale` as nl_langinfo(CODESET) gives it, without
/// touching our own locale. `None` when the locale is not installed, or the
/// name is not one we let glibc look up (a path, too long).
pub fn codeset_of(locale: &OsStr) -> Option<String> {
    let bytes = locale.as_bytes();
    // glibc reads a name with a slash as a path; the set-uid recorder must
    // not load locale files from where the user points.
    if bytes.contains(&b'/') || bytes.len() > 255 {
        return None;
    }
    let c = CString::new(bytes).ok()?;
    // SAFETY: a valid NUL-terminated name; base 0 asks for a new object.
    let loc = unsafe { libc::newlocale(libc::LC_CTYPE_MASK, c.as_ptr(), std::ptr::null_mut()) };
    if loc.is_null() {
        return None;
    }
    // SAFETY: `loc` is a valid locale object; the returned string belongs
    // to it and is copied before the object is freed.
    let name = unsafe {
        let p = libc::nl_langinfo_l(libc::CODESET, loc);
        let s = (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned());
        libc::freelocale(loc);
        s
    };
    name.filter(|n| !n.is_empty())
}

/// The charset named in a locale string: `ru_RU.KOI8-R@mod` → `KOI8-R`.
pub fn codeset_in_name(locale: &OsStr) -> Option<&str> {
    let s = std::str::from_utf8(locale.as_bytes()).ok()?;
    let after = s.split_once('.')?.1;
    let cs = after.split('@').next().unwrap_or(after);
    (!cs.is_empty()).then_some(cs)
}

/// The session's charset from the shell's environment, and a warning when
/// it had to fall back. Fallbacks: a locale that is not installed gives the
/// charset its name spells (the terminal is set up for it even if the C
/// library will not be); a charset we cannot convert gives UTF-8 (recorded
/// as before: non-UTF-8 bytes go to `*_bin`, nothing is lost).
pub fn session_charset(env: &[(OsString, OsString)]) -> (Charset, Option<String>) {
    let locale = ctype_locale(env);
    let shown = locale.to_string_lossy();
    let (codeset, installed) = match codeset_of(&locale) {
        Some(cs) => (Some(cs), true),
        None => (codeset_in_name(&locale).map(str::to_string), false),
    };
    match codeset {
        Some(cs) => match cs.parse::<Charset>() {
            Ok(c) => {
                let warning = (!installed && c != Charset::Utf8).then(|| {
                    format!("locale {shown:?} is not installed; recording its charset {c} as named")
                });
                (c, warning)
            }
            Err(e) => (
                Charset::Utf8,
                Some(format!(
                    "locale {shown:?}: {e}; recording as UTF-8 (other bytes go to the log's binary fields)"
                )),
            ),
        },
        // "C"-like names, or a locale without a charset that is not installed.
        None if installed || locale == "C" || locale == "POSIX" => (Charset::Utf8, None),
        None => (
            Charset::Utf8,
            Some(format!(
                "locale {shown:?} is not installed and names no charset; recording as UTF-8"
            )),
        ),
    }
}

#[cfg(test)]
mod tests;
