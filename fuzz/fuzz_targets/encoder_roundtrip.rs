//! The encoder on arbitrary packet streams (bytes read as operations):
//! every message fits the payload, reads back without error, and gives back
//! exactly the bytes and window sizes that went in.
#![no_main]

use std::io::Cursor;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tlog_rs_format::{Encoder, PacketData, Reader, RecHeader};

/// tlog-play requires a session id of at least 1.
fn header() -> RecHeader {
    RecHeader {
        session: 1,
        ..RecHeader::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&p, mut rest)) = data.split_first() else {
        return;
    };
    let payload = 32 + p as usize * 4;
    let mut enc = Encoder::new(header(), payload, UNIX_EPOCH);
    let (mut want_in, mut want_out, mut want_win) = (Vec::new(), Vec::new(), Vec::new());
    let mut t = 0u64;
    let mut log = Vec::new();
    while let Some((&op, r)) = rest.split_first() {
        rest = r;
        t += match op >> 5 {
            0 => 0,
            1 => 300_000,
            2 => 1_000_000,
            3 => 1_700_000_000,
            _ => (op & 7) as u64 * 1_000,
        };
        let ts = Duration::from_nanos(t);
        let len = ((op & 0x1f) as usize).min(rest.len());
        let (chunk, r) = rest.split_at(len);
        match op % 5 {
            0 => {
                enc.input(ts, chunk);
                want_in.extend_from_slice(chunk);
                rest = r;
            }
            1 | 2 => {
                enc.output(ts, chunk);
                want_out.extend_from_slice(chunk);
                rest = r;
            }
            3 => {
                let size = (op as u16 & 3, (op >> 2) as u16 & 3);
                enc.window(ts, size.0, size.1);
                if want_win.last() != Some(&size) {
                    want_win.push(size);
                }
            }
            _ => enc.flush(),
        }
        while let Some(m) = enc.pop_message() {
            log.extend_from_slice(&m);
        }
    }
    enc.cut();
    enc.flush();
    while let Some(m) = enc.pop_message() {
        log.extend_from_slice(&m);
    }
    let mut r = Reader::new(Cursor::new(log));
    let (mut got_in, mut got_out, mut got_win) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(p) = r.next_packet().expect("our own log reads back") {
        match p.data {
            PacketData::Input(d) => got_in.extend(d),
            PacketData::Output(d) => got_out.extend(d),
            PacketData::Window { cols, rows } => got_win.push((cols, rows)),
        }
    }
    assert!(got_in == want_in && got_out == want_out, "bytes changed");
    assert_eq!(got_win, want_win);
});
