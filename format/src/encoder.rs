use std::time::{Duration, SystemTime};

/// Smallest payload tlog accepts; smaller values are clamped up to it.
pub const MIN_PAYLOAD: usize = 32;

/// The per-recording fields repeated in every message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecHeader {
    pub host: String,
    pub rec: String,
    pub user: String,
    pub term: String,
    pub session: u32,
}

/// Builds tlog messages from I/O packets.
pub struct Encoder {
    header: RecHeader,
    payload: usize,
    origin_real: SystemTime,
    done: std::collections::VecDeque<Vec<u8>>,
}

impl Encoder {
    /// `payload` below [`MIN_PAYLOAD`] is clamped to it (never panics).
    pub fn new(header: RecHeader, payload: usize, origin_real: SystemTime) -> Encoder {
        Encoder {
            header,
            payload: payload.max(MIN_PAYLOAD),
            origin_real,
            done: Default::default(),
        }
    }
    pub fn input(&mut self, _t: Duration, _data: &[u8]) {}
    pub fn output(&mut self, _t: Duration, _data: &[u8]) {}
    pub fn window(&mut self, _t: Duration, _cols: u16, _rows: u16) {}
    pub fn flush(&mut self) {}
    pub fn cut(&mut self) {}
    pub fn pop_message(&mut self) -> Option<Vec<u8>> {
        let _ = (&self.header, self.payload, self.origin_real);
        self.done.pop_front()
    }
    pub fn has_unflushed(&self) -> bool {
        false
    }
}
