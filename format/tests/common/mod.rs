//! Test helpers: re-feeding a decoded message into an Encoder in the order
//! that reproduces its timing string, and a small deterministic PRNG.
#![allow(dead_code)]

use std::time::Duration;

use tlog_rs_format::{parse_timing, Encoder, Message, TimingRecord};

/// xorshift64*: deterministic, dependency-free randomness for property tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Item {
    Delay(u64),
    Window(u16, u16),
    Run { dir: usize, data: Vec<u8> },
}

fn take_chars(txt: &mut &[u8], n: u64) -> Vec<u8> {
    let s = std::str::from_utf8(txt).unwrap();
    let mut end = 0;
    for (i, c) in s.char_indices().take(n as usize) {
        end = i + c.len_utf8();
    }
    let (a, b) = txt.split_at(end);
    *txt = b;
    a.to_vec()
}

/// Where the bytes to hold back start: an incomplete UTF-8 sequence at the
/// end of `data`, together with the broken lead sequences right before it
/// (each broken by the next lead): tlog writes those only when the byte that
/// ends the chain arrives. `data.len()` if there is none.
fn held_back_start(data: &[u8]) -> usize {
    // Start of the current chain of broken lead sequences, if any.
    let mut chain: Option<usize> = None;
    let mut i = 0;
    while i < data.len() {
        let (need, lo, hi) = match data[i] {
            0xc2..=0xdf => (2, 0x80, 0xbf),
            0xe0 => (3, 0xa0, 0xbf),
            0xe1..=0xec | 0xee..=0xef => (3, 0x80, 0xbf),
            0xed => (3, 0x80, 0x9f),
            0xf0 => (4, 0x90, 0xbf),
            0xf1..=0xf3 => (4, 0x80, 0xbf),
            0xf4 => (4, 0x80, 0x8f),
            _ => {
                chain = None;
                i += 1;
                continue;
            }
        };
        let mut k = 1;
        let (mut lo, mut hi) = (lo, hi);
        while k < need {
            match data.get(i + k) {
                None => return chain.unwrap_or(i),
                Some(&c) if c >= lo && c <= hi => {
                    (lo, hi) = (0x80, 0xbf);
                    k += 1;
                }
                Some(_) => break,
            }
        }
        if k == need {
            chain = None;
        } else {
            chain = chain.or(Some(i));
        }
        i += k;
    }
    data.len()
}

/// Re-feeds decoded messages to an encoder (see [`Refeeder::message`]).
#[derive(Default)]
pub struct Refeeder {
    /// Per direction: a broken sequence's bytes, held back to be fed with
    /// the data that broke it. The log does not say where tlog's reads
    /// ended; this assumes in the same read, which matters only when a
    /// message fills up right there (then tlog undoes the broken sequence if
    /// nothing of the new read fits).
    carry: [Held; 2],
}

/// Bytes held back for one direction.
#[derive(Default)]
pub struct Held {
    bytes: Vec<u8>,
    /// Millisecond they were read in.
    ts: u64,
}

impl Refeeder {
    /// Feeds one message's content to `enc` so that, if the encoder follows
    /// tlog's rules, it writes the same timing string: data of the same
    /// millisecond is fed run by run, in the order in which tlog closed the
    /// runs.
    pub fn message(&mut self, enc: &mut Encoder, msg: &Message) {
        refeed_with(enc, msg, &mut self.carry)
    }

    /// Feeds what is still held back; call before `Encoder::cut`.
    pub fn finish(&mut self, enc: &mut Encoder) {
        let [i, o] = std::mem::take(&mut self.carry);
        enc.input(Duration::from_millis(i.ts), &i.bytes);
        enc.output(Duration::from_millis(o.ts), &o.bytes);
    }
}

/// [`Refeeder::message`] for a message that holds no broken sequence at
/// the end of a run.
pub fn refeed(enc: &mut Encoder, msg: &Message) {
    let mut carry = Default::default();
    refeed_with(enc, msg, &mut carry);
    assert!(carry[0].bytes.is_empty() && carry[1].bytes.is_empty());
}

