//! Debian's tlog-play plays what tlog-rs-format's Encoder writes: random
//! recordings (text, escapes, multi-byte characters split across reads,
//! invalid bytes, input, window changes, small and default payloads) dumped
//! with `tlog-play -g end` give back exactly the output bytes.

use std::time::{Duration, SystemTime};

use tlog_rs_format::{Encoder, RecHeader};
use tlog_rs_tests::play::{tlog_play_end, TLOG_EXIT};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PIECES: &[&[u8]] = &[
    b"line of text\r\n",
    b"\"quoted\" \\ back/slash\t",
    b"\x1b[1;31mred\x1b[0m\x07\x7f\x00",
    "caf\u{e9} \u{4f60}\u{597d} \u{1f600}".as_bytes(),
    b"\xe4\xbd",
    b"\xa0",
    b"\xff\xfe\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xe2\x82 ",
];

fn recording(seed: u64, payload: usize, dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let mut rng = Rng(seed);
    let header = RecHeader {
        host: "host".into(),
        rec: format!("rec-{seed}"),
        user: "user".into(),
        term: "xterm".into(),
        session: 4294967295,
    };
    let mut enc = Encoder::new(header, payload, SystemTime::now());
    let mut out = Vec::new();
    let mut log = Vec::new();
    let mut t = Duration::ZERO;
    for _ in 0..300 {
        t += Duration::from_micros(rng.below(3000));
        let mut data = Vec::new();
        for _ in 0..1 + rng.below(6) {
            if rng.below(8) == 0 {
                data.extend((0..rng.below(200)).map(|_| rng.next() as u8));
            } else {
                data.extend_from_slice(PIECES[rng.below(PIECES.len() as u64) as usize]);
            }
        }
        match rng.below(10) {
            0 => enc.window(t, 60 + rng.below(3) as u16 * 20, 24),
            1 => enc.input(t, &data),
            2 => enc.flush(), // the latency timer
            _ => {
                enc.output(t, &data);
                out.extend_from_slice(&data);
            }
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
    let path = dir.join(format!("rec-{seed}-{payload}.log"));
    std::fs::write(&path, log).unwrap();
    (path, out)
}

#[test]
fn tlog_play_plays_encoder_output_byte_exact() {
    let dir = std::env::temp_dir().join(format!("format-tlog-play-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (seed, payload) in [(1, 64), (2, 2048), (3, 32), (4, 100)] {
        let (log, want) = recording(seed, payload, &dir);
        let got = tlog_play_end(&log, &[]);
        assert!(
            got.status.success(),
            "tlog-play failed on {}: {}",
            log.display(),
            String::from_utf8_lossy(&got.stderr)
        );
        let mut expected = want.clone();
        expected.extend_from_slice(TLOG_EXIT);
        assert!(
            got.stdout == expected,
            "payload {payload}: tlog-play's output differs from the recorded output"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
