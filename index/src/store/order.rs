//! The order of a search's hits: the web list's sortable columns, done by
//! the database so that a page fetches only its rows.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::{Hit, Query};

/// A column the hits sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Start,
    User,
    Host,
    Duration,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [
        SortKey::Start,
        SortKey::User,
        SortKey::Host,
        SortKey::Duration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Start => "start",
            SortKey::User => "user",
            SortKey::Host => "host",
            SortKey::Duration => "duration",
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SortKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SortKey::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "sort: unknown column {s:?} (start, user, host, duration; - for descending)"
                )
            })
    }
}

/// An order, `KEY` (ascending) or `-KEY`; newest first by default. Ties
/// go by start, host and recording, reversed together with the key, so
/// that every hit has one place and pages neither repeat nor skip one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub desc: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            key: SortKey::Start,
            desc: true,
        }
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.desc { "-" } else { "" }, self.key)
    }
}

impl FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (desc, key) = match s.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, s),
        };
        Ok(Sort {
            key: key.parse()?,
            desc,
        })
    }
}

impl Sort {
    /// The order of two hits; the backends' ORDER BY does the same.
    pub fn compare(self, a: &Hit, b: &Hit) -> Ordering {
        let o = match self.key {
            SortKey::Start => a.start_ms.cmp(&b.start_ms),
            SortKey::User => a.user.cmp(&b.user),
            SortKey::Host => a.host.cmp(&b.host),
            SortKey::Duration => (a.end_ms - a.start_ms).cmp(&(b.end_ms - b.start_ms)),
        }
        .then_with(|| (a.start_ms, &a.host, &a.rec).cmp(&(b.start_ms, &b.host, &b.rec)));
        if self.desc {
            o.reverse()
        } else {
            o
        }
    }

    /// Sort `hits` in this order.
    pub fn apply(self, hits: &mut [Hit]) {
        hits.sort_by(|a, b| self.compare(a, b));
    }

    /// The ORDER BY list, from the SQL expressions of the recording's
    /// user (as in the hit: '' for none), host and rec; `text` follows a
    /// text column (a collation, so that names compare by bytes as in
    /// Rust whatever the database's locale).
    pub(crate) fn sql(self, user: &str, host: &str, rec: &str, text: &str) -> String {
        let dir = if self.desc { "DESC" } else { "ASC" };
        let key = match self.key {
            // Not twice: the start index then serves the order.
            SortKey::Start => String::new(),
            SortKey::User => format!("{user}{text} {dir}, "),
            SortKey::Host => format!("{host}{text} {dir}, "),
            SortKey::Duration => format!("(COALESCE(r.end_ms, r.start_ms) - r.start_ms) {dir}, "),
        };
        format!("{key}r.start_ms {dir}, {host}{text} {dir}, {rec}{text} {dir}")
    }
}

/// One page of a search and how many hits there are in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub hits: Vec<Hit>,
    pub total: usize,
}

/// LIMIT and OFFSET clauses for a query's window (none: every row).
pub(crate) fn limit_sql(limit: Option<usize>, offset: usize) -> String {
    // The databases take signed 64-bit numbers.
    let n = |v: usize| v.min(i64::MAX as usize);
    match (limit, offset) {
        (None, 0) => String::new(),
        (l, o) => format!(" LIMIT {} OFFSET {}", n(l.unwrap_or(usize::MAX)), n(o)),
    }
}

/// Which hits, in order, make the page. The database windows them itself
/// unless each is checked after the query (`verified`: text phrases);
/// then the window is taken here, and the checked ones are the total.
pub(crate) struct Window {
    skip: usize,
    take: Option<usize>,
    count: bool,
    seen: usize,
    hits: Vec<Hit>,
}

impl Window {
    pub(crate) fn new(q: &Query, verified: bool, count: bool) -> Self {
        let (skip, take) = if verified {
            (q.offset, q.limit)
        } else {
            (0, None)
        };
        Window {
            skip,
            take,
            count,
            seen: 0,
            hits: Vec::new(),
        }
    }

    fn full(&self) -> bool {
        self.take.is_some_and(|l| self.hits.len() >= l)
    }

    /// True when no later hit can change the answer.
    pub(crate) fn done(&self) -> bool {
        !self.count && self.full()
    }

    /// How many more hits could fill the page (None: no end, every hit
    /// counts).
    pub(crate) fn wanted(&self) -> Option<usize> {
        match self.take {
            Some(l) if !self.count => Some((self.skip + l).saturating_sub(self.seen)),
            _ => None,
        }
    }

    /// A hit that passed every check, in order.
    pub(crate) fn push(&mut self, h: Hit) {
        self.seen += 1;
        if self.seen > self.skip && !self.full() {
            self.hits.push(h);
        }
    }

    /// The page; `total` if the database counted, else the hits checked.
    pub(crate) fn page(self, total: Option<usize>) -> Page {
        Page {
            total: total.unwrap_or(self.seen),
            hits: self.hits,
        }
    }
}
