//! Errors with a location an admin can act on: `FILE:LINE: what is wrong`.

use std::fmt;
use std::io;

/// What kind of problem a [`PolicyError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file does not exist.
    NotFound,
    /// The file exists but cannot be read (permissions, I/O error, not UTF-8).
    Unreadable,
    /// The file was read but its content is wrong (syntax, unknown key, bad value).
    Invalid,
}

/// A problem in one policy source. `Display` = `FILE:LINE: message` (or
/// `FILE: message` when no line applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    pub kind: ErrorKind,
}

impl PolicyError {
    /// An error about the content of `file` (kind `Invalid`).
    pub fn new(file: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        PolicyError {
            file: file.into(),
            line,
            message: message.into(),
            kind: ErrorKind::Invalid,
        }
    }

    /// An error opening or reading `file`.
    pub fn io(file: impl Into<String>, err: &io::Error) -> Self {
        let kind = if err.kind() == io::ErrorKind::NotFound {
            ErrorKind::NotFound
        } else {
            ErrorKind::Unreadable
        };
        let message = match err.kind() {
            io::ErrorKind::NotFound => "file not found".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            io::ErrorKind::InvalidData => "file is not valid UTF-8".to_string(),
            _ => format!("cannot read: {err}"),
        };
        PolicyError {
            file: file.into(),
            line: None,
            message,
            kind,
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
