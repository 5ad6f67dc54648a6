//! Rewrite of a JSON Lines store without some recordings: the file is
//! copied line by line, minus the lines whose `host` and `rec` name a
//! purged recording, into a temporary file beside it (same mode and
//! owner) that is fsync'd and renamed over it. Other lines are copied
//! byte for byte; their new offsets are returned for the index.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// What a rewrite removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// Start offset and length of each removed line, in file order.
    pub removed: Vec<(u64, u64)>,
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
}

impl Rewrite {
    /// The new offset of what was at `old` (a line start or the end).
    pub fn offset(&self, old: u64) -> u64 {
        old - self
            .removed
            .iter()
            .take_while(|(s, _)| *s < old)
            .map(|(_, l)| *l)
            .sum::<u64>()
    }

    /// Removed lines before `old`.
    pub fn lines_before(&self, old: u64) -> u64 {
        self.removed.iter().take_while(|(s, _)| *s < old).count() as u64
    }
}

/// (host, rec) of a line, if it is a JSON object with both.
fn key_of(line: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let s = |k: &str| v.get(k)?.as_str().map(String::from);
    Some((s("host")?, s("rec")?))
}

/// Planned only: how many lines of `path` would go.
pub fn count(path: &Path, drop: &HashSet<(String, String)>) -> Result<u64, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut n = 0;
    for line in BufReader::new(f).split(b'\n') {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if key_of(&line).is_some_and(|k| drop.contains(&k)) {
            n += 1;
        }
    }
    Ok(n)
}

/// Rewrite `path` without the lines of the recordings in `drop`. Nothing
/// is changed when no line matches (`removed` is then empty).
pub fn rewrite(path: &Path, drop: &HashSet<(String, String)>) -> Result<Rewrite, String> {
    let e = |e: std::io::Error| format!("{}: {e}", path.display());
    let src = File::open(path).map_err(e)?;
    let meta = src.metadata().map_err(e)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.purge{}", std::process::id()));
    let mut removed = Vec::new();
    let res = (|| {
        let te = |e: std::io::Error| format!("{}: {e}", tmp.display());
        let out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(meta.mode() & 0o7777)
            .open(&tmp)
            .map_err(te)?;
        let mut w = BufWriter::new(out);
        let mut r = BufReader::new(&src);
        let (mut buf, mut at) = (Vec::new(), 0u64);
        loop {
            buf.clear();
            let n = r.read_until(b'\n', &mut buf).map_err(e)? as u64;
            if n == 0 {
                break;
            }
            let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
            if key_of(body).is_some_and(|k| drop.contains(&k)) {
                removed.push((at, n));
            } else {
                w.write_all(&buf).map_err(te)?;
            }
            at += n;
        }
        let out = w.into_inner().map_err(|e| te(e.into_error()))?;
        if removed.is_empty() {
            return Ok(None);
        }
        // A store still being appended to would lose the new lines.
        if fs::metadata(path).map_err(e)?.len() != at {
            return Err(format!(
                "{}: written to during the purge; run tlog-rs purge again",
                path.display()
            ));
        }
        std::os::unix::fs::fchown(&out, Some(meta.uid()), Some(meta.gid())).map_err(te)?;
        out.sync_all().map_err(te)?;
        let m = out.metadata().map_err(te)?;
        fs::rename(&tmp, path).map_err(e)?;
        crate::archive::sync_dir(dir)?;
        Ok(Some((m.dev(), m.ino(), m.len())))
    })();
    match res {
        Ok(Some((dev, ino, len))) => Ok(Rewrite {
            removed,
            dev,
            ino,
            len,
        }),
        Ok(None) => {
            let _ = fs::remove_file(&tmp);
            Ok(Rewrite {
                removed,
                dev: meta.dev(),
                ino: meta.ino(),
                len: meta.len(),
            })
        }
        Err(err) => {
            let _ = fs::remove_file(&tmp);
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[(&str, &str)]) -> HashSet<(String, String)> {
        v.iter()
            .map(|(h, r)| (h.to_string(), r.to_string()))
            .collect()
    }

    #[test]
    fn others_lines_stay_byte_identical_and_offsets_follow() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("2026-01-01.jsonl");
        let a1 = "{\"host\":\"h\",\"rec\":\"a\",\"id\":1}\n";
        let b1 = "{ \"rec\" : \"b\", \"host\":\"h\", \"id\":1}\n";
        let a2 = "{\"host\":\"h\",\"rec\":\"a\",\"id\":2}\n";
        let junk = "not json\n";
        let b2 = "{\"host\":\"h\",\"rec\":\"b\",\"id\":2}";
        fs::write(&p, format!("{a1}{b1}{a2}{junk}{b2}")).unwrap();
        let drop = set(&[("h", "a")]);
        assert_eq!(count(&p, &drop).unwrap(), 2);
        let r = rewrite(&p, &drop).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), format!("{b1}{junk}{b2}"));
        let (la, lb) = (a1.len() as u64, b1.len() as u64);
        assert_eq!(r.removed, vec![(0, la), (la + lb, a2.len() as u64)]);
        assert_eq!(r.offset(la), 0);
        let junk_at = la + lb + a2.len() as u64;
        assert_eq!(r.offset(junk_at), lb);
        assert_eq!(r.lines_before(junk_at), 2);
        assert_eq!(r.len, fs::metadata(&p).unwrap().len());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn nothing_to_remove_leaves_the_file_alone() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.jsonl");
        fs::write(&p, "{\"host\":\"h\",\"rec\":\"b\"}\n").unwrap();
        let ino = fs::metadata(&p).unwrap().ino();
        let r = rewrite(&p, &set(&[("h", "a")])).unwrap();
        assert!(r.removed.is_empty());
        assert_eq!(r.ino, ino);
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
    }

    #[test]
    fn same_rec_on_another_host_is_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.jsonl");
        let other = "{\"host\":\"h2\",\"rec\":\"a\"}\n";
        fs::write(&p, format!("{{\"host\":\"h\",\"rec\":\"a\"}}\n{other}")).unwrap();
        rewrite(&p, &set(&[("h", "a")])).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), other);
    }
}
