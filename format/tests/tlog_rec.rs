//! Differential test against Debian's tlog-rec: it records `cat` of a file
//! mixing text, escapes, multi-byte and invalid UTF-8 (pipe mode), at
//! several payloads; every message is then re-encoded by tlog-rs-format from
//! its own decoded content and must come out byte for byte the same (the
//! `time` field may be 1 ms later in tlog's: it keeps the sub-ms wall clock).
//! This checks the payload split, the run and escape rules and the binary
//! accounting on thousands of real messages.
//!
//! The input has no broken multi-byte sequences (invalid bytes are ones that
//! cannot start a sequence): where tlog's reads ended is not in the log, and
//! a broken sequence at the end of a read changes where a full message ends
//! (tlog's undo). That rule has its own tests in format/tests.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use common::{assert_same_messages, Refeeder, Rng};
use tlog_rs_format::{parse_message, Encoder, RecHeader};
use tlog_rs_tests::require_program;

const PIECES: &[&[u8]] = &[
    b"hello world ",
    b"\r\n",
    b"\"q\" \\ /\t",
    b"\x1b[0m\x7f\x00",
    "caf\u{e9} \u{4f60}\u{597d} \u{1f600}".as_bytes(),
    b"\xff\xfe",
    b"\xc0\xaf\x80",
    b"\xf5\xbf",
];

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    while out.len() < len {
        if rng.below(10) == 0 {
            // Random bytes that cannot start a UTF-8 sequence.
            out.extend((0..1 + rng.below(300)).map(|_| match rng.next() as u8 {
                b @ 0xc2..=0xf4 => b & 0x3f | 0x80,
                b => b,
            }));
        } else {
            out.extend_from_slice(PIECES[rng.below(PIECES.len() as u64) as usize]);
        }
    }
    out
}

#[test]
fn reencoding_tlog_rec_messages_gives_the_same_bytes() {
    let tlog_rec = require_program("tlog-rec", "tlog");
    let dir = std::env::temp_dir().join(format!("format-tlog-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("data");
    std::fs::write(&input, data(0x5eed, 30_000)).unwrap();
    let mut total = 0;
    for payload in [32usize, 64, 200, 2048] {
        let log = dir.join(format!("log{payload}"));
        let st = Command::new(&tlog_rec)
            .arg(format!("--payload={payload}"))
            .arg("-o")
            .arg(&log)
            .arg("cat")
            .arg(&input)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "tlog-rec failed");
        let text = std::fs::read(&log).unwrap();
        let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
        let msgs: Vec<_> = lines.iter().map(|l| parse_message(l).unwrap()).collect();
        let m0 = &msgs[0];
        let (sec, ms) = m0.time.as_deref().unwrap().split_once('.').unwrap();
        let origin = UNIX_EPOCH
            + Duration::from_millis(
                sec.parse::<u64>().unwrap() * 1000 + ms.parse::<u64>().unwrap(),
            );
        let header = RecHeader {
            host: m0.host.clone(),
            rec: m0.rec.clone().unwrap(),
            user: m0.user.clone(),
            term: m0.term.clone(),
            session: m0.session,
        };
        let mut enc = Encoder::new(header, payload, origin);
        let mut refeed = Refeeder::default();
        let mut ours = Vec::new();
        for m in &msgs {
            refeed.message(&mut enc, m);
            while let Some(l) = enc.pop_message() {
                ours.push(l);
            }
        }
        refeed.finish(&mut enc);
        enc.cut();
        enc.flush();
        while let Some(l) = enc.pop_message() {
            ours.push(l);
        }
        assert_same_messages(&ours, &lines, &format!("payload {payload}"));
        total += lines.len();
    }
    assert!(total > 1000, "enough messages to mean something: {total}");
    std::fs::remove_dir_all(&dir).unwrap();
}
