//! `tlog-rs index` / `search` entry points: one indexer per database, exit
//! statuses, missing index.

use std::ffi::OsString;
use std::os::fd::AsRawFd;

use tlog_rs_index::cli::{run_index, run_search};

fn args(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

#[test]
fn a_second_indexer_on_the_same_database_is_refused() {
    let dir = std::env::temp_dir().join(format!("tlog-rs-index-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/a.jsonl"), "not json\n").unwrap();
    let db = dir.join("i.db");
    let (db_s, src) = (db.to_str().unwrap(), dir.join("src"));
    let src_s = src.to_str().unwrap();
    // No index yet: search says so.
    assert_eq!(run_search(args(&["--db", db_s])), 2);
    // The bad line is reported: exit 1. The file is created private.
    assert_eq!(
        run_index(args(&["--db", db_s, "--jsonl", src_s, "--quiet"])),
        1
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Another run holds the lock: refused, exit 2.
    let f = std::fs::File::open(&db).unwrap();
    // SAFETY: flock on our own descriptor.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    assert_eq!(
        run_index(args(&["--db", db_s, "--jsonl", src_s, "--quiet"])),
        2
    );
    drop(f);
    assert_eq!(
        run_index(args(&["--db", db_s, "--jsonl", src_s, "--quiet"])),
        0,
        "nothing new"
    );
    // Nothing matches: exit 1; usage errors: 2.
    assert_eq!(run_search(args(&["--db", db_s, "--user", "nobody"])), 1);
    assert_eq!(
        run_search(args(&["--db", db_s, "--since", "next tuesday"])),
        2
    );
    assert_eq!(run_index(args(&["--db", db_s, "--bogus"])), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
