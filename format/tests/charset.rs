//! The charset converters: characters split across reads, malformed
//! sequences with their own bytes, names, the way back.

use std::time::{Duration, UNIX_EPOCH};

use tlog_rs_format::charset::{Charset, Conversion, Piece};
use tlog_rs_format::{Encoder, RecHeader};

fn cs(name: &str) -> Charset {
    name.parse().unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Pieces as owned values, adjacent text merged (splits may cut text runs
/// differently; what matters is the sequence of characters and invalid
/// sequences).
#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Text(String),
    Invalid(Vec<u8>),
}

fn collect(into: &mut Vec<Owned>) -> impl FnMut(Piece) + '_ {
    move |p| match p {
        Piece::Text(t) => {
            let t = std::str::from_utf8(t).expect("decoder text is UTF-8");
            if let Some(Owned::Text(prev)) = into.last_mut() {
                prev.push_str(t);
            } else {
                into.push(Owned::Text(t.to_string()));
            }
        }
        Piece::Invalid(b) => into.push(Owned::Invalid(b.to_vec())),
    }
}

fn decode_in(charset: Charset, parts: &[&[u8]]) -> Vec<Owned> {
    let mut d = charset.decoder().expect("not UTF-8");
    let mut v = Vec::new();
    for p in parts {
        d.feed(p, &mut collect(&mut v));
    }
    d.finish(&mut collect(&mut v));
    v
}

/// The charset's bytes of `text` (encoding_rs's encoder; ISO-8859-1 by
/// hand, code point = byte).
fn encode(charset: Charset, text: &str) -> Vec<u8> {
    match charset {
        Charset::Latin1 => text.chars().map(|c| u8::try_from(c).unwrap()).collect(),
        Charset::Other(e) => {
            let (b, _, errors) = e.encode(text);
            assert!(!errors, "{text:?} not in {}", e.name());
            b.into_owned()
        }
        Charset::Utf8 => text.as_bytes().to_vec(),
    }
}

/// (charset, text that round-trips, invalid sequences, their bytes).
fn samples() -> Vec<(Charset, &'static str, Vec<Vec<u8>>)> {
    vec![
        (cs("ISO-8859-1"), "café ñÿ¤ \u{85}µ", vec![]),
        (cs("ISO-8859-15"), "Ça coûte 5€, œuvre Žž", vec![]),
        (cs("KOI8-R"), "Привет, мир! ЁЖ", vec![]),
        (
            cs("EUC-JP"),
            "日本語のテキスト、ｶﾀｶﾅ",
            vec![vec![0xff], vec![0xa4]],
        ),
        (
            cs("GB18030"),
            "中文字符 €𠀀 ä",
            vec![vec![0xff], vec![0x81]],
        ),
        (
            cs("SHIFT_JIS"),
            "日本語のテキスト、ｶﾀｶﾅ",
            vec![vec![0xa0], vec![0x81]],
        ),
    ]
}

/// Every sample: text, then each invalid sequence followed by ASCII that
/// must survive it ("A" after a lead byte is an error in every multi-byte
/// charset here: a trail byte cannot be ASCII below 0x40... except in
/// Shift_JIS and GBK, where it can; " " cannot).
fn stream(charset: Charset, text: &str, invalid: &[Vec<u8>]) -> (Vec<u8>, Vec<Owned>) {
    let mut bytes = encode(charset, text);
    let mut want = vec![Owned::Text(text.to_string())];
    for inv in invalid {
        bytes.extend_from_slice(inv);
        bytes.extend_from_slice(b" ok");
        want.push(Owned::Invalid(inv.clone()));
        want.push(Owned::Text(" ok".into()));
    }
    bytes.extend_from_slice(&encode(charset, text));
    match want.last_mut() {
        Some(Owned::Text(t)) => t.push_str(text),
        _ => want.push(Owned::Text(text.to_string())),
    }
    (bytes, want)
}

