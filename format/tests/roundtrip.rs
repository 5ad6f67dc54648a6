//! Property-style round trips (the fuzzing that runs in `cargo test`):
//! random packet streams with text, escapes, multi-byte characters split
//! across packets, invalid bytes, windows, sub-ms and long delays, random
//! payloads and latency flushes are encoded, then read back.

mod common;

use std::io::Cursor;
use std::time::{Duration, UNIX_EPOCH};

use common::{refeed, split_time, Rng};
use tlog_rs_format::{parse_message, Encoder, PacketData, Reader, RecHeader};

#[derive(Debug, Clone)]
enum Step {
    In(u64, Vec<u8>),
    Out(u64, Vec<u8>),
    Win(u64, u16, u16),
    Flush,
}

const PIECES: &[&[u8]] = &[
    b"hello ",
    b"\r\n",
    b"\"\\/\t\x08\x0c",
    b"\x00\x01\x1b[0m\x7f",
    "é".as_bytes(),
    "你好".as_bytes(),
    "😀".as_bytes(),
    b"\xe4\xbd",
    b"\xa0",
    b"\xf0\x9f\x98",
    b"\x80",
    b"\xff\xfe",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
];

/// Pieces that never leave a character pending at the end of a packet.
const WHOLE_PIECES: &[&[u8]] = &[
    b"hello ",
    b"\r\n",
    b"\"\\/\t\x08\x0c",
    b"\x00\x01\x1b[0m\x7f",
    "é".as_bytes(),
    "你好".as_bytes(),
    "😀".as_bytes(),
    b"\x80",
    b"\xff\xfe",
    b"\xc0\xaf",
];

fn random_data(rng: &mut Rng, whole: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let n = 1 + rng.below(12);
    let pieces = if whole { WHOLE_PIECES } else { PIECES };
    for _ in 0..n {
        match rng.below(10) {
            0 if !whole => {
                for _ in 0..rng.below(300) {
                    v.push(rng.next() as u8);
                }
            }
            1 => v.extend(std::iter::repeat_n(b'x', rng.below(600) as usize)),
            _ => v.extend_from_slice(pieces[rng.below(pieces.len() as u64) as usize]),
        }
    }
    v
}

/// With `whole`, no latency flushes and no characters split across packets:
/// then each message can be re-fed from its own content.
fn random_steps(rng: &mut Rng, whole: bool) -> Vec<Step> {
    let mut t: u64 = rng.below(5_000_000_000); // ns
    let mut steps = Vec::new();
    for _ in 0..1 + rng.below(40) {
        t += match rng.below(6) {
            0 | 1 => 0,
            2 => rng.below(1_000_000),
            3 => rng.below(50_000_000),
            4 => rng.below(3_000_000_000),
            _ => 1_000_000,
        };
        steps.push(match rng.below(12) {
            0 => Step::Win(t, rng.below(3) as u16 * 40, 24 + rng.below(2) as u16),
            1 if !whole => Step::Flush,
            1..=4 => Step::In(t, random_data(rng, whole)),
            _ => Step::Out(t, random_data(rng, whole)),
        });
    }
    steps
}

fn header() -> RecHeader {
    RecHeader {
        host: "h\u{e9}".into(),
        rec: "r-1".into(),
        user: "u\"".into(),
        term: "xterm".into(),
        session: 42,
    }
}

fn encode(steps: &[Step], payload: usize) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(
        header(),
        payload,
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
    );
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::In(t, d) => enc.input(Duration::from_nanos(*t), d),
            Step::Out(t, d) => enc.output(Duration::from_nanos(*t), d),
            Step::Win(t, c, r) => enc.window(Duration::from_nanos(*t), *c, *r),
            Step::Flush => enc.flush(),
        }
        while let Some(m) = enc.pop_message() {
            out.push(m);
        }
    }
    enc.cut();
    enc.flush();
    while let Some(m) = enc.pop_message() {
        out.push(m);
    }
    out
}

