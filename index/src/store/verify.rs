//! Candidate chunks checked against their text: decompressed and searched on
//! every core. The backends hand over the candidates of a few recordings
//! at a time, so that a search that stops early (its page is full) checks
//! little more than it keeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{snippet, Match};
use crate::text;

/// One recording's candidate chunks: start (ms) and stored (compressed) text, in
/// time order.
pub(crate) type Chunks = Vec<(i64, Vec<u8>)>;

/// Matches kept per recording.
pub(crate) const MAX_MATCHES: usize = 20;

/// Recordings handed over at a time: as many as the page still wants
/// (within these bounds), as if every one were a hit; without a page end,
/// the most.
pub(crate) fn batch(wanted: Option<usize>) -> usize {
    const FEWEST: usize = 4;
    const MOST: usize = 256;
    wanted.map_or(MOST, |w| w.clamp(FEWEST, MOST))
}

/// The matches of `needle` (ASCII-lowercased) in each recording's
/// chunks, at most MAX_MATCHES each, in time order.
pub(crate) fn text_matches(recs: &[Chunks], needle: &str) -> Vec<Vec<Match>> {
    let jobs: Vec<(usize, &(i64, Vec<u8>))> = recs
        .iter()
        .enumerate()
        .flat_map(|(r, chunks)| chunks.iter().map(move |c| (r, c)))
        .collect();
    let next = AtomicUsize::new(0);
    let found: Mutex<Vec<(usize, Match)>> = Mutex::new(Vec::new());
    let work = || {
        let (mut reader, mut lower) = (text::Decompressor::default(), Vec::new());
        loop {
            let j = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(_, (t_ms, z))) = jobs.get(j) else {
                break;
            };
            if let Some((body, pos)) = find_in_stored(reader.decompress(z), needle, &mut lower) {
                let m = Match {
                    offset_ms: *t_ms,
                    snippet: snippet(&body, pos, needle.len()),
                };
                found.lock().unwrap_or_else(|e| e.into_inner()).push((j, m));
            }
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.sort_unstable_by_key(|(j, _)| *j);
    let mut out = vec![Vec::new(); recs.len()];
    for (j, m) in found {
        let r: &mut Vec<Match> = &mut out[jobs[j].0];
        if r.len() < MAX_MATCHES {
            r.push(m);
        }
    }
    out
}

/// Adds recording `i`'s text matches to `matches`. False when a phrase
/// was asked (`texts` is set) and the recording holds none: not a hit.
pub(crate) fn keep_text_hit(
    texts: Option<&[Vec<Match>]>,
    i: usize,
    matches: &mut Vec<Match>,
) -> bool {
    match texts {
        Some(t) if t[i].is_empty() => false,
        Some(t) => {
            matches.extend(t[i].iter().cloned());
            true
        }
        None => true,
    }
}

/// A decompressed chunk's text and where `needle` is in it, if it is. The
/// text is searched ASCII-lowercased in `lower` (kept between calls);
/// invalid UTF-8 is searched as its lossy text, with text::find.
fn find_in_stored(raw: &[u8], needle: &str, lower: &mut Vec<u8>) -> Option<(String, usize)> {
    match std::str::from_utf8(raw) {
        Ok(body) => {
            lower.clear();
            lower.extend_from_slice(raw);
            lower.make_ascii_lowercase();
            let pos = memchr::memmem::find(lower, needle.as_bytes())?;
            Some((body.to_string(), pos))
        }
        Err(_) => {
            let body = String::from_utf8_lossy(raw).into_owned();
            let pos = text::find(&body, needle)?;
            Some((body, pos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_stay_in_order_per_recording_and_are_capped() {
        let chunk = |t: i64, s: &str| (t, text::compress(s));
        let many: Chunks = (0..30).map(|i| chunk(i, "Needle here")).collect();
        let recs = vec![
            vec![
                chunk(5, "no"),
                chunk(7, "a NEEDLE"),
                chunk(9, "needle again"),
            ],
            vec![chunk(1, "nothing")],
            // Raw deflate: the bodies of an index written before zstd.
            vec![(4, miniz_oxide::deflate::compress_to_vec(b"old needle", 4))],
            many,
            vec![(3, b"corrupt".to_vec())],
        ];
        let m = text_matches(&recs, "needle");
        let at = |r: usize| m[r].iter().map(|m| m.offset_ms).collect::<Vec<_>>();
        assert_eq!(at(0), [7, 9]);
        assert_eq!(m[0][0].snippet, "a NEEDLE");
        assert!(m[1].is_empty());
        assert_eq!(m[2][0].snippet, "old needle");
        assert_eq!(at(3), (0..20).collect::<Vec<_>>());
        assert!(m[4].is_empty());
        // Invalid UTF-8 is searched as its lossy text.
        let bad = zstd::bulk::compress(b"x\xffneedle", 1).unwrap();
        assert_eq!(
            text_matches(&[vec![(0, bad)]], "needle")[0][0].snippet,
            "x\u{FFFD}needle"
        );
        assert!(text_matches(&[], "needle").is_empty());
    }
}
