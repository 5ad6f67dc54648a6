//! The recording as the interactive player holds it: output bytes and
//! window changes with their times, plus screen checkpoints so that any
//! point can be shown by emulating at most [`CHECKPOINT_BYTES`] of output.
//!
//! Emulator: the `vt100` crate. Measured here on a 50 MB text stream fed in
//! 4 KiB packets it emulates ~42 MB/s (avt 0.19: ~39 MB/s), a screen clone
//! (the checkpoint) takes ~3.5 µs for 80x24, it takes bytes (tlog output may
//! be invalid UTF-8; avt wants `str`), and it renders rows back to escape
//! sequences, which is how a seek paints the real terminal. avt's
//! `Terminal` cannot be cloned, so its checkpoints would be `dump()` strings
//! re-parsed on every seek.

use tlog_rs_format::{Packet, PacketData};

use crate::escstate::EscTracker;

/// Output between checkpoints. At ~40 MB/s a seek emulates at most ~13 ms.
pub const CHECKPOINT_BYTES: usize = 512 * 1024;

/// Memory for checkpoints. A checkpoint is a copy of both screen buffers
/// (32 bytes a cell): ~120 KB at 80x24, ~300 KB at 120x40. Past the budget
/// every other checkpoint is dropped, which doubles the spacing (and the
/// worst-case seek) instead of growing without bound.
pub const CHECKPOINT_BUDGET: usize = 192 * 1024 * 1024;

