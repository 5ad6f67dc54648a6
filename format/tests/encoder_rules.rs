//! One test per writer rule of the spec (tlog-format.md §1.1-1.4). Expected
//! values are worked out by hand from the rules; messages are inspected with
//! serde_json (not with this crate's reader).

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use tlog_rs_format::{Encoder, RecHeader};

fn header() -> RecHeader {
    RecHeader {
        host: "h".into(),
        rec: "r".into(),
        user: "u".into(),
        term: "t".into(),
        session: 7,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn finish(mut enc: Encoder) -> Vec<Vec<u8>> {
    enc.cut();
    enc.flush();
    let mut out = Vec::new();
    while let Some(m) = enc.pop_message() {
        out.push(m);
    }
    out
}

fn json(line: &[u8]) -> Value {
    assert_eq!(
        line.last(),
        Some(&b'\n'),
        "message line ends with a newline"
    );
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
    serde_json::from_slice(line).unwrap()
}

fn field<'a>(v: &'a Value, f: &str) -> &'a str {
    v[f].as_str().unwrap()
}

fn bin(v: &Value, f: &str) -> Vec<u64> {
    v[f].as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

/// The counted payload of a message line: timing, texts as escaped, and the
/// byte arrays' text.
fn payload_of(line: &[u8]) -> usize {
    let s = std::str::from_utf8(line).unwrap();
    let between = |a: &str, b: &str| {
        let i = s.find(a).unwrap() + a.len();
        let j = i + s[i..].find(b).unwrap();
        j - i
    };
    between("\"timing\":\"", "\",\"in_txt\"")
        + between("\"in_txt\":\"", "\",\"in_bin\"")
        + between("\"in_bin\":[", "],\"out_txt\"")
        + between("\"out_txt\":\"", "\",\"out_bin\"")
        + between("\"out_bin\":[", "]}")
}

#[test]
fn field_order_and_header_escaping() {
    let h = RecHeader {
        host: "host/\"q\"".into(),
        rec: "rec\\1".into(),
        user: "jos\u{e9}\u{1}".into(),
        term: "xterm\u{7f}".into(),
        session: 4294967295,
    };
    let mut enc = Encoder::new(h, 2048, UNIX_EPOCH + Duration::new(1600000000, 5_000_000));
    enc.output(ms(0), b"x");
    let out = finish(enc);
    assert_eq!(
        String::from_utf8(out[0].clone()).unwrap(),
        "{\"ver\":\"2.3\",\"host\":\"host/\\\"q\\\"\",\"rec\":\"rec\\\\1\",\"user\":\"jos\u{e9}\\u0001\",\
         \"term\":\"xterm\\u007f\",\"session\":4294967295,\"id\":1,\"pos\":0,\"time\":1600000000.005,\
         \"timing\":\">1\",\"in_txt\":\"\",\"in_bin\":[],\"out_txt\":\"x\",\"out_bin\":[]}\n"
    );
}

#[test]
fn text_escaping() {
    let all: Vec<u8> = (0u8..0x80).collect();
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    enc.output(ms(0), &all);
    let out = finish(enc);
    let line = String::from_utf8(out[0].clone()).unwrap();
    let mut want = String::new();
    for b in 0u8..0x80 {
        match b {
            b'"' => want.push_str("\\\""),
            b'\\' => want.push_str("\\\\"),
            0x08 => want.push_str("\\b"),
            0x0c => want.push_str("\\f"),
            b'\n' => want.push_str("\\n"),
            b'\r' => want.push_str("\\r"),
            b'\t' => want.push_str("\\t"),
            0..=0x1f | 0x7f => want.push_str(&format!("\\u{:04x}", b)),
            _ => want.push(b as char),
        }
    }
    assert!(line.contains(&format!("\"out_txt\":\"{want}\"")), "{line}");
    assert!(
        line.contains("\\u001b") && line.contains("/"),
        "lowercase hex, / literal"
    );
    assert!(line.contains("\"timing\":\">128\""));
}

#[test]
fn invalid_utf8_sequences() {
    let cases: &[(&[u8], &str, &str, &[u64])] = &[
        // lone invalid lead bytes: one sequence each
        (b"\xff\xfe", "]2/2", "\u{fffd}\u{fffd}", &[255, 254]),
        // broken sequence: one sequence holding both bytes, breaker re-examined
        (b"\xe2\x82 x", "]1/2>2", "\u{fffd} x", &[226, 130]),
        // overlong: C0 and 80 are both invalid leads
        (b"\xc0\x80", "]2/2", "\u{fffd}\u{fffd}", &[192, 128]),
        // surrogate: ED is a lead, A0 breaks it, then A0 and 80 are invalid leads
        (
            b"\xed\xa0\x80",
            "]3/3",
            "\u{fffd}\u{fffd}\u{fffd}",
            &[237, 160, 128],
        ),
        // above U+10FFFF
        (
            b"\xf4\x90\x80\x80",
            "]4/4",
            "\u{fffd}\u{fffd}\u{fffd}\u{fffd}",
            &[244, 144, 128, 128],
        ),
        // valid 4-byte char and NUL are text
        (b"\xf0\x9f\x98\x80\x00", ">2", "\u{1f600}\u{0}", &[]),
        // text, binary, text runs
        (b"a\xffb", ">1]1/1>1", "a\u{fffd}b", &[255]),
    ];
    for (input, timing, txt, bytes) in cases {
        let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
        enc.output(ms(0), input);
        let out = finish(enc);
        let v = json(&out[0]);
        assert_eq!(field(&v, "timing"), *timing, "{input:x?}");
        assert_eq!(field(&v, "out_txt"), *txt, "{input:x?}");
        assert_eq!(bin(&v, "out_bin"), *bytes, "{input:x?}");
        // U+FFFD is written raw, never as \ufffd
        assert!(!String::from_utf8_lossy(&out[0]).contains("\\ufffd"));
    }
}

#[test]
fn incomplete_sequence_carried_across_packets_per_stream() {
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    enc.output(ms(0), b"\xe4\xbd");
    enc.input(ms(0), b"\xc3");
    enc.output(ms(0), b"\xa0");
    enc.input(ms(0), b"\xa9");
    let v = json(&finish(enc)[0]);
    assert_eq!(field(&v, "out_txt"), "\u{4f60}");
    assert_eq!(field(&v, "in_txt"), "\u{e9}");
    assert_eq!(field(&v, "timing"), "<1>1");
}

#[test]
fn cut_turns_pending_bytes_into_invalid_sequence() {
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    enc.output(ms(0), b"ok\xe2\x82");
    enc.flush();
    let first = json(&enc.pop_message().unwrap());
    assert_eq!(
        field(&first, "out_txt"),
        "ok",
        "pending bytes are not flushed"
    );
    enc.output(ms(5), b"\xac!");
    enc.output(ms(6), b"\xf0\x9f");
    let out = finish(enc);
    let v = json(&out[0]);
    assert_eq!(field(&v, "out_txt"), "\u{20ac}!\u{fffd}");
    assert_eq!(field(&v, "timing"), ">2+1]1/2");
    assert_eq!(bin(&v, "out_bin"), [240, 159]);
}

#[test]
fn delays_truncate_to_ms_and_drift() {
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    let us = Duration::from_micros;
    enc.output(us(0), b"a");
    enc.output(us(1500), b"b"); // +1 (1.5 ms)
    enc.output(us(3000), b"c"); // +1 (1.5 ms again; 1 ms lost overall)
    enc.output(us(3900), b"d"); // 0.9 ms: no delay record, but time moves
    enc.output(us(4100), b"e"); // 0.2 ms since the last packet: none
    enc.output(ms(1005), b"f"); // >= 1 s: still plain ms
    enc.output(ms(62_010), b"g");
    let v = json(&finish(enc)[0]);
    assert_eq!(field(&v, "timing"), ">1+1>1+1>3+1000>1+61005>1");
}

#[test]
fn records_interleave_within_one_millisecond() {
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    enc.input(ms(0), b"ab");
    enc.output(ms(0), b"c");
    enc.input(ms(0), b"\xff");
    enc.output(ms(0), b"\xfe");
    enc.input(ms(3), b"x");
    let v = json(&finish(enc)[0]);
    // input run closed at its switch, output's at its switch, then both
    // flushed (input first) before the delay
    assert_eq!(field(&v, "timing"), "<2>1[1/1]1/1+3<1");
}

#[test]
fn pos_time_and_ids() {
    let origin = UNIX_EPOCH + Duration::new(1000, 999_500_000);
    let mut enc = Encoder::new(header(), 2048, origin);
    enc.output(ms(2), b"a");
    enc.flush();
    enc.flush(); // nothing to flush: no empty message, no id consumed
    enc.output(Duration::from_micros(1_500_300), b"b");
    let out = finish(enc);
    assert_eq!(out.len(), 2);
    let (a, b) = (json(&out[0]), json(&out[1]));
    assert_eq!((a["id"].as_u64(), a["pos"].as_u64()), (Some(1), Some(0)));
    // time = origin + first packet time, truncated to ms
    assert!(String::from_utf8_lossy(&out[0]).contains("\"time\":1001.001,"));
    assert_eq!((b["id"].as_u64(), b["pos"].as_u64()), (Some(2), Some(1498)));
    assert!(String::from_utf8_lossy(&out[1]).contains("\"time\":1002.499,"));
}

#[test]
fn window_repeated_at_each_message_and_deduplicated() {
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    enc.window(ms(0), 80, 24);
    enc.output(ms(0), b"a");
    enc.window(ms(10), 80, 24); // same size: nothing, not even the delay
    enc.output(ms(20), b"b");
    enc.window(ms(30), 100, 30);
    enc.flush();
    enc.output(ms(40), b"c");
    enc.flush();
    enc.window(ms(50), 120, 40); // replaces the repeat of 100x30
    enc.output(ms(50), b"d");
    enc.flush();
    enc.window(ms(60), 0, 0);
    let out = finish(enc);
    let t: Vec<String> = out
        .iter()
        .map(|l| field(&json(l), "timing").to_owned())
        .collect();
    assert_eq!(
        t,
        ["=80x24>1+20>1+10=100x30", "=100x30>1", "=120x40>1", "=0x0"]
    );
}

#[test]
fn payload_text_split_at_character_boundary() {
    // 32 bytes: ">29" (marker + 2 digits) + 29 chars.
    let mut enc = Encoder::new(header(), 32, UNIX_EPOCH);
    enc.output(ms(7), &[b'a'; 40]);
    let out = finish(enc);
    let v: Vec<Value> = out.iter().map(|l| json(l)).collect();
    assert_eq!(field(&v[0], "timing"), ">29");
    assert_eq!(field(&v[0], "out_txt").len(), 29);
    assert_eq!(payload_of(&out[0]), 32);
    assert_eq!(field(&v[1], "timing"), ">11");
    // the rest of the packet: same timestamp, so same pos
    assert_eq!(v[1]["pos"], v[0]["pos"]);

    // Escaped length counts: 14 newlines = ">14" + 28 bytes = 31; a 15th
    // would need 2 more.
    let mut enc = Encoder::new(header(), 32, UNIX_EPOCH);
    enc.output(ms(0), &[b'\n'; 15]);
    let out = finish(enc);
    assert_eq!(field(&json(&out[0]), "timing"), ">14");
    assert_eq!(payload_of(&out[0]), 31);

    // Multi-byte characters are never split: "é" costs 2.
    let mut enc = Encoder::new(header(), 32, UNIX_EPOCH);
    enc.output(ms(0), "\u{e9}".repeat(20).as_bytes());
    let out = finish(enc);
    let first = json(&out[0]);
    assert_eq!(field(&first, "timing"), ">14"); // 3 + 14*2 = 31, +2 > 32
    assert_eq!(field(&first, "out_txt"), "\u{e9}".repeat(14));
}

#[test]
fn payload_binary_accounting() {
    // First byte: "]" + digit (2) + U+FFFD (3) + "/" + digit (2) + "255" (3)
    // = 10; each next byte: 3 + "," + 3 = 7. 10 + 3*7 = 31 <= 32 < 38.
    let mut enc = Encoder::new(header(), 32, UNIX_EPOCH);
    enc.output(ms(0), &[0xff; 9]);
    let out = finish(enc);
    let counts: Vec<String> = out
        .iter()
        .map(|l| field(&json(l), "timing").to_owned())
        .collect();
    assert_eq!(counts, ["]4/4", "]4/4", "]1/1"]);
    assert_eq!(payload_of(&out[0]), 31);
    assert_eq!(bin(&json(&out[0]), "out_bin"), [255; 4]);

    // Small byte values are shorter: 0x80 costs "128", 0xc1 "193".
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    enc.output(ms(0), b"\x80\xc1\xf5");
    let v = json(&finish(enc)[0]);
    assert_eq!(bin(&v, "out_bin"), [128, 193, 245]);
}

#[test]
fn payload_run_count_digits_and_window_are_reserved() {
    // With a known window "=80x24" (6) repeated at message start:
    // 6 + ">23" (3) + 23 = 32.
    let mut enc = Encoder::new(header(), 32, UNIX_EPOCH);
    enc.window(ms(0), 80, 24);
    enc.flush();
    enc.output(ms(1), &[b'z'; 30]);
    let out = finish(enc);
    let t: Vec<String> = out
        .iter()
        .map(|l| field(&json(l), "timing").to_owned())
        .collect();
    assert_eq!(t, ["=80x24", "=80x24>23", "=80x24>7"]);
    for l in &out {
        assert!(payload_of(l) <= 32);
    }

    // Exactly filling a big payload: the run counter reaches 4 digits.
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    enc.output(ms(0), &[b'q'; 3000]);
    let out = finish(enc);
    assert_eq!(field(&json(&out[0]), "timing"), ">2043");
    assert_eq!(payload_of(&out[0]), 2048);
}

#[test]
fn payload_below_minimum_is_clamped() {
    let enc = Encoder::new(header(), 1, UNIX_EPOCH);
    assert_eq!(enc.payload(), 32);
}

#[test]
fn has_unflushed_tracks_the_current_message() {
    let mut enc = Encoder::new(header(), 2048, UNIX_EPOCH);
    assert!(!enc.has_unflushed());
    enc.output(ms(0), b"\xe2"); // only a pending partial character
    assert!(!enc.has_unflushed());
    enc.output(ms(0), b"\x82\xac");
    assert!(enc.has_unflushed());
    enc.flush();
    assert!(!enc.has_unflushed());
    assert!(enc.pop_message().is_some());
    assert!(enc.pop_message().is_none());
}

#[test]
fn cut_of_both_streams_never_loses_bytes() {
    // Each cut sequence costs 18 ("[1/3" + U+FFFD + "240,159,152") and the
    // repeated window 12: both together exceed an empty 32-byte message,
    // so they go one per message (tlog would retry forever here).
    let mut enc = Encoder::new(header(), 32, UNIX_EPOCH);
    enc.window(ms(0), 10000, 10000);
    enc.flush();
    enc.input(ms(1), b"\xf0\x9f\x98");
    enc.output(ms(1), b"\xf0\x9f\x98");
    let out = finish(enc);
    let t: Vec<String> = out
        .iter()
        .map(|l| field(&json(l), "timing").to_owned())
        .collect();
    assert_eq!(t, ["=10000x10000", "=10000x10000[1/3", "=10000x10000]1/3"]);
    assert_eq!(bin(&json(&out[1]), "in_bin"), [240, 159, 152]);
    assert_eq!(bin(&json(&out[2]), "out_bin"), [240, 159, 152]);
}

#[test]
fn pending_character_broken_at_message_start_moves_with_it() {
    // The output holds "\xe2\x82" when a packet starting with "x" breaks it.
    // The broken sequence would fit (14: "]1/2", U+FFFD, "226,130") but then
    // no byte of the packet does: like tlog's transaction, the sequence is
    // not left behind in the old message but opens the next one.
    let mut enc = Encoder::new(header(), 32, UNIX_EPOCH);
    enc.output(ms(0), &[b'a'; 14]); // ">14" + 14 = 17: 15 left
    enc.output(ms(0), b"\xe2\x82");
    enc.output(ms(0), b"xy");
    let out = finish(enc);
    let t: Vec<String> = out
        .iter()
        .map(|l| field(&json(l), "timing").to_owned())
        .collect();
    assert_eq!(t, [">14", "]1/2>2"]);
}

/// A caller that decodes another charset hands its malformed sequences to
/// `*_invalid`: the message is the one that invalid UTF-8 in the same place
/// gives (one U+FFFD per sequence, its bytes in `*_bin`), at every payload.
#[test]
fn invalid_sequences_from_a_decoding_caller_match_invalid_utf8() {
    for payload in [32, 40, 64, 1024] {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut raw = Encoder::new(header(), payload, t0);
        let mut split = Encoder::new(header(), payload, t0);
        raw.window(ms(0), 80, 24);
        split.window(ms(0), 80, 24);
        for i in 0..40u64 {
            let t = ms(i * 3);
            // "é", a broken 3-byte lead, an invalid lead, ASCII.
            raw.output(t, b"\xc3\xa9\xe2\x82x\xffy");
            split.output(t, "é".as_bytes());
            split.output_invalid(t, b"\xe2\x82");
            split.output(t, b"x");
            split.output_invalid(t, b"\xff");
            split.output(t, b"y");
            raw.input(t, b"\xfe");
            split.input_invalid(t, b"\xfe");
        }
        let (a, b) = (finish(raw), finish(split));
        assert_eq!(a, b, "payload {payload}");
        for m in &a {
            assert!(payload_of(m) <= payload);
        }
        if payload == 1024 {
            let first = json(&a[0]);
            assert!(field(&first, "out_txt").starts_with("é\u{fffd}x\u{fffd}y"));
            assert_eq!(bin(&first, "out_bin")[..3], [0xe2, 0x82, 0xff]);
        }
    }
}

/// A long run of invalid bytes is cut into sequences of at most 4 bytes,
/// and a tiny payload with a wide window still takes them.
#[test]
fn long_invalid_runs_fit_tiny_messages() {
    let t0 = UNIX_EPOCH;
    let mut enc = Encoder::new(header(), 32, t0);
    enc.window(ms(0), 65535, 65535);
    let bytes: Vec<u8> = (0x80..=0xffu8).collect();
    enc.output_invalid(ms(1), &bytes);
    let msgs = finish(enc);
    let mut got = Vec::new();
    for m in &msgs {
        assert!(payload_of(m) <= 32);
        got.extend(bin(&json(m), "out_bin").into_iter().map(|b| b as u8));
    }
    assert_eq!(got, bytes);
}
