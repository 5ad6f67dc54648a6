//! Does a recording hold what its recorder says it wrote? `tlog-rs list`
//! compares the messages found for one `rec` with the counts and id range
//! of its session end entry (rec/src/sink/event.rs) and gives a [`State`].
//!
//! * `complete`: an end entry, and the messages match it: every id in
//!   `first_id..=last_id` except at most `messages_dropped` (the rate
//!   limiter and a failing sink consume ids), none outside, and exactly
//!   `messages_written` of them.
//! * `tampered`: an end entry the messages contradict (missing, extra,
//!   out-of-range or rewritten ids), or two messages with one id and
//!   different content (no recorder writes that, with or without an end
//!   entry), or two different end entries.
//! * `incomplete`: no end entry: the recorder was killed, the machine
//!   stopped, or the session is still running.
//! * `unrecorded`: not a recording but pam_tlog's `not_recorded` evidence:
//!   a selected login where no recorder ran (internal-sftp).
//!
//! End entries from before `first_id`/`last_id` existed are checked
//! against `messages_written` and the ids actually seen.

use std::fmt;
use std::str::FromStr;

/// Verdict on one recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum State {
    Complete,
    #[default]
    Incomplete,
    Tampered,
    Unrecorded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Complete => "complete",
            State::Incomplete => "incomplete",
            State::Tampered => "tampered",
            State::Unrecorded => "unrecorded",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        match s {
            "complete" => Ok(State::Complete),
            "incomplete" => Ok(State::Incomplete),
            "tampered" => Ok(State::Tampered),
            "unrecorded" => Ok(State::Unrecorded),
            _ => Err(format!(
                "unknown state {s:?}: expected complete, incomplete, tampered or unrecorded"
            )),
        }
    }
}

/// What an end entry claims. `id_range`: `None` when the entry predates
/// the keys, `Some(None)` when they are null (nothing was recorded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndClaims {
    pub written: Option<u64>,
    pub dropped: u64,
    pub id_range: Option<Option<(u64, u64)>>,
}

/// Every message of one recording as `(id, content hash)`, in file order.
#[derive(Debug, Default, Clone)]
pub struct IdLog(Vec<(u64, u64)>);

impl IdLog {
    pub fn push(&mut self, id: u64, content: &[u8]) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        content.hash(&mut h);
        self.0.push((id, h.finish()));
    }

    pub fn len(&self) -> u64 {
        self.0.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The findings on one recording: its state and, unless complete, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub state: State,
    /// Why it is tampered (empty otherwise).
    pub problems: Vec<String>,
}

/// Judge one recording from its messages and its (first) end entry;
/// `differing_ends` is true when it has two end entries that differ.
pub fn judge(log: IdLog, end: Option<&EndClaims>, differing_ends: bool) -> Verdict {
    let found = log.len();
    let mut ids = log.0;
    ids.sort_unstable();
    let mut problems = Vec::new();
    let mut distinct: Vec<u64> = Vec::with_capacity(ids.len());
    let mut conflicting = Vec::new();
    let mut repeated = 0u64;
    for w in ids.windows(2) {
        if w[0].0 == w[1].0 {
            repeated += 1;
            if w[0].1 != w[1].1 && conflicting.last() != Some(&w[0].0) {
                conflicting.push(w[0].0);
            }
        }
    }
    for (id, _) in &ids {
        if distinct.last() != Some(id) {
            distinct.push(*id);
        }
    }
    if !conflicting.is_empty() {
        problems.push(format!(
            "id {} found twice with different content",
            list_ids(&conflicting)
        ));
    }
    if differing_ends {
        problems.push("several different end entries".into());
    }
    let Some(end) = end else {
        let state = if problems.is_empty() {
            State::Incomplete
        } else {
            State::Tampered
        };
        return Verdict { state, problems };
    };
    if repeated > 0 && conflicting.is_empty() {
        problems.push(format!("{repeated} repeated message(s)"));
    }
    if let Some(w) = end.written {
        if found != w {
            problems.push(format!(
                "{found} message(s) found, end entry says {w} written"
            ));
        }
    }
    // The ids that must be there: the end entry's range, or for an older
    // end entry the span of the ids seen.
    let range = match end.id_range {
        Some(Some((a, b))) if a <= b => Some((a, b)),
        Some(Some((a, b))) => {
            problems.push(format!("end entry id range {a}..{b} is reversed"));
            None
        }
        Some(None) => {
            if found > 0 && end.written.is_none_or(|w| w == found) {
                problems.push("messages found, end entry says none were recorded".into());
            }
            None
        }
        None => distinct.first().zip(distinct.last()).map(|(a, b)| (*a, *b)),
    };
    if let Some((first, last)) = range {
        let outside: Vec<u64> = distinct
            .iter()
            .copied()
            .filter(|i| *i < first || *i > last)
            .collect();
        if !outside.is_empty() {
            problems.push(format!(
                "id {} outside the end entry's range {first}..{last}",
                list_ids(&outside)
            ));
        }
        let inside = distinct.len() as u64 - outside.len() as u64;
        let missing = (last - first + 1).saturating_sub(inside);
        if missing > end.dropped {
            problems.push(format!(
                "{missing} id(s) missing in {first}..{last}, {} dropped by the recorder",
                end.dropped
            ));
        }
    }
    Verdict {
        state: if problems.is_empty() {
            State::Complete
        } else {
            State::Tampered
        },
        problems,
    }
}

