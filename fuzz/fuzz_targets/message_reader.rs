//! The reader on arbitrary input: one line through `parse_message` +
//! `packets`, the whole input through the streaming `Reader` (strict and
//! lax). Whatever decodes must survive a round trip through the encoder:
//! re-encoding the packets and reading them back gives the same bytes.
#![no_main]

use std::io::Cursor;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tlog_rs_format::{parse_message, Encoder, PacketData, Reader, RecHeader};

fn streams(packets: &[tlog_rs_format::Packet]) -> (Vec<u8>, Vec<u8>) {
    let (mut i, mut o) = (Vec::new(), Vec::new());
    for p in packets {
        match &p.data {
            PacketData::Input(d) => i.extend_from_slice(d),
            PacketData::Output(d) => o.extend_from_slice(d),
            PacketData::Window { .. } => {}
        }
    }
    (i, o)
}

/// tlog-play requires a session id of at least 1.
fn header() -> RecHeader {
    RecHeader {
        session: 1,
        ..RecHeader::default()
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = parse_message(data) {
        if let Ok(packets) = msg.packets() {
            let mut enc = Encoder::new(header(), 64, UNIX_EPOCH);
            for p in &packets {
                let t = Duration::from_millis(p.ts);
                match &p.data {
                    PacketData::Input(d) => enc.input(t, d),
                    PacketData::Output(d) => enc.output(t, d),
                    PacketData::Window { cols, rows } => enc.window(t, *cols, *rows),
                }
            }
            enc.cut();
            enc.flush();
            let mut log = Vec::new();
            while let Some(m) = enc.pop_message() {
                log.extend_from_slice(&m);
            }
            let mut r = Reader::new(Cursor::new(log));
            let mut back = Vec::new();
            while let Some(p) = r.next_packet().expect("our own log reads back") {
                back.push(p);
            }
            assert!(
                streams(&back) == streams(&packets),
                "bytes changed in a round trip"
            );
        }
    }
    for lax in [false, true] {
        let mut r = Reader::new(Cursor::new(data)).lax(lax);
        for _ in 0..10_000 {
            match r.next_packet() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
});
