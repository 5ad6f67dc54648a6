use std::fmt;

/// Why one message (or one of its fields) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// JSON field at fault, when the error is about one field.
    pub field: Option<&'static str>,
    pub reason: String,
    pub kind: ParseKind,
}

/// The kind of rejection, for callers that act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseKind {
    /// The message or field is malformed.
    Invalid,
    /// A well-formed message out of sequence: its ID does not follow the
    /// previous one, or a timestamp goes back (several recordings in one
    /// file, or messages lost).
    OutOfOrder,
}

impl ParseError {
    pub(crate) fn new(field: Option<&'static str>, reason: impl Into<String>) -> Self {
        ParseError {
            field,
            reason: reason.into(),
            kind: ParseKind::Invalid,
        }
    }
    pub(crate) fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::new(Some(field), reason)
    }
    pub(crate) fn out_of_order(field: &'static str, reason: impl Into<String>) -> Self {
        ParseError {
            kind: ParseKind::OutOfOrder,
            ..Self::field(field, reason)
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "field \"{}\": {}", field, self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for ParseError {}

/// An error of the streaming [`crate::Reader`], with the 1-based line number.
/// I/O errors are reported with `error.field == None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub line: u64,
    pub error: ParseError,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

impl std::error::Error for ReadError {}
