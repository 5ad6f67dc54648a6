use crate::error::ParseError;

/// One parsed tlog message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub ver: String,
    pub host: String,
    pub rec: Option<String>,
    pub user: String,
    pub term: String,
    pub session: u32,
    pub id: u64,
    /// Milliseconds from the start of the recording.
    pub pos: u64,
    /// As written, e.g. "1795700846.847".
    pub time: Option<String>,
    pub timing: String,
    pub in_txt: String,
    pub in_bin: Vec<u8>,
    pub out_txt: String,
    pub out_bin: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketData {
    Input(Vec<u8>),
    Output(Vec<u8>),
    Window { cols: u16, rows: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Milliseconds since the recording start: `pos` + accumulated delays.
    pub ts: u64,
    pub data: PacketData,
}

pub fn parse_message(_line: &[u8]) -> Result<Message, ParseError> {
    Err(ParseError::new(None, "not implemented"))
}

impl Message {
    pub fn packets(&self) -> Result<Vec<Packet>, ParseError> {
        Err(ParseError::field("timing", "not implemented"))
    }
}
