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

const BATCH: usize = 1024;

/// Store the parsed events in one transaction.
fn store_all(
    store: &mut dyn Store,
    rx: std::sync::mpsc::Receiver<Vec<(super::AuditEvent, String)>>,
    counts: &mut RawCounts,
    touched: &mut Touched,
) -> Result<()> {
    store.begin()?;
    let audit = store.audit()?;
    for batch in rx {
        for (e, body) in batch {
            match audit.add_audit_event_as(&e, &body)? {
                Added::New => {
                    counts.new += 1;
                    touched.event(&e);
                }
                _ => counts.duplicates += 1,
            }
        }
    }
    store.commit()
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
    // Parsing (about two thirds of the work) runs on its own thread while
    // this one stores: events go over in batches.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(super::AuditEvent, String)>>(8);
    let (read, bad) = std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let mut bad = Vec::new();
            let mut batch = Vec::with_capacity(BATCH);
            let read = super::event::read_raw(
                BufReader::with_capacity(1 << 20, f),
                host,
                &mut |e| {
                    // Cannot fail: the event is plain data.
                    let body = super::event::stored_body(&e).unwrap_or_default();
                    batch.push((e, body));
                    if batch.len() == BATCH {
                        // A closed channel: the storing side failed and says why.
                        let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                    }
                },
                &mut |line, msg| bad.push((line, msg)),
            );
            let _ = tx.send(batch);
            (read, bad)
        });
        let stored = store_all(store, rx, &mut counts, touched);
        let parsed = parser.join().unwrap_or_else(|_| {
            (
                Err(std::io::Error::other("the audit parser panicked")),
                Vec::new(),
            )
        });
        stored.map(|()| parsed)
    })?;
    counts.bad_lines = bad.len() as u64;
    for (line, msg) in bad {
        problems(problem((line > 0).then_some(line), msg));
    }
    if let Err(e) = read {
        problems(problem(None, format!("read error: {e}")));
    }
    Ok(counts)
}
