//! Seek benchmark for `tlog-rs play` (used by bench/play.sh).
//!
//! `seek-bench make FILE [MB] [SECONDS]` writes a synthetic recording (log
//! file) of about MB megabytes spread over SECONDS (default 100 MB, one hour): a shell
//! session with coloured listings, long outputs, screen clears and a
//! full-screen program on the alternate screen now and then.
//!
//! `seek-bench measure FILE [SEEKS]` loads FILE the way the interactive
//! player does (reader + checkpoint indexer), then times SEEKS random seeks
//! and ±10 s jumps, each = restore the nearest checkpoint, emulate to the
//! target, render the whole screen as the painter would. Prints the load
//! time, checkpoint count, and seek latency median / p95 / max.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tlog_rs_format::{Encoder, RecHeader};
use tlog_rs_play::render::Painter;
use tlog_rs_play::source::{PacketSource, SourceSpec};
use tlog_rs_play::timeline::{Emulator, Indexer, Timeline};

/// Small deterministic generator (xorshift) so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn make(path: &PathBuf, mb: u64, secs: u64) {
    let header = RecHeader {
        host: "bench".into(),
        rec: "seek-bench".into(),
        user: "auditee".into(),
        term: "xterm".into(),
        session: 1,
    };
    let mut enc = Encoder::new(header, 2048, SystemTime::now());
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let target = mb * 1_000_000;
    let mut written = 0u64;
    let mut ms = 0u64;
    enc.window(Duration::ZERO, 120, 40);
    // A step writes ~1.2 KB of log on average.
    let step_ms = (secs * 1000 * 1225 / target.max(1)).max(1);
    let mut last_flush = 0;
    while written < target {
        let mut out = String::new();
        match rng.below(100) {
            0 => out.push_str("\x1b[H\x1b[2J"),
            1 => {
                // A full-screen program: draw, then leave.
                out.push_str("\x1b[?1049h\x1b[H\x1b[2J");
                for r in 1..40 {
                    out.push_str(&format!(
                        "\x1b[{r};1H\x1b[4{}m{:>118}\x1b[0m",
                        r % 8,
                        rng.next()
                    ));
                }
                out.push_str("\x1b[?1049l");
            }
            _ => {
                for _ in 0..12 {
                    let n = rng.next();
                    out.push_str(&format!(
                        "\x1b[0{};3{}m{:016x}\x1b[0m  file-{n:x}.txt  {} é 你好 ok\r\n",
                        rng.below(2),
                        rng.below(8),
                        n,
                        n % 100000
                    ));
                }
            }
        }
        ms += step_ms;
        enc.output(Duration::from_millis(ms), out.as_bytes());
        if ms - last_flush >= 10_000 {
            enc.flush();
            last_flush = ms;
        }
        while let Some(m) = enc.pop_message() {
            written += m.len() as u64;
            f.write_all(&m).expect("write");
        }
    }
    enc.cut();
    enc.flush();
    while let Some(m) = enc.pop_message() {
        f.write_all(&m).expect("write");
    }
    f.flush().expect("flush");
    println!(
        "wrote {} ({} MB over {} s)",
        path.display(),
        written / 1_000_000,
        ms / 1000
    );
}

fn measure(path: &Path, seeks: usize) {
    let t = Instant::now();
    let mut src = PacketSource::open(&SourceSpec::File(path.to_path_buf()), None, false, false)
        .expect("open");
    let mut ix = Indexer::new((120, 40));
    let mut tl = Timeline::default();
    let mut batch = Vec::new();
    while let Some(p) = src.next_packet().expect("read") {
        batch.push(p);
        if batch.len() == 512 {
            tl.append(ix.chunk(std::mem::take(&mut batch)));
        }
    }
    tl.append(ix.chunk(batch));
    let load = t.elapsed();
    let dur = tl.duration();
    let mut emu = Emulator::new(&tl);
    let mut painter = Painter::new((120, 41));
    let mut rng = Rng(42);
    let mut times = Vec::with_capacity(seeks);
    let mut pos = dur / 2;
    for i in 0..seeks {
        // Alternate random jumps with arrow-key steps back and forth.
        pos = match i % 3 {
            0 => rng.below(dur + 1),
            1 => pos.saturating_sub(10_000),
            _ => (pos + 10_000).min(dur),
        };
        let t = Instant::now();
        let target = tl.index_at(pos as f64);
        emu.seek(&tl, target);
        painter.invalidate((120, 41));
        let s = painter.paint(emu.parser.screen(), Some("[paused]"));
        std::hint::black_box(s);
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_default();
    println!(
        "load+index {:.2} s, {} MB output, {} events, {} checkpoints, duration {} s, peak RSS {} MB",
        load.as_secs_f64(),
        tl.out.len() / 1_000_000,
        tl.events.len(),
        tl.checkpoints.len(),
        dur / 1000,
        rss.parse::<u64>().map(|k| k / 1024).unwrap_or(0)
    );
    println!(
        "seek latency over {seeks} seeks: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        ms(times[times.len() - 1])
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: seek-bench make FILE [MB] [SECONDS] | seek-bench measure FILE [SEEKS]";
    let (Some(cmd), Some(file)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match cmd.as_str() {
        "make" => make(&PathBuf::from(file), num(3, 100), num(4, 3600)),
        "measure" => measure(&PathBuf::from(file), num(3, 300) as usize),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
