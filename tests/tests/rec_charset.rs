//! Non-UTF-8 terminals (issue 13): the recorder finds the session's charset
//! from the shell's LC_ALL / LC_CTYPE / LANG as the C library does, records
//! UTF-8 text, puts bytes invalid in that charset in `out_bin`, joins
//! characters split across reads; Debian's tlog-play shows the text and
//! `tlog-rs export --format raw --charset` gives the original bytes back.
//! Each session runs in a real pty (`script`); the program writes its bytes
//! in two writes with a pause, cutting a character in two. Locales are
//! compiled with localedef into a private LOCPATH (package `locales`).
//!
//! Expected bytes are written out by hand from the charsets' tables, not
//! produced by the converter under test.

use std::path::Path;
use std::process::{Command, Stdio};

use tlog_rs_tests::play::tlog_rs;
use tlog_rs_tests::rec::{events, messages, play, rec_bin, sq, TempDir};
use tlog_rs_tests::{require_program, text};

struct Case {
    /// `(source, charmap, name)` to compile with localedef; `None`: the
    /// locale is not installed and the recorder goes by its name.
    locale: Option<(&'static str, &'static str, &'static str)>,
    /// The shell's locale variables.
    env: &'static [(&'static str, &'static str)],
    /// The start entry's `charset`.
    charset: &'static str,
    /// The text the program writes, and its bytes in the charset.
    text: &'static str,
    bytes: &'static [u8],
    /// Where the first write stops (inside a character where there are
    /// multi-byte ones).
    split: usize,
    /// Bytes invalid in the charset, written after the text.
    invalid: &'static [u8],
}

fn compile_locale(dir: &TempDir, source: &str, charmap: &str, name: &str) {
    let localedef = require_program("localedef", "libc-bin");
    assert!(
        Path::new("/usr/share/i18n/charmaps").is_dir(),
        "the locale sources are missing: install package locales"
    );
    // -c: Shift_JIS is not ASCII-compatible at 0x5C and 0x7E, which
    // localedef reports with exit status 1 while writing the locale.
    let out = Command::new(localedef)
        .args(["--no-archive", "-c", "-i", source, "-f", charmap])
        .arg(dir.path(name))
        .stdin(Stdio::null())
        .output()
        .expect("run localedef");
    assert!(
        dir.path(name).join("LC_CTYPE").exists(),
        "localedef {source} {charmap} failed: {}",
        text(&out.stderr)
    );
}

/// Records the case in a pty; returns (log, what the terminal showed).
fn record(dir: &TempDir, case: &Case) -> (std::path::PathBuf, Vec<u8>) {
    if let Some((source, charmap, name)) = case.locale {
        compile_locale(dir, source, charmap, name);
    }
    let first = dir.write("first", &case.bytes[..case.split]);
    let mut rest = case.bytes[case.split..].to_vec();
    rest.extend_from_slice(case.invalid);
    rest.extend_from_slice(b" ok");
    let second = dir.write("second", &rest);
    let log = dir.path("rec.log");
    let mut env = format!(
        "env -u LC_ALL -u LC_CTYPE -u LANG LOCPATH={}",
        sq(&dir.0.display().to_string())
    );
    for (k, v) in case.env {
        env.push_str(&format!(" {k}={}", sq(v)));
    }
    let program = format!(
        "cat {}; sleep 0.3; cat {}",
        sq(&first.display().to_string()),
        sq(&second.display().to_string())
    );
    let cmdline = format!(
        "{env} {} -o {} /bin/sh -c {}",
        sq(&rec_bin().display().to_string()),
        sq(&log.display().to_string()),
        sq(&program)
    );
    let out = in_quiet_pty(&cmdline);
    assert!(
        out.status.success(),
        "recording failed: {}",
        text(&out.stdout)
    );
    (log, out.stdout)
}

/// `script` with its stdin a pipe kept open: at EOF on /dev/null script
/// types a character into the session, whose echo could land between the
/// two writes.
fn in_quiet_pty(cmdline: &str) -> std::process::Output {
    let script = require_program("script", "bsdutils");
    let mut child = Command::new(script)
        .args(["-qec", cmdline, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script");
    let _keep_open = child.stdin.take();
    child.wait_with_output().expect("script output")
}

fn export_raw(log: &Path, charset: &str) -> Vec<u8> {
    let o = Command::new(tlog_rs())
        .args(["export", "--format", "raw", "--charset", charset])
        .arg(log)
        .stdin(Stdio::null())
        .output()
        .expect("run tlog-rs export");
    assert!(o.status.success(), "export failed: {}", text(&o.stderr));
    o.stdout
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn check(case: Case) -> Vec<u8> {
    let dir = TempDir::new("charset");
    let (log, shown) = record(&dir, &case);
    let mut original = case.bytes.to_vec();
    original.extend_from_slice(case.invalid);
    original.extend_from_slice(b" ok");
    assert!(contains(&shown, &original), "the terminal got other bytes");

    let ev = events(&log);
    assert_eq!(ev[0]["event"], "start");
    assert_eq!(ev[0]["charset"], case.charset, "{}", ev[0]);
    assert_eq!(ev.last().unwrap()["charset"], case.charset);

    let msgs = messages(&log);
    let out_txt: String = msgs
        .iter()
        .map(|m| m["out_txt"].as_str().unwrap())
        .collect();
    let out_bin: Vec<u8> = msgs
        .iter()
        .flat_map(|m| m["out_bin"].as_array().unwrap().clone())
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    let timing: String = msgs.iter().map(|m| m["timing"].as_str().unwrap()).collect();
    // The two writes came as two reads (a delay between them), and the
    // character they cut is whole in the text.
    assert!(timing.contains('+'), "one read only: {timing}");
    let mut want = case.text.to_string();
    if !case.invalid.is_empty() {
        want.push('\u{fffd}');
    }
    want.push_str(" ok");
    assert!(out_txt.contains(&want), "{out_txt:?} lacks {want:?}");
    assert_eq!(
        out_txt.matches('\u{fffd}').count(),
        usize::from(!case.invalid.is_empty())
    );
    assert_eq!(out_bin, case.invalid, "out_bin");

    // Players show the UTF-8 text (the invalid bytes as recorded).
    let mut shown_utf8 = case.text.as_bytes().to_vec();
    shown_utf8.extend_from_slice(case.invalid);
    shown_utf8.extend_from_slice(b" ok");
    assert!(contains(&play(&log, &[]), &shown_utf8), "tlog-play output");
    // And the export gives the terminal's bytes back.
    assert!(
        contains(&export_raw(&log, case.charset), &original),
        "export --charset"
    );
    shown
}

#[test]
fn iso_8859_1() {
    check(Case {
        locale: Some(("de_DE", "ISO-8859-1", "de_DE.ISO-8859-1")),
        env: &[("LANG", "de_DE.ISO-8859-1")],
        charset: "ISO-8859-1",
        text: "café ñ ÿ µ",
        bytes: b"caf\xe9 \xf1 \xff \xb5",
        split: 3,
        invalid: b"",
    });
}

#[test]
fn iso_8859_15() {
    check(Case {
        locale: Some(("fr_FR", "ISO-8859-15", "fr_FR.ISO-8859-15@euro")),
        env: &[("LC_ALL", "fr_FR.ISO-8859-15@euro"), ("LANG", "C.UTF-8")],
        charset: "ISO-8859-15",
        text: "5€ œuvre Žž",
        bytes: b"5\xa4 \xbduvre \xb4\xb8",
        split: 2,
        invalid: b"",
    });
}

/// A locale name that names no charset: only nl_langinfo(CODESET) can
/// tell; LC_CTYPE takes precedence over LANG.
#[test]
fn koi8_r_found_by_nl_langinfo() {
    check(Case {
        locale: Some(("ru_RU", "KOI8-R", "rukoi")),
        env: &[("LC_CTYPE", "rukoi"), ("LANG", "C.UTF-8")],
        charset: "KOI8-R",
        text: "привет, мир",
        bytes: b"\xd0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2",
        split: 3,
        invalid: b"",
    });
}

#[test]
fn euc_jp() {
    check(Case {
        locale: Some(("ja_JP", "EUC-JP", "ja_JP.eucJP")),
        env: &[("LANG", "ja_JP.eucJP")],
        charset: "EUC-JP",
        text: "日本語",
        bytes: b"\xc6\xfc\xcb\xdc\xb8\xec",
        split: 3,
        invalid: b"\xff",
    });
}

#[test]
fn shift_jis() {
    check(Case {
        locale: Some(("ja_JP", "SHIFT_JIS", "ja_JP.SJIS")),
        env: &[("LANG", "ja_JP.SJIS")],
        charset: "Shift_JIS",
        text: "日本語",
        bytes: b"\x93\xfa\x96\x7b\x8c\xea",
        split: 1,
        invalid: b"\xa0",
    });
}

/// Not installed (compiling GB18030 takes localedef long): the recorder
/// takes the charset the name spells and says so on the terminal. A
/// four-byte character is cut after its third byte.
#[test]
fn gb18030_from_the_locale_name() {
    let shown = check(Case {
        locale: None,
        env: &[("LANG", "zh_CN.GB18030")],
        charset: "gb18030",
        text: "中文𠀀",
        bytes: b"\xd6\xd0\xce\xc4\x95\x32\x82\x36",
        split: 7,
        invalid: b"\xff",
    });
    assert!(
        contains(&shown, b"locale \"zh_CN.GB18030\" is not installed"),
        "{}",
        text(&shown)
    );
}

/// UTF-8 sessions are recorded as before: no conversion, the start entry
/// says UTF-8, a broken UTF-8 byte goes to out_bin.
#[test]
fn utf8_is_unchanged() {
    check(Case {
        locale: None,
        env: &[("LANG", "C.UTF-8")],
        charset: "UTF-8",
        text: "日本語",
        bytes: "日本語".as_bytes(),
        split: 4,
        invalid: b"\xff",
    });
}