#[test]
fn every_split_point_gives_the_same_characters_and_invalid_bytes() {
    for (charset, text, invalid) in samples() {
        let (bytes, want) = stream(charset, text, &invalid);
        assert_eq!(decode_in(charset, &[&bytes]), want, "{charset}");
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            assert_eq!(decode_in(charset, &[a, b]), want, "{charset} split at {i}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_in(charset, &singles), want, "{charset} byte by byte");
    }
}

#[test]
fn a_character_cut_by_the_end_is_invalid() {
    for (name, text, cut) in [
        ("EUC-JP", "日", 1),
        ("GB18030", "𠀀", 3),
        ("SHIFT_JIS", "日", 1),
    ] {
        let c = cs(name);
        let bytes = encode(c, text);
        let got = decode_in(c, &[b"x", &bytes[..cut]]);
        assert_eq!(
            got,
            vec![
                Owned::Text("x".into()),
                Owned::Invalid(bytes[..cut].to_vec())
            ],
            "{name}"
        );
    }
}

/// Random bytes in pieces of random sizes: one-shot and split decoding
/// agree, and the text with U+FFFD for each invalid sequence is what
/// encoding_rs's own replacing decoder gives. Where the charset is a
/// bijection, text encoded back and the invalid bytes give the input again.
#[test]
fn random_bytes_are_all_accounted_for() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for name in ["EUC-JP", "SHIFT_JIS", "GB18030", "KOI8-R", "ISO-8859-15"] {
        let c = cs(name);
        let Charset::Other(e) = c else { unreachable!() };
        let bijective = matches!(name, "KOI8-R" | "ISO-8859-15");
        for _ in 0..300 {
            let len = (rnd() % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rnd() % 4 {
                    0 => b'a' + (rnd() % 26) as u8,
                    1 => 0x30 + (rnd() % 10) as u8,
                    _ => 0x80 + (rnd() % 0x80) as u8,
                })
                .collect();
            let whole = decode_in(c, &[&bytes]);
            let mut parts = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + (rnd() as usize % rest.len());
                let (a, b) = rest.split_at(n);
                parts.push(a);
                rest = b;
            }
            assert_eq!(decode_in(c, &parts), whole, "{name} {bytes:x?}");
            let mut replaced = String::new();
            let mut back = Vec::new();
            for p in &whole {
                match p {
                    Owned::Text(t) => {
                        replaced.push_str(t);
                        if bijective {
                            back.extend(encode(c, t));
                        }
                    }
                    Owned::Invalid(b) => {
                        assert!((1..=4).contains(&b.len()), "{name} {b:x?}");
                        replaced.push('\u{fffd}');
                        back.extend_from_slice(b);
                    }
                }
            }
            let (reference, _) = e.decode_without_bom_handling(&bytes);
            assert_eq!(replaced, reference, "{name} {bytes:x?}");
            if bijective {
                assert_eq!(back, bytes, "{name}");
            }
        }
    }
}

