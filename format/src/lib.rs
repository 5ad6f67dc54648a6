//! tlog JSON log format (message version "2.3"), compatible byte for byte with
//! tlog 12.1: an [`Encoder`] that turns I/O packets into message lines, and a
//! [`Reader`] / [`parse_message`] that turns lines back into packets with the
//! same checks as `tlog-play`.

mod encoder;
mod error;
mod escape;
mod message;
mod reader;
mod timing;
mod utf8;

pub use encoder::{Encoder, RecHeader, MIN_PAYLOAD};
pub use error::{ParseError, ReadError};
pub use message::{parse_message, Message, Packet, PacketData, MAX_PACKET_IO};
pub use reader::Reader;
pub use timing::{parse_timing, TimingRecord, MAX_DELAY_MS};
