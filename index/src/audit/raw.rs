//! Raw `audit.log` files (`tlog-rs index --audit-log FILE`), read whole on
//! every run: events are keyed by (node, id), so a second reading adds
//! nothing, and an event cut at the end of the file by a rotation or a
//! write in progress is replaced by its complete copy the next time.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::correlate::Touched;
use crate::ingest::Problem;
use crate::store::{Added, Result, Store};

/// Events new and already indexed, and bad lines, of one file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RawCounts {
    pub new: u64,
    pub duplicates: u64,
    pub bad_lines: u64,
}

/// Index one raw log; events without `node=` take `host`.
pub fn ingest(
    store: &mut dyn Store,
    path: &Path,
    host: Option<&str>,
    touched: &mut Touched,
    problems: &mut dyn FnMut(Problem),
) -> Result<RawCounts> {
    let mut counts = RawCounts::default();
    let problem = |line: Option<u64>, message: String| Problem {
        file: path.to_path_buf(),
        line,
        message,
    };
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            problems(problem(None, e.to_string()));
            return Ok(counts);
        }
    };
    store.begin()?;
    let mut failed = None;
    let mut bad = Vec::new();
    let read = super::event::read_raw(
        BufReader::with_capacity(1 << 20, f),
        host,
        &mut |e| {
            if failed.is_some() {
                return;
            }
            match store.audit().and_then(|a| a.add_audit_event(&e)) {
                Ok(Added::New) => {
                    counts.new += 1;
                    touched.event(&e);
                }
                Ok(_) => counts.duplicates += 1,
                Err(x) => failed = Some(x),
            }
        },
        &mut |line, msg| bad.push((line, msg)),
    );
    if let Some(e) = failed {
        return Err(e);
    }
    store.commit()?;
    counts.bad_lines = bad.len() as u64;
    for (line, msg) in bad {
        problems(problem((line > 0).then_some(line), msg));
    }
    if let Err(e) = read {
        problems(problem(None, format!("read error: {e}")));
    }
    Ok(counts)
}