/// Malformed sequences reaching back into the previous read give their own
/// bytes, wherever the read boundary falls (GB18030 four-byte sequences
/// broken at the third and fourth byte put bytes back).
#[test]
fn malformed_bytes_across_reads_are_the_original_ones() {
    let c = cs("GB18030");
    for (bytes, want) in [
        (
            &b"\x81\x30\x41"[..],
            vec![Owned::Invalid(vec![0x81]), Owned::Text("0A".into())],
        ),
        (
            &b"\x81\x30\x81\x20"[..],
            vec![
                Owned::Invalid(vec![0x81]),
                Owned::Text("0".into()),
                Owned::Invalid(vec![0x81]),
                Owned::Text(" ".into()),
            ],
        ),
        (
            &b"\x84\x31\xa5\x30"[..],
            vec![Owned::Invalid(vec![0x84, 0x31, 0xa5, 0x30])],
        ),
    ] {
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            assert_eq!(decode_in(c, &[a, b]), want, "{bytes:x?} split at {i}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode_in(c, &singles), want, "{bytes:x?} byte by byte");
    }
}

#[test]
fn names_from_glibc_and_locale_strings() {
    for (name, want) in [
        ("UTF-8", "UTF-8"),
        ("utf8", "UTF-8"),
        ("ANSI_X3.4-1968", "UTF-8"),
        ("ISO-8859-1", "ISO-8859-1"),
        ("iso88591", "ISO-8859-1"),
        ("ISO-8859-15", "ISO-8859-15"),
        ("iso885915", "ISO-8859-15"),
        ("KOI8-R", "KOI8-R"),
        ("koi8r", "KOI8-R"),
        ("EUC-JP", "EUC-JP"),
        ("eucJP", "EUC-JP"),
        ("GB18030", "gb18030"),
        ("SHIFT_JIS", "Shift_JIS"),
        ("SJIS", "Shift_JIS"),
        ("GBK", "GBK"),
        ("GB2312", "GBK"),
        ("BIG5", "Big5"),
        ("EUC-KR", "EUC-KR"),
        ("CP1251", "windows-1251"),
        ("TIS-620", "windows-874"),
    ] {
        assert_eq!(cs(name).name(), want, "{name}");
        // The recorded name reads back as the same charset.
        assert_eq!(cs(want), cs(name), "{name}");
    }
    for bad in ["EUC-TW", "ARMSCII-8", "UTF-16LE", "", "x/y"] {
        assert!(bad.parse::<Charset>().is_err(), "{bad:?}");
    }
}

/// Through the encoder: text in `*_txt` as UTF-8, malformed bytes in
/// `*_bin`, in both directions, a character split across two reads.
#[test]
fn conversion_feeds_the_encoder() {
    let c = cs("EUC-JP");
    let mut conv = Conversion::new(c).unwrap();
    let header = RecHeader {
        host: "h".into(),
        rec: "r".into(),
        user: "u".into(),
        term: "t".into(),
        session: 1,
    };
    let mut enc = Encoder::new(header, 2048, UNIX_EPOCH);
    let t = Duration::ZERO;
    let out = encode(c, "日本");
    conv.output(&mut enc, t, &out[..3]);
    conv.output(&mut enc, t, &out[3..]);
    conv.output(&mut enc, t, b"\xff!");
    conv.input(&mut enc, t, &out[..1]);
    conv.input(&mut enc, t, &out[1..2]);
    conv.input(&mut enc, t, b"\xa4");
    conv.finish(&mut enc, t);
    enc.cut();
    enc.flush();
    let m: serde_json::Value = serde_json::from_slice(&enc.pop_message().unwrap()).unwrap();
    assert_eq!(m["out_txt"], "日本\u{fffd}!");
    assert_eq!(m["out_bin"], serde_json::json!([255]));
    assert_eq!(m["in_txt"], "日\u{fffd}");
    assert_eq!(m["in_bin"], serde_json::json!([0xa4]));
    assert_eq!(m["timing"], ">2]1/1<1[1/1>1");
    assert!(Conversion::new(Charset::Utf8).is_none());
}

/// Export's way back: the recorded text encoded again, the `*_bin` bytes
/// (here: invalid UTF-8 among the text) as they are, characters split
/// across packets joined, characters the charset lacks passed through.
#[test]
fn reencoding_gives_the_original_bytes() {
    for (charset, text, invalid) in samples() {
        let (bytes, _) = stream(charset, text, &invalid);
        // What a reader's packets hold: decoded text, invalid bytes raw.
        let mut recorded = Vec::new();
        for p in decode_in(charset, &[&bytes]) {
            match p {
                Owned::Text(t) => recorded.extend_from_slice(t.as_bytes()),
                Owned::Invalid(b) => recorded.extend_from_slice(&b),
            }
        }
        for i in 0..=recorded.len() {
            let mut r = charset.reencoder().unwrap();
            let mut out = Vec::new();
            r.feed(&recorded[..i], &mut out);
            r.feed(&recorded[i..], &mut out);
            r.finish(&mut out);
            assert_eq!(out, bytes, "{charset} split at {i}");
        }
    }
    let mut r = cs("KOI8-R").reencoder().unwrap();
    let mut out = Vec::new();
    r.feed("я€\u{e9}".as_bytes(), &mut out);
    r.feed(b"\xe2\x82", &mut out);
    r.finish(&mut out);
    assert_eq!(out, b"\xd1\xe2\x82\xac\xc3\xa9\xe2\x82");
    assert!(Charset::Utf8.reencoder().is_none());
}

/// ISO-8859-1 is code point = byte: all 256 bytes, against std's encoder.
#[test]
fn latin1_is_every_byte_as_its_code_point() {
    let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let want: String = bytes.iter().map(|&b| char::from(b)).collect();
    for i in 0..bytes.len() {
        assert_eq!(
            decode_in(cs("ISO-8859-1"), &[&bytes[..i], &bytes[i..]]),
            vec![Owned::Text(want.clone())]
        );
    }
}

/// ISO-8859-1 as the standard library reads it: every byte is the code
/// point of the same value (independent of the crate's converters).
fn latin1(data: &[u8]) -> String {
    data.iter().map(|&b| char::from(b)).collect()
}

/// ISO-8859-1 is converted inside the encoder (`Conversion::Latin1`); its
/// messages must equal those of the converted text written as UTF-8, byte
/// for byte, whatever the reads, delays, window changes and payload.
#[test]
fn latin1_in_the_encoder_equals_converting_first() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let header = RecHeader {
        host: "h".into(),
        rec: "r".into(),
        user: "u".into(),
        term: "t".into(),
        session: 1,
    };
    let mut messages = 0;
    for round in 0..200 {
        let payload = [32, 64, 100, 257, 1024, 2048][round % 6];
        let mut fused = Encoder::new(header.clone(), payload, UNIX_EPOCH);
        let mut conv = Conversion::new(Charset::Latin1).unwrap();
        let mut plain = Encoder::new(header.clone(), payload, UNIX_EPOCH);
        let mut t = Duration::ZERO;
        for _ in 0..40 {
            // Mostly text, with accented letters, C1 controls, quotes,
            // backslashes and newlines among it.
            let len = rand(300) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| match rand(10) {
                    0..=5 => b'a' + rand(26) as u8,
                    6 => 0xc0 + rand(64) as u8,
                    7 => 0x80 + rand(32) as u8,
                    8 => [b'"', b'\\', b'\n', b'\t', 0x1b][rand(5) as usize],
                    _ => rand(256) as u8,
                })
                .collect();
            t += Duration::from_millis([0, 0, 1, 7, 1500][rand(5) as usize]);
            match rand(7) {
                0 => {
                    conv.input(&mut fused, t, &data);
                    plain.input(t, latin1(&data).as_bytes());
                }
                1 => {
                    let (cols, rows) = (80 + rand(3) as u16, 24);
                    fused.window(t, cols, rows);
                    plain.window(t, cols, rows);
                }
                _ => {
                    conv.output(&mut fused, t, &data);
                    plain.output(t, latin1(&data).as_bytes());
                }
            }
        }
        conv.finish(&mut fused, t);
        for enc in [&mut fused, &mut plain] {
            enc.cut();
            enc.flush();
        }
        loop {
            let (a, b) = (fused.pop_message(), plain.pop_message());
            assert_eq!(
                a.as_deref().map(String::from_utf8_lossy),
                b.as_deref().map(String::from_utf8_lossy),
                "round {round}, payload {payload}"
            );
            if a.is_none() {
                break;
            }
            messages += 1;
        }
    }
    // The comparison covered many full messages, not just a few.
    assert!(messages > 1000, "only {messages} messages compared");
}
