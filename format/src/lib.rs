//! tlog JSON log format (message version "2.3"), compatible byte for byte with
//! tlog 12.1: an [`Encoder`] that turns I/O packets into message lines, and a
//! [`Reader`] / [`parse_message`] that turns lines back into packets with the
//! same checks as `tlog-play`.
//!
//! # Writer
//! Field order, escaping, the UTF-8 text/binary split, run closing, delay
//! truncation (with tlog's drift), payload reservation and window repetition
//! follow tlog 12.1's json_sink/json_chunk/json_stream; the tests re-encode
//! real tlog recordings byte for byte. Deliberate differences, all in cases
//! where tlog produces an unplayable log or hangs:
//! * `pos` never goes back: a broken or cut character keeps the time of its
//!   last byte, which can predate the previous message; tlog then writes a
//!   `pos` that tlog-play rejects ("Packet timestamp is out of order").
//! * At the end of a recording, if the pending characters of both streams do
//!   not fit together in an empty message (payload near 32 and a wide
//!   window), they are written one per message; tlog retries forever.
//! * A payload below 32 is clamped to 32; a timestamp earlier than the
//!   previous one counts as equal to it.
//!
//! # Reader
//! Accepts what tlog-play accepts (`ver` int or "N[.M]" with N <= 2, optional
//! `rec`/`time`/texts, `time` a JSON double, timing whitespace, zero-length
//! records, trailing garbage after the object) and rejects the rest, naming
//! the line and the field. It reads strict JSON with valid UTF-8: json-c's
//! extensions (comments, single quotes) and raw invalid UTF-8 inside strings,
//! which no tlog writer produces, are rejected.
// Guest code (or linked into it): no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod charset;
mod chunk;
mod encoder;
mod error;
mod escape;
mod message;
mod parse;
mod reader;
mod timing;
mod utf8;

pub use encoder::{Encoder, RecHeader, MIN_PAYLOAD};
pub use error::{ParseError, ParseKind, ReadError};
pub use message::{Message, Packet, PacketData, MAX_PACKET_IO};
pub use parse::parse_message;
pub use reader::Reader;
pub use timing::{parse_timing, TimingRecord, MAX_DELAY_MS};
