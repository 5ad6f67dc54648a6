use std::io::BufRead;

use crate::error::ReadError;
use crate::message::{Message, Packet};

/// Streaming reader over a tlog JSON log.
pub struct Reader<R: BufRead> {
    r: R,
    lax: bool,
    rec: Option<String>,
    line: u64,
}

impl<R: BufRead> Reader<R> {
    pub fn new(r: R) -> Self {
        Reader { r, lax: false, rec: None, line: 0 }
    }
    pub fn lax(mut self, lax: bool) -> Self {
        self.lax = lax;
        self
    }
    pub fn match_rec(mut self, rec: Option<String>) -> Self {
        self.rec = rec;
        self
    }
    pub fn next_packet(&mut self) -> Result<Option<Packet>, ReadError> {
        let _ = (&mut self.r, self.lax, &self.rec, self.line);
        Ok(None)
    }
    pub fn next_message(&mut self) -> Result<Option<(u64, Message)>, ReadError> {
        Ok(None)
    }
}