fn refeed_with(enc: &mut Encoder, msg: &Message, carry: &mut [Held; 2]) {
    let mut txt = [msg.in_txt.as_bytes(), msg.out_txt.as_bytes()];
    let mut bin = [&msg.in_bin[..], &msg.out_bin[..]];
    let mut items = Vec::new();
    for r in parse_timing(&msg.timing).unwrap() {
        items.push(match r {
            TimingRecord::Delay(d) => Item::Delay(d),
            TimingRecord::Window(c, r) => Item::Window(c, r),
            TimingRecord::InTxt(n) | TimingRecord::OutTxt(n) => {
                let dir = matches!(r, TimingRecord::OutTxt(_)) as usize;
                Item::Run {
                    dir,
                    data: take_chars(&mut txt[dir], n),
                }
            }
            TimingRecord::InBin(n, m) | TimingRecord::OutBin(n, m) => {
                let dir = matches!(r, TimingRecord::OutBin(..)) as usize;
                take_chars(&mut txt[dir], n);
                let (a, b) = bin[dir].split_at(m as usize);
                bin[dir] = b;
                Item::Run {
                    dir,
                    data: a.to_vec(),
                }
            }
        });
    }
    let mut ts = msg.pos;
    let mut i = 0;
    // Direction to feed first in the next group: the one whose last run was
    // closed ahead of the other's (tlog closes a run on a type switch before
    // the delay flush, which closes input then output).
    let mut first_dir = 0;
    while i < items.len() {
        match &items[i] {
            Item::Delay(d) => {
                ts += d;
                i += 1;
            }
            Item::Window(c, r) => {
                enc.window(Duration::from_millis(ts), *c, *r);
                i += 1;
            }
            Item::Run { .. } => {
                let j = (i..items.len())
                    .find(|&k| !matches!(items[k], Item::Run { .. }))
                    .unwrap_or(items.len());
                let group: Vec<(usize, &[u8])> = items[i..j]
                    .iter()
                    .map(|it| match it {
                        Item::Run { dir, data } => (*dir, &data[..]),
                        _ => unreachable!(),
                    })
                    .collect();
                let t = Duration::from_millis(ts);
                let send = |enc: &mut Encoder, dir: usize, t: Duration, data: &[u8]| {
                    if dir == 0 {
                        enc.input(t, data)
                    } else {
                        enc.output(t, data)
                    }
                };
                let mut feed = |enc: &mut Encoder, k: usize| {
                    let (dir, data) = group[k];
                    let held = std::mem::take(&mut carry[dir]);
                    let mut all = held.bytes;
                    if !all.is_empty() && held.ts != ts {
                        // Read in an earlier millisecond; only the byte
                        // ending it comes now.
                        send(enc, dir, Duration::from_millis(held.ts), &all);
                        all.clear();
                    }
                    all.extend_from_slice(data);
                    let keep = held_back_start(&all);
                    carry[dir] = Held {
                        bytes: all.split_off(keep),
                        ts,
                    };
                    send(enc, dir, t, &all);
                };
                // First run of each direction, then each later run at the
                // point where the run before it was closed.
                for dir in [first_dir, 1 - first_dir] {
                    if let Some(k) = group.iter().position(|g| g.0 == dir) {
                        feed(enc, k);
                    }
                }
                for k in 0..group.len() {
                    if let Some(n) = (k + 1..group.len()).find(|&n| group[n].0 == group[k].0) {
                        feed(enc, n);
                    }
                }
                let last_in = group.iter().rposition(|g| g.0 == 0);
                let last_out = group.iter().rposition(|g| g.0 == 1);
                first_dir = match (last_in, last_out) {
                    (Some(a), Some(b)) if b < a => 1,
                    _ => 0,
                };
                i = j;
            }
        }
    }
}

/// Splits a message line at its `"time":` value: (line without it, time in ms).
pub fn split_time(line: &[u8]) -> (Vec<u8>, Option<u64>) {
    let s = std::str::from_utf8(line).unwrap();
    let Some(a) = s.find(",\"time\":") else {
        return (line.to_vec(), None);
    };
    let rest = &s[a + 8..];
    let b = rest.find(',').unwrap();
    let (sec, ms) = rest[..b].split_once('.').unwrap();
    assert_eq!(ms.len(), 3, "time has 3 decimals: {}", &rest[..b]);
    let t = sec.parse::<u64>().unwrap() * 1000 + ms.parse::<u64>().unwrap();
    let mut out = s[..a].to_owned();
    out.push_str(&rest[b..]);
    (out.into_bytes(), Some(t))
}

/// Our messages against tlog's, line for line: the same but for `time`,
/// which may be 1 ms later in tlog's (it keeps the sub-ms wall clock).
/// `what` names the case in a failure.
pub fn assert_same_messages(ours: &[Vec<u8>], theirs: &[impl AsRef<[u8]>], what: &str) {
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        let ((o_rest, o_time), (t_rest, t_time)) = (split_time(o), split_time(t.as_ref()));
        assert_eq!(
            String::from_utf8_lossy(&o_rest),
            String::from_utf8_lossy(&t_rest),
            "{what}: message {} differs",
            i + 1
        );
        let (o_time, t_time) = (o_time.unwrap(), t_time.unwrap());
        assert!(
            t_time == o_time || t_time == o_time + 1,
            "{what}: message {}: time {o_time} vs {t_time}",
            i + 1
        );
    }
    assert_eq!(ours.len(), theirs.len(), "{what}: message count");
}