/// `3`, `3, 7`, or `3, 7, 9 and 4 more`.
fn list_ids(ids: &[u64]) -> String {
    let shown: Vec<String> = ids.iter().take(3).map(u64::to_string).collect();
    let mut s = shown.join(", ");
    if ids.len() > 3 {
        s.push_str(&format!(" and {} more", ids.len() - 3));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(msgs: &[(u64, &str)]) -> IdLog {
        let mut l = IdLog::default();
        for (id, c) in msgs {
            l.push(*id, c.as_bytes());
        }
        l
    }

    fn end(written: u64, dropped: u64, range: Option<(u64, u64)>) -> EndClaims {
        EndClaims {
            written: Some(written),
            dropped,
            id_range: Some(range),
        }
    }

    fn state(msgs: &[(u64, &str)], e: Option<&EndClaims>) -> (State, Vec<String>) {
        let v = judge(log(msgs), e, false);
        (v.state, v.problems)
    }

    const ABC: [(u64, &str); 3] = [(1, "a"), (2, "b"), (3, "c")];

    #[test]
    fn complete_only_when_everything_matches() {
        assert_eq!(
            state(&ABC, Some(&end(3, 0, Some((1, 3))))).0,
            State::Complete
        );
        // Order in the log does not matter (several writers interleave).
        assert_eq!(
            state(
                &[(2, "b"), (1, "a"), (3, "c")],
                Some(&end(3, 0, Some((1, 3))))
            )
            .0,
            State::Complete
        );
        // Rate-limiter drops leave gaps the end entry accounts for.
        assert_eq!(
            state(&[(1, "a"), (4, "d")], Some(&end(2, 2, Some((1, 4))))).0,
            State::Complete
        );
        assert_eq!(state(&[], Some(&end(0, 0, None))).0, State::Complete);
        // An older end entry: counts and the ids seen.
        let old = EndClaims {
            written: Some(3),
            dropped: 0,
            id_range: None,
        };
        assert_eq!(state(&ABC, Some(&old)).0, State::Complete);
    }

    #[test]
    fn tampering_is_named() {
        let e = end(3, 0, Some((1, 3)));
        let (s, p) = state(&ABC[..2], Some(&e));
        assert_eq!(s, State::Tampered);
        assert_eq!(
            p,
            [
                "2 message(s) found, end entry says 3 written",
                "1 id(s) missing in 1..3, 0 dropped by the recorder"
            ]
        );
        let (s, p) = state(&[(1, "a"), (2, "b"), (4, "c")], Some(&e));
        assert_eq!(s, State::Tampered);
        assert!(
            p[0].contains("id 4 outside the end entry's range 1..3"),
            "{p:?}"
        );
        let (s, p) = state(&[(1, "a"), (2, "b"), (2, "x"), (3, "c")], Some(&e));
        assert_eq!(s, State::Tampered);
        assert_eq!(p[0], "id 2 found twice with different content");
        let (s, p) = state(&[(1, "a"), (2, "b"), (2, "b"), (3, "c")], Some(&e));
        assert_eq!(s, State::Tampered);
        assert_eq!(p[0], "1 repeated message(s)");
        // Drops cannot hide more missing messages than were dropped.
        let (s, _) = state(&[(1, "a"), (4, "d")], Some(&end(2, 1, Some((1, 4)))));
        assert_eq!(s, State::Tampered);
        // A start entry, no messages, an end entry that says 3 were written.
        let (s, p) = state(&[], Some(&e));
        assert_eq!(s, State::Tampered);
        assert!(p[0].starts_with("0 message(s) found"), "{p:?}");
        // Messages where the end entry says there were none.
        assert_eq!(
            state(&[(1, "a")], Some(&end(0, 0, None))).0,
            State::Tampered
        );
        // Older end entry: a gap the drops do not explain.
        let old = EndClaims {
            written: Some(2),
            dropped: 0,
            id_range: None,
        };
        let (s, p) = state(&[(1, "a"), (3, "c")], Some(&old));
        assert_eq!(s, State::Tampered);
        assert_eq!(p, ["1 id(s) missing in 1..3, 0 dropped by the recorder"]);
        assert_eq!(
            judge(log(&ABC), Some(&e), true).state,
            State::Tampered,
            "two different end entries"
        );
    }

    #[test]
    fn no_end_entry_is_incomplete_unless_ids_conflict() {
        assert_eq!(state(&ABC, None).0, State::Incomplete);
        assert_eq!(state(&[(1, "a"), (3, "c")], None).0, State::Incomplete);
        assert_eq!(state(&[], None).0, State::Incomplete);
        assert_eq!(
            state(&[(1, "a"), (1, "b")], None).0,
            State::Tampered,
            "no recorder writes one id twice with different content"
        );
    }

    #[test]
    fn state_names_round_trip() {
        for s in [
            State::Complete,
            State::Incomplete,
            State::Tampered,
            State::Unrecorded,
        ] {
            assert_eq!(s.to_string().parse::<State>(), Ok(s));
        }
        assert!("done".parse::<State>().is_err());
    }
}
