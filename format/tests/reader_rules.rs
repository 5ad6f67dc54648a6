//! Reader acceptance rules of tlog-play (tlog-format.md §1.6), positive and
//! negative, each error checked for its field and line.

use std::io::{BufReader, Cursor, Write};

use tlog_rs_format::{parse_message, PacketData, ParseKind, Reader};

/// A valid message with one field replaced (`None` removes it).
fn msg_with(field: &str, value: Option<&str>) -> String {
    let fields = [
        ("ver", "\"2.3\""),
        ("host", "\"h\""),
        ("rec", "\"r\""),
        ("user", "\"u\""),
        ("term", "\"t\""),
        ("session", "1"),
        ("id", "1"),
        ("pos", "0"),
        ("time", "1.000"),
        ("timing", "\">2[1/1\""),
        ("in_txt", "\"\u{fffd}\""),
        ("in_bin", "[255]"),
        ("out_txt", "\"ab\""),
        ("out_bin", "[]"),
    ];
    let parts: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| {
            let v = if *k == field { value? } else { v };
            Some(format!("\"{k}\":{v}"))
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn accepts(field: &str, value: Option<&str>) {
    let m = msg_with(field, value);
    let msg = parse_message(m.as_bytes()).unwrap_or_else(|e| panic!("{m}: {e}"));
    msg.packets().unwrap_or_else(|e| panic!("{m}: {e}"));
}

fn rejects(field: &'static str, value: Option<&str>) -> String {
    let m = msg_with(field, value);
    let err = match parse_message(m.as_bytes()) {
        Err(e) => e,
        Ok(msg) => msg.packets().expect_err(&m),
    };
    assert_eq!(err.field, Some(field), "{m}: {err}");
    err.to_string()
}

#[test]
fn ver_string_or_int_major_at_most_2() {
    for ok in ["\"2.3\"", "\"2\"", "2", "\"1.0\"", "0", "\"2.99\""] {
        accepts("ver", Some(ok));
    }
    for bad in [
        "\"3.0\"",
        "3",
        "\"2.\"",
        "\"x\"",
        "\"2.3.1\"",
        "\"\"",
        "\"2a\"",
        "-1",
    ] {
        rejects("ver", Some(bad));
    }
    assert!(rejects("ver", Some("2.3")).contains("invalid type"));
    assert!(rejects("ver", None).contains("missing"));
}

#[test]
fn required_and_optional_fields() {
    for f in [
        "host", "user", "term", "session", "id", "pos", "timing", "in_bin", "out_bin",
    ] {
        assert!(rejects(f, None).contains("missing"), "{f}");
    }
    for f in ["rec", "time"] {
        accepts(f, None);
    }
    // texts are optional when the timing does not need them
    let m = r#"{"ver":"2","host":"h","user":"u","term":"t","session":1,"id":0,"pos":0,"timing":"","in_bin":[],"out_bin":[]}"#;
    let msg = parse_message(m.as_bytes()).unwrap();
    assert_eq!(
        (msg.in_txt.as_str(), msg.out_txt.as_str(), msg.rec),
        ("", "", None)
    );
    for f in ["host", "rec", "user", "term", "timing", "in_txt", "out_txt"] {
        assert!(rejects(f, Some("1")).contains("invalid type"), "{f}");
    }
}

#[test]
fn session_id_pos_ranges() {
    accepts("session", Some("4294967295"));
    for bad in ["0", "4294967296", "-1"] {
        rejects("session", Some(bad));
    }
    assert!(rejects("session", Some("\"1\"")).contains("invalid type"));
    assert!(rejects("session", Some("1.0")).contains("invalid type"));
    accepts("id", Some("0"));
    rejects("id", Some("-1"));
    accepts("pos", Some("2147483647999"));
    rejects("pos", Some("2147483648000"));
    rejects("pos", Some("-5"));
}

#[test]
fn time_must_be_a_double() {
    for ok in ["1795700846.847", "0.5", "1e3", "1.5E2"] {
        accepts("time", Some(ok));
    }
    let m = parse_message(msg_with("time", Some("1795700846.847")).as_bytes()).unwrap();
    assert_eq!(m.time.as_deref(), Some("1795700846.847"), "kept as written");
    assert!(rejects("time", Some("1600000000")).contains("invalid type"));
    assert!(rejects("time", Some("\"1.5\"")).contains("invalid type"));
    assert!(rejects("time", Some("-1.5")).contains("invalid value"));
}

#[test]
fn bin_elements_are_bytes_when_used() {
    accepts("in_bin", Some("[0]"));
    rejects("in_bin", Some("[256]"));
    rejects("in_bin", Some("[-1]"));
    rejects("in_bin", Some("[1.0]"));
    rejects("in_bin", Some("[\"1\"]"));
    rejects("in_bin", Some("[]"));
    // an unused bad element is never looked at by tlog-play
    accepts("in_bin", Some("[255,\"junk\"]"));
    assert!(rejects("in_bin", Some("\"x\"")).contains("invalid type"));
}

#[test]
fn timing_and_text_consistency() {
    accepts("timing", Some("\" >2\\t[ 1/1 +0 <0 ]0/0\""));
    assert!(rejects("timing", Some("\">2%\"")).contains("offset 2"));
    rejects("timing", Some("\"=70000x1\""));
    rejects("timing", Some("\"+2147483648000\""));
    rejects("timing", Some("\"]1\""));
    // not enough characters
    assert_eq!(
        rejects("out_txt", Some("\"a\"")),
        "field \"out_txt\": too few characters for the timing"
    );
    // binary record must skip its replacement characters
    rejects("in_txt", Some("\"\""));
}

#[test]
fn trailing_garbage_ignored_and_bad_lines_rejected() {
    let good = msg_with("", None);
    assert!(parse_message(format!("  {good} trailing junk {{").as_bytes()).is_ok());
    let e = parse_message(b"[1,2]").unwrap_err();
    assert_eq!(e.field, None);
    let e = parse_message(&good.as_bytes()[..good.len() - 1]).unwrap_err();
    assert!(e.reason.contains("incomplete"), "{e}");
    assert!(parse_message(b"{\"ver\":").is_err());
    assert!(parse_message(b"not json").is_err());
}

#[test]
fn packets_follow_tlog_play() {
    let m = r#"{"ver":"2.3","host":"h","user":"u","term":"t","session":1,"id":1,"pos":100,"timing":"=80x24<1>2+5]2/3>1<0=80x24","in_txt":"i","in_bin":[],"out_txt":"ab\ufffd\ufffdc","out_bin":[1,2,3]}"#;
    let p = parse_message(m.as_bytes()).unwrap().packets().unwrap();
    let want = vec![
        (100, PacketData::Window { cols: 80, rows: 24 }),
        (100, PacketData::Input(b"i".to_vec())),
        (100, PacketData::Output(b"ab".to_vec())),
        (105, PacketData::Output(vec![1, 2, 3, b'c'])),
        (105, PacketData::Window { cols: 80, rows: 24 }),
    ];
    let got: Vec<_> = p.into_iter().map(|p| (p.ts, p.data)).collect();
    assert_eq!(got, want);
}

#[test]
fn packets_capped_at_4096_bytes_on_character_boundaries() {
    let txt = format!("{}\u{e9}{}", "a".repeat(4095), "b".repeat(10));
    let m = format!(
        r#"{{"ver":"2","host":"h","user":"u","term":"t","session":1,"id":1,"pos":0,"timing":">4106","in_bin":[],"out_txt":"{txt}","out_bin":[]}}"#
    );
    let p = parse_message(m.as_bytes()).unwrap().packets().unwrap();
    let lens: Vec<usize> = p
        .iter()
        .map(|p| match &p.data {
            PacketData::Output(d) => d.len(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(lens, [4095, 12]);
    let bins = vec!["7"; 5000].join(",");
    let m = format!(
        r#"{{"ver":"2","host":"h","user":"u","term":"t","session":1,"id":1,"pos":0,"timing":"]5000/5000","in_bin":[],"out_txt":"{}","out_bin":[{bins}]}}"#,
        "\u{fffd}".repeat(5000)
    );
    let p = parse_message(m.as_bytes()).unwrap().packets().unwrap();
    assert_eq!(p.len(), 2);
}

fn line(id: u64, pos: u64, timing: &str, out: &str, rec: Option<&str>) -> String {
    let rec = rec.map(|r| format!("\"rec\":\"{r}\",")).unwrap_or_default();
    format!(
        "{{\"ver\":\"2.3\",\"host\":\"h\",{rec}\"user\":\"u\",\"term\":\"t\",\"session\":1,\"id\":{id},\"pos\":{pos},\"timing\":\"{timing}\",\"in_txt\":\"\",\"in_bin\":[],\"out_txt\":\"{out}\",\"out_bin\":[]}}\n"
    )
}

fn read_all(text: &str, lax: bool, rec: Option<&str>) -> (Vec<(u64, PacketData)>, Option<String>) {
    let mut r = Reader::new(Cursor::new(text.as_bytes().to_vec()))
        .lax(lax)
        .match_rec(rec.map(str::to_owned));
    let mut out = Vec::new();
    loop {
        match r.next_packet() {
            Ok(Some(p)) => out.push((p.ts, p.data)),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

#[test]
fn ids_must_follow_each_other_unless_lax() {
    let text = format!(
        "{}\n  \n{}{}",
        line(5, 0, ">1", "a", None),
        line(6, 1, ">1", "b", None),
        line(8, 2, ">1", "c", None)
    );
    let (p, e) = read_all(&text, false, None);
    assert_eq!(p.len(), 2, "packets before the bad message are played");
    let e = e.unwrap();
    assert!(
        e.starts_with("line 5: field \"id\": message ID is out of order"),
        "{e}"
    );
    let (p, e) = read_all(&text, true, None);
    assert_eq!((p.len(), e), (3, None));
    let back = format!(
        "{}{}",
        line(5, 0, ">1", "a", None),
        line(5, 1, ">1", "b", None)
    );
    assert!(read_all(&back, true, None)
        .1
        .unwrap()
        .starts_with("line 2: field \"id\""));
}

#[test]
fn timestamps_must_not_go_back() {
    let text = format!(
        "{}{}",
        line(1, 0, ">1+50>1", "ab", None),
        line(2, 40, ">1", "c", None)
    );
    let (p, e) = read_all(&text, false, None);
    assert_eq!(p.len(), 2);
    assert!(e
        .unwrap()
        .starts_with("line 2: field \"pos\": packet timestamp is out of order"));
    let ok = format!(
        "{}{}",
        line(1, 0, ">1+50>1", "ab", None),
        line(2, 50, ">1", "c", None)
    );
    assert_eq!(read_all(&ok, false, None).1, None);
}

#[test]
fn repeated_window_packets_are_suppressed() {
    let text = format!(
        "{}{}{}",
        line(1, 0, "=80x24>1", "a", None),
        line(2, 5, "=80x24>1=80x24", "b", None),
        line(3, 9, "=80x24=90x30=80x24", "", None)
    );
    let (p, e) = read_all(&text, false, None);
    assert_eq!(e, None);
    let windows: Vec<_> = p
        .iter()
        .filter(|(_, d)| matches!(d, PacketData::Window { .. }))
        .collect();
    assert_eq!(windows.len(), 3, "{windows:?}"); // 80x24, 90x30, 80x24
}

#[test]
fn rec_matching_keeps_messages_without_rec() {
    let text = format!(
        "{}{}{}",
        line(1, 0, ">1", "a", Some("A")),
        line(7, 0, ">1", "x", Some("B")),
        line(2, 1, ">1", "b", None)
    );
    let (p, e) = read_all(&text, false, Some("A"));
    assert_eq!(e, None);
    assert_eq!(p.len(), 2);
    let mut r = Reader::new(Cursor::new(text.into_bytes())).match_rec(Some("B".into()));
    let (line_no, m) = r.next_message().unwrap().unwrap();
    assert_eq!((line_no, m.id), (2, 7));
}

#[test]
fn errors_name_line_and_field() {
    let text = format!(
        "{}\n{}",
        line(1, 0, ">1", "a", None),
        line(2, 0, ">1+23%", "b", None)
    );
    let (_, e) = read_all(&text, false, None);
    assert_eq!(
        e.unwrap(),
        "line 3: field \"timing\": invalid record '%' at offset 5"
    );
    let (_, e) = read_all("{\"ver\":\"9\"}\n", false, None);
    assert!(e.unwrap().starts_with("line 1: field \"ver\""));
}

#[test]
fn follow_a_growing_file() {
    let dir = std::env::temp_dir().join(format!("tlog-rs-format-follow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log");
    let first = line(1, 0, ">1", "a", None);
    let second = line(2, 3, ">1", "b", None);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(first.as_bytes()).unwrap();
    f.write_all(&second.as_bytes()[..20]).unwrap();
    let mut r = Reader::new(BufReader::new(std::fs::File::open(&path).unwrap())).follow(true);
    assert!(r.next_packet().unwrap().is_some());
    assert!(r.next_packet().unwrap().is_none(), "partial line: wait");
    f.write_all(&second.as_bytes()[20..]).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!((p.ts, p.data), (3, PacketData::Output(b"b".to_vec())));
    assert!(r.next_packet().unwrap().is_none());
    // Without follow, a truncated last line is an error.
    let mut r = Reader::new(Cursor::new(second.as_bytes()[..20].to_vec()));
    assert!(r
        .next_packet()
        .unwrap_err()
        .to_string()
        .starts_with("line 1: incomplete"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn out_of_sequence_is_its_own_kind() {
    let kind_of = |text: &str| {
        let mut r = Reader::new(Cursor::new(text.as_bytes().to_vec()));
        loop {
            match r.next_packet() {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(e) => return Some((e.error.field, e.error.kind)),
            }
        }
    };
    let skip = format!(
        "{}{}",
        line(1, 0, ">1", "a", None),
        line(3, 1, ">1", "b", None)
    );
    assert_eq!(kind_of(&skip), Some((Some("id"), ParseKind::OutOfOrder)));
    let back = format!(
        "{}{}",
        line(1, 0, ">1+50>1", "ab", None),
        line(2, 40, ">1", "c", None)
    );
    assert_eq!(kind_of(&back), Some((Some("pos"), ParseKind::OutOfOrder)));
    let bad_id = line(1, 0, ">1", "a", None).replace("\"id\":1", "\"id\":\"x\"");
    assert_eq!(kind_of(&bad_id), Some((Some("id"), ParseKind::Invalid)));
}
