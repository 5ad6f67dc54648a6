//! Archive of a recording before it is purged: its messages as tlog JSON
//! Lines, gzip'd, in `ARCHIVE_DIR/HOST/REC.jsonl.gz`, written to a temporary
//! file that is fsync'd and renamed into place (never half written).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

/// A host name or rec id as one path component (never `..` or a `/`).
fn component(what: &str, s: &str) -> Result<String, String> {
    if s.is_empty() || s == "." || s == ".." || s.contains(['/', '\0']) {
        return Err(format!("{what} {s:?} cannot name an archive file"));
    }
    Ok(s.to_string())
}

/// Where recording (host, rec) is archived under `dir`.
pub fn path(dir: &Path, host: &str, rec: &str) -> Result<PathBuf, String> {
    Ok(dir
        .join(component("host", host)?)
        .join(format!("{}.jsonl.gz", component("rec", rec)?)))
}

/// fsync a directory, so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), String> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("{}: fsync: {e}", dir.display()))
}

/// Write `lines` (each without or with its newline) to the archive of
/// (host, rec); returns its path.
pub fn write(
    dir: &Path,
    host: &str,
    rec: &str,
    lines: impl IntoIterator<Item = Result<Vec<u8>, String>>,
) -> Result<PathBuf, String> {
    let dest = path(dir, host, rec)?;
    let parent = dest.parent().unwrap_or(dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = parent.join(format!(".{rec}.jsonl.gz.tmp{}", std::process::id()));
    let res = (|| {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut gz = GzEncoder::new(f, Compression::default());
        let werr = |e: std::io::Error| format!("{}: {e}", tmp.display());
        for line in lines {
            let line = line?;
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            gz.write_all(line).map_err(werr)?;
            gz.write_all(b"\n").map_err(werr)?;
        }
        let f = gz.finish().map_err(werr)?;
        f.sync_all().map_err(werr)?;
        fs::rename(&tmp, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        sync_dir(parent)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map(|()| dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn archive_holds_the_lines_and_no_temp_file_is_left() {
        let d = tempfile::tempdir().unwrap();
        let lines = vec![Ok(b"{\"a\":1}\n".to_vec()), Ok(b"{\"b\":2}".to_vec())];
        let p = write(d.path(), "h1", "r-1", lines).unwrap();
        assert_eq!(p, d.path().join("h1/r-1.jsonl.gz"));
        let mut s = String::new();
        GzDecoder::new(File::open(&p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(fs::read_dir(d.path().join("h1")).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_source_leaves_no_archive() {
        let d = tempfile::tempdir().unwrap();
        let lines = vec![Ok(b"x".to_vec()), Err("gone".to_string())];
        assert_eq!(write(d.path(), "h", "r", lines).unwrap_err(), "gone");
        assert_eq!(fs::read_dir(d.path().join("h")).unwrap().count(), 0);
    }

    #[test]
    fn names_that_escape_the_dir_are_refused() {
        let d = Path::new("/a");
        assert!(path(d, "..", "r").is_err());
        assert!(path(d, "h", "x/y").is_err());
        assert!(path(d, "", "r").is_err());
    }
}
