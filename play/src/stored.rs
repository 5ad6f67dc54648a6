//! Recordings held in a central store (`play --db`, `export --db`). This
//! crate does not know the index: the `tlog-rs` binary passes an opener
//! (the index crate's) that turns the arguments into message lines in id
//! order, optionally starting at a stored keyframe.

use std::io::BufRead;
use std::path::PathBuf;

use tlog_rs_format::Packet;

use crate::asciicast::Meta;

/// What names a stored recording on the command line.
#[derive(Debug, Clone, Default)]
pub struct StoredArgs {
    /// `--db`: a SQLite path or `postgres://…` (None: the config's).
    pub db: Option<String>,
    /// `--config`: the central config (None: the default path).
    pub config: Option<PathBuf>,
    /// `--host`, when the rec id exists on several hosts.
    pub host: Option<String>,
    pub rec: String,
}

impl StoredArgs {
    /// True if the options ask for the central store.
    pub fn wanted(&self) -> bool {
        self.db.is_some() || self.config.is_some()
    }
}

/// A recording read back from its stores.
pub struct Stored {
    /// For messages: "REC on HOST".
    pub name: String,
    /// Played before `lines`: when starting at a keyframe, the window size
    /// and the keyframe's painting sequence (both at the keyframe's time),
    /// then the rest of the keyframe's message.
    pub lead: Vec<Packet>,
    /// The (following) messages, one per line, in id order.
    pub lines: Box<dyn BufRead + Send>,
    /// Time (ms) of the keyframe started from, if any.
    pub keyframe_ms: Option<u64>,
    pub meta: Meta,
}

/// Opens a stored recording; `at`: start from the last keyframe at or
/// before this time (ms), else from the first message.
pub type OpenStored = dyn Fn(&StoredArgs, Option<u64>) -> Result<Stored, String>;
