//! Playback and audit of tlog recordings: `tlog-rs play` (timed playback
//! like tlog-play, plus rewind and instant seek through an in-process
//! terminal emulator), `tlog-rs list` and `tlog-rs export --format
//! asciicast`. `cli::run` is the entry point used by the `tlog-rs` binary.

mod args;
pub mod asciicast;
pub mod cli;
pub mod clock;
pub mod escstate;
pub mod feed;
pub mod integrity;
pub mod interactive;
pub mod keys;
pub mod list;
pub mod options;
pub mod raw;
pub mod render;
pub mod source;
pub mod stored;
pub mod stream;
pub mod term;
pub mod timeline;
pub mod timestr;

pub use cli::{run, run_with};