fn payload_of(line: &[u8]) -> usize {
    let v: serde_json::Value = serde_json::from_slice(line).unwrap();
    let s = std::str::from_utf8(line).unwrap();
    let esc_len = |f: &str| {
        let i = s.find(&format!("\"{f}\":\"")).unwrap() + f.len() + 4;
        let j = i + s[i..].find("\",\"").unwrap();
        j - i
    };
    let bin_len = |f: &str| {
        let a = v[f].as_array().unwrap();
        a.iter().map(|x| x.to_string().len()).sum::<usize>() + a.len().saturating_sub(1)
    };
    esc_len("timing")
        + esc_len("in_txt")
        + esc_len("out_txt")
        + bin_len("in_bin")
        + bin_len("out_bin")
}

#[test]
fn random_streams_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..200 {
        let whole = case % 2 == 1;
        let steps = random_steps(&mut rng, whole);
        let payload = [32, 33, 40, 64, 100, 257, 2048][rng.below(7) as usize];
        let lines = encode(&steps, payload);

        let mut want_in = Vec::new();
        let mut want_out = Vec::new();
        let mut want_win = Vec::new();
        for s in &steps {
            match s {
                Step::In(_, d) => want_in.extend_from_slice(d),
                Step::Out(_, d) => want_out.extend_from_slice(d),
                Step::Win(_, c, r) => {
                    if want_win.last() != Some(&(*c, *r)) {
                        want_win.push((*c, *r))
                    }
                }
                Step::Flush => {}
            }
        }
        let last_ms = steps
            .iter()
            .filter_map(|s| match s {
                Step::In(t, _) | Step::Out(t, _) | Step::Win(t, ..) => Some(*t),
                Step::Flush => None,
            })
            .collect::<Vec<_>>();
        let span_ms = match (last_ms.first(), last_ms.last()) {
            (Some(a), Some(b)) => (b - a) / 1_000_000,
            _ => 0,
        };

        for (i, l) in lines.iter().enumerate() {
            assert!(
                payload_of(l) <= payload,
                "case {case}: message {} over payload {payload}",
                i + 1
            );
            assert_eq!(parse_message(l).unwrap().id, i as u64 + 1);
        }

        let joined: Vec<u8> = lines.concat();
        let mut r = Reader::new(Cursor::new(joined));
        let (mut got_in, mut got_out, mut got_win) = (Vec::new(), Vec::new(), Vec::new());
        let mut last_ts = 0;
        while let Some(p) = r
            .next_packet()
            .unwrap_or_else(|e| panic!("case {case}: {e}"))
        {
            assert!(
                p.ts >= last_ts && p.ts <= span_ms,
                "case {case}: ts {}",
                p.ts
            );
            last_ts = p.ts;
            match p.data {
                PacketData::Input(d) => got_in.extend(d),
                PacketData::Output(d) => got_out.extend(d),
                PacketData::Window { cols, rows } => got_win.push((cols, rows)),
            }
        }
        assert!(got_in == want_in, "case {case}: input bytes differ");
        assert!(got_out == want_out, "case {case}: output bytes differ");
        assert_eq!(got_win, want_win, "case {case}");

        // Without characters pending across packets, each message is
        // reproducible from its own content: re-feeding it run by run, then
        // closing it, gives the same line. (Where a message ends is the
        // samples test's job: data of the same millisecond may legitimately
        // land in either message, so the re-feed closes each one itself.)
        if whole {
            let mut enc = Encoder::new(
                header(),
                payload,
                UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            );
            let mut again = Vec::new();
            let first_t = last_ms.first().copied().unwrap_or(0) / 1_000_000;
            for l in &lines {
                let mut m = parse_message(l).unwrap();
                m.pos += first_t;
                refeed(&mut enc, &m);
                enc.flush();
                while let Some(x) = enc.pop_message() {
                    again.push(x);
                }
            }
            enc.cut();
            enc.flush();
            while let Some(x) = enc.pop_message() {
                again.push(x);
            }
            assert_eq!(again.len(), lines.len(), "case {case}");
            for (a, b) in again.iter().zip(&lines) {
                assert_eq!(
                    String::from_utf8_lossy(&split_time(a).0),
                    String::from_utf8_lossy(&split_time(b).0),
                    "case {case}"
                );
            }
        }
    }
}
