//! Journal stores are never edited (journal files are append-only,
//! hash-chained and possibly sealed): a purge only names the files that
//! still hold the recording's entries, which go when journald rotates them
//! out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn journal_files(dir: &Path, out: &mut Vec<PathBuf>, depth: u32) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    v.sort();
    for p in v {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if p.is_dir() && depth > 0 {
            journal_files(&p, out, depth - 1);
        } else if name.is_some_and(|n| n.ends_with(".journal") || n.ends_with(".journal~")) {
            out.push(p);
        }
    }
}

/// The journal files of `loc` (a directory as given to `--journal`, or one
/// file) with entries of recording `rec`; `loc` itself when none can be
/// named (journalctl missing, or the entries are gone already).
pub fn files_with(loc: &Path, rec: &str) -> Vec<PathBuf> {
    let mut files = vec![];
    if loc.is_dir() {
        // DIR/MACHINE-ID/*.journal, or the files directly.
        journal_files(loc, &mut files, 1);
    } else {
        files.push(loc.to_path_buf());
    }
    let has = |f: &Path| {
        Command::new("journalctl")
            .arg("--file")
            .arg(f)
            .args(["-q", "-n", "1", "-o", "json"])
            .arg(format!("TLOG_REC={rec}"))
            .arg("+")
            .arg(format!("TLOG_RS_REC={rec}"))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
    };
    let found: Vec<PathBuf> = files.into_iter().filter(|f| has(f)).collect();
    if found.is_empty() {
        vec![loc.to_path_buf()]
    } else {
        found
    }
}