fn checkpoint_cost(c: &Checkpoint) -> usize {
    let (cols, rows) = screen_size(&c.screen);
    cols as usize * rows as usize * 64 + 1024
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Output bytes `out[start..end]`.
    Output {
        start: usize,
        end: usize,
    },
    Window {
        cols: u16,
        rows: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub ts: u64,
    pub kind: EventKind,
}

/// The emulator's screen after events `[0, next_event)`.
#[derive(Clone)]
pub struct Checkpoint {
    pub next_event: usize,
    pub screen: vt100::Screen,
}

/// What one batch of packets adds to the timeline (built on the reader
/// thread, appended by the player).
pub struct Chunk {
    pub out: Vec<u8>,
    pub events: Vec<Event>,
    pub checkpoints: Vec<Checkpoint>,
}

fn nz(v: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(v.max(1)).expect("at least 1")
}

pub fn new_parser(cols: u16, rows: u16) -> vt100::Parser {
    vt100::Parser::new(nz(rows), nz(cols), 0)
}

/// (cols, rows) of a screen.
pub fn screen_size(s: &vt100::Screen) -> (u16, u16) {
    let (rows, cols) = s.size();
    (cols.get(), rows.get())
}

/// Feeds every packet through its own emulator once, in reading order, and
/// records checkpoints.
pub struct Indexer {
    parser: vt100::Parser,
    tracker: EscTracker,
    since_checkpoint: usize,
    events: usize,
    out_len: usize,
    first: bool,
    every: usize,
}

impl Indexer {
    /// `size` is the screen before the recording's first window record.
    pub fn new(size: (u16, u16)) -> Self {
        Indexer {
            parser: new_parser(size.0, size.1),
            tracker: EscTracker::default(),
            since_checkpoint: 0,
            events: 0,
            out_len: 0,
            first: true,
            every: CHECKPOINT_BYTES,
        }
    }

    /// Checkpoint spacing in output bytes (tests use a small one).
    pub fn checkpoint_every(mut self, bytes: usize) -> Self {
        self.every = bytes.max(1);
        self
    }

    pub fn chunk(&mut self, packets: Vec<Packet>) -> Chunk {
        let mut c = Chunk {
            out: Vec::new(),
            events: Vec::new(),
            checkpoints: Vec::new(),
        };
        if self.first {
            self.first = false;
            c.checkpoints.push(Checkpoint {
                next_event: 0,
                screen: self.parser.screen().clone(),
            });
        }
        for p in packets {
            let kind = match p.data {
                PacketData::Output(d) => {
                    self.parser.process(&d);
                    self.tracker.feed(&d);
                    self.since_checkpoint += d.len();
                    let start = self.out_len;
                    self.out_len += d.len();
                    c.out.extend_from_slice(&d);
                    EventKind::Output {
                        start,
                        end: self.out_len,
                    }
                }
                // tlog writes 0x0 when the outer tty has no size: not a size.
                PacketData::Window { cols, rows } if cols > 0 && rows > 0 => {
                    apply_window(&mut self.parser, cols, rows);
                    EventKind::Window { cols, rows }
                }
                _ => continue,
            };
            c.events.push(Event { ts: p.ts, kind });
            self.events += 1;
            if self.since_checkpoint >= self.every && self.tracker.idle() {
                self.since_checkpoint = 0;
                c.checkpoints.push(Checkpoint {
                    next_event: self.events,
                    screen: self.parser.screen().clone(),
                });
            }
        }
        c
    }
}

pub fn apply_window(parser: &mut vt100::Parser, cols: u16, rows: u16) {
    if screen_size(parser.screen()) != (cols, rows) {
        parser.set_size(nz(rows), nz(cols));
    }
}

/// The screen after a plain replay of every packet at or before `ms`, with
/// no timeline or checkpoints: the reference that seeks are tested against.
pub fn screen_at(src: &mut crate::source::PacketSource, ms: u64) -> Result<vt100::Screen, String> {
    let mut parser = new_parser(80, 24);
    while let Some(p) = src.next_packet()? {
        if p.ts > ms {
            break;
        }
        match p.data {
            PacketData::Output(d) => parser.process(&d),
            PacketData::Window { cols, rows } if cols > 0 && rows > 0 => {
                apply_window(&mut parser, cols, rows)
            }
            _ => {}
        }
    }
    Ok(parser.screen().clone())
}

#[derive(Default)]
pub struct Timeline {
    pub out: Vec<u8>,
    pub events: Vec<Event>,
    pub checkpoints: Vec<Checkpoint>,
    checkpoint_bytes: usize,
    budget: Option<usize>,
}

impl Timeline {
    /// A timeline whose checkpoints may use at most `bytes` (tests).
    pub fn with_budget(bytes: usize) -> Self {
        Timeline {
            budget: Some(bytes),
            ..Timeline::default()
        }
    }

    pub fn append(&mut self, c: Chunk) {
        self.out.extend_from_slice(&c.out);
        self.events.extend_from_slice(&c.events);
        for cp in c.checkpoints {
            self.checkpoint_bytes += checkpoint_cost(&cp);
            self.checkpoints.push(cp);
        }
        let budget = self.budget.unwrap_or(CHECKPOINT_BUDGET);
        while self.checkpoint_bytes > budget && self.checkpoints.len() > 2 {
            // Keep the first (the start) and every other one after it.
            let mut i = 0;
            self.checkpoints.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.checkpoint_bytes = self.checkpoints.iter().map(checkpoint_cost).sum();
        }
    }

    /// Number of events at or before `ms`: the emulator state for time `ms`
    /// is events `[0, index)`.
    pub fn index_at(&self, ms: f64) -> usize {
        self.events.partition_point(|e| (e.ts as f64) <= ms)
    }

    pub fn duration(&self) -> u64 {
        self.events.last().map_or(0, |e| e.ts)
    }
}

/// The player's emulator: the screen after events `[0, next_event)`.
pub struct Emulator {
    pub parser: vt100::Parser,
    pub next_event: usize,
}

impl Emulator {
    pub fn new(tl: &Timeline) -> Self {
        let mut e = Emulator {
            parser: new_parser(80, 24),
            next_event: 0,
        };
        e.restore(&tl.checkpoints[0]);
        e
    }

    fn restore(&mut self, cp: &Checkpoint) {
        let (cols, rows) = screen_size(&cp.screen);
        self.parser = new_parser(cols, rows);
        *self.parser.screen_mut() = cp.screen.clone();
        self.next_event = cp.next_event;
    }

    fn apply(&mut self, tl: &Timeline, upto: usize) {
        for e in &tl.events[self.next_event..upto] {
            match e.kind {
                EventKind::Output { start, end } => self.parser.process(&tl.out[start..end]),
                EventKind::Window { cols, rows } => apply_window(&mut self.parser, cols, rows),
            }
        }
        self.next_event = upto;
    }

    /// Bring the screen to the state after events `[0, target)`: straight on
    /// if that is the shortest way, else from the nearest checkpoint before
    /// `target`. Returns true if it went through a checkpoint (full repaint).
    pub fn seek(&mut self, tl: &Timeline, target: usize) -> bool {
        let target = target.min(tl.events.len());
        let cp_i = tl.checkpoints.partition_point(|c| c.next_event <= target) - 1;
        let cp = &tl.checkpoints[cp_i];
        let jumped = target < self.next_event || cp.next_event > self.next_event;
        if jumped {
            self.restore(cp);
        }
        self.apply(tl, target);
        jumped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(ts: u64, d: &[u8]) -> Packet {
        Packet {
            ts,
            data: PacketData::Output(d.to_vec()),
        }
    }

    /// A recording with many checkpoints: small checkpoint spacing is
    /// emulated by lots of output; escape sequences and UTF-8 split across
    /// packets so checkpoints must dodge them.
    fn busy_timeline() -> Timeline {
        busy_timeline_with(Timeline::default())
    }

    fn busy_timeline_with(mut tl: Timeline) -> Timeline {
        let mut packets = vec![Packet {
            ts: 0,
            data: PacketData::Window { cols: 40, rows: 10 },
        }];
        let mut ts = 0;
        for i in 0..3000u32 {
            ts += 7;
            let filler = "x".repeat(i as usize % 90);
            let s = format!(
                "\x1b[{};{}H\x1b[3{}mline {i} {filler}你好\x1b]0;t{i}\x07\x1b[0m\r\n",
                i % 10 + 1,
                i % 30 + 1,
                i % 8
            );
            let b = s.as_bytes();
            // Cut each write in three at varying places, so packet ends
            // fall inside escape sequences and UTF-8 characters.
            let c1 = (i as usize * 7) % b.len();
            let c2 = c1 + (b.len() - c1) * (i as usize % 5) / 5;
            packets.push(out(ts, &b[..c1]));
            packets.push(out(ts, &b[c1..c2]));
            packets.push(out(ts, &b[c2..]));
            if i % 500 == 499 {
                packets.push(Packet {
                    ts,
                    data: PacketData::Window {
                        cols: 40 + (i / 500) as u16,
                        rows: 12,
                    },
                });
                packets.push(out(ts, b"\x1b[?1049h"));
            }
            if i % 500 == 250 {
                packets.push(out(ts, b"\x1b[?1049l"));
            }
        }
        let mut ix = Indexer::new((80, 24)).checkpoint_every(10_000);
        for batch in packets.chunks(100) {
            tl.append(ix.chunk(batch.to_vec()));
        }
        tl
    }

    fn same(a: &vt100::Screen, b: &vt100::Screen) -> bool {
        a.contents_formatted() == b.contents_formatted()
            && a.cursor_position() == b.cursor_position()
            && a.alternate_screen() == b.alternate_screen()
            && a.size() == b.size()
    }

    #[test]
    fn seek_equals_straight_replay_everywhere() {
        let tl = busy_timeline();
        assert!(
            tl.checkpoints.len() > 4,
            "test must cross checkpoints: {}",
            tl.checkpoints.len()
        );
        let mut e = Emulator::new(&tl);
        let n = tl.events.len();
        // Backwards, forwards, across checkpoints, and onto checkpoint edges.
        let mut targets: Vec<usize> = vec![n, 0, n / 2, n / 3, n - 1, 1, n / 2 + 1];
        targets.extend(tl.checkpoints.iter().flat_map(|c| {
            [
                c.next_event,
                c.next_event.saturating_sub(1),
                c.next_event + 1,
            ]
        }));
        // Straight replay once, keeping the screen at every target.
        let mut sorted: Vec<usize> = targets.iter().map(|t| (*t).min(n)).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut want = std::collections::HashMap::new();
        let mut s = Emulator::new(&tl);
        for &t in &sorted {
            s.apply(&tl, t);
            want.insert(t, s.parser.screen().clone());
        }
        for t in targets {
            let t = t.min(n);
            e.seek(&tl, t);
            assert!(
                same(e.parser.screen(), &want[&t]),
                "screen differs after seek to event {t}"
            );
        }
    }

    #[test]
    fn checkpoint_budget_thins_but_seeks_stay_exact() {
        let full = busy_timeline();
        let thin = busy_timeline_with(Timeline::with_budget(8 * 30 * 1024));
        assert!(
            thin.checkpoints.len() < full.checkpoints.len() / 2,
            "{} vs {}",
            thin.checkpoints.len(),
            full.checkpoints.len()
        );
        assert_eq!(thin.checkpoints[0].next_event, 0);
        let n = thin.events.len();
        let (mut a, mut b) = (Emulator::new(&full), Emulator::new(&thin));
        for t in [n, n / 3, n - 7, 5, n / 2] {
            a.seek(&full, t);
            b.seek(&thin, t);
            assert!(same(a.parser.screen(), b.parser.screen()), "event {t}");
        }
    }

    #[test]
    fn time_index() {
        let tl = busy_timeline();
        assert_eq!(tl.index_at(-1.0), 0);
        assert_eq!(tl.index_at(0.0), 1, "the window record at 0 ms");
        assert_eq!(tl.index_at(1e18), tl.events.len());
    }
}
