//! Throughput of the encoder and the reader, without extra dependencies.
//!
//! `bench [MB]`: median CPU time of 5 runs for encoding base64-like text and
//! random bytes, and for reading back (parse + packets) each resulting log.
//! `bench encode FILE LOG`: encodes FILE as output (4 KiB reads) into LOG.
//! `bench decode LOG`: reads LOG with the strict reader, prints output bytes.
//! (The last two are timed from outside by bench/format.sh.)

use std::io::Cursor;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tlog_rs_format::{Encoder, Reader, RecHeader};

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

fn text_data(len: usize) -> Vec<u8> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = 1u64;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        for _ in 0..76 {
            v.push(B64[(xorshift(&mut s) % 64) as usize]);
        }
        v.push(b'\n');
    }
    v.truncate(len);
    v
}

fn random_data(len: usize) -> Vec<u8> {
    let mut s = 7u64;
    (0..len).map(|_| xorshift(&mut s) as u8).collect()
}

/// Encodes `data` as output in 4 KiB reads, 1 ms apart; returns the log.
fn encode(data: &[u8]) -> Vec<u8> {
    let header = RecHeader {
        host: "bench.example".into(),
        rec: "0dd9358825884eacb178f7d64ddc88dc-1d37-530b".into(),
        user: "root".into(),
        term: "xterm".into(),
        session: 4294967295,
    };
    let mut enc = Encoder::new(header, 2048, UNIX_EPOCH);
    let mut log = Vec::with_capacity(data.len() * 7);
    for (i, chunk) in data.chunks(4096).enumerate() {
        enc.output(Duration::from_millis(i as u64), chunk);
        while let Some(m) = enc.pop_message() {
            log.extend_from_slice(&m);
        }
    }
    enc.cut();
    enc.flush();
    while let Some(m) = enc.pop_message() {
        log.extend_from_slice(&m);
    }
    log
}

fn decode(log: &[u8]) -> usize {
    let mut r = Reader::new(Cursor::new(log));
    let mut n = 0;
    while let Some(p) = r.next_packet().unwrap() {
        if let tlog_rs_format::PacketData::Output(d) = p.data {
            n += d.len();
        }
    }
    n
}

/// CPU time of this thread (Linux schedstat), so that figures stay
/// meaningful on a busy machine; wall time if unavailable.
fn cpu_now() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn timed(f: impl FnOnce()) -> Duration {
    let (c, w) = (cpu_now(), Instant::now());
    f();
    match (c, cpu_now()) {
        (Some(a), Some(b)) => b - a,
        _ => w.elapsed(),
    }
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut v: Vec<Duration> = (0..5).map(|_| f()).collect();
    v.sort();
    v[2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("encode") => {
            let data = std::fs::read(&args[2]).expect("input file");
            std::fs::write(&args[3], encode(&data)).expect("log file");
            return;
        }
        Some("decode") => {
            let f = std::fs::File::open(&args[2]).expect("log file");
            let mut r = Reader::new(std::io::BufReader::with_capacity(1 << 16, f));
            let mut n = 0;
            while let Some(p) = r.next_packet().unwrap_or_else(|e| panic!("{e}")) {
                if let tlog_rs_format::PacketData::Output(d) = p.data {
                    n += d.len();
                }
            }
            println!("{n}");
            return;
        }
        _ => {}
    }
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    for (name, data) in [
        ("text", text_data(mb << 20)),
        ("random", random_data((mb / 5).max(1) << 20)),
    ] {
        let log = encode(&data);
        let enc = median(|| {
            timed(|| {
                std::hint::black_box(encode(&data));
            })
        });
        let dec = median(|| timed(|| assert_eq!(decode(&log), data.len())));
        let mbs = |bytes: usize, d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
        println!(
            "{name:6}: input {:.1} MB -> log {:.1} MB ({:.2}x); encode {:.3} s = {:.0} MB/s of input; \
             decode {:.3} s = {:.0} MB/s of log",
            data.len() as f64 / 1e6,
            log.len() as f64 / 1e6,
            log.len() as f64 / data.len() as f64,
            enc.as_secs_f64(),
            mbs(data.len(), enc),
            dec.as_secs_f64(),
            mbs(log.len(), dec),
        );
    }
}
