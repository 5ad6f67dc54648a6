//! Benchmark of the web list's query (run by bench/web.sh, never by the
//! test suite: it is #[ignore]d and asserts nothing about timing). An
//! index of WEB_RECS (10,000) small recordings on SQLite and on a
//! throwaway PostgreSQL server (when installed); the latency of one
//! page of the list (`Store::search_page`: sorted, windowed and counted
//! by the database) for page 0 and a deep page, p50 and p95 over
//! WEB_QUERIES runs, against the old way measured in the same run: every
//! matching row fetched, sorted and paged in Rust.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use tlog_rs_format::{Encoder, RecHeader};
use tlog_rs_index::ingest::{Indexer, Problem};
use tlog_rs_index::store::postgres::Postgres as PgStore;
use tlog_rs_index::store::sqlite::Sqlite;
use tlog_rs_index::store::{Query, Sort, SortKey, Store};
use tlog_rs_tests::postgres::{pg_program, Postgres};
use tlog_rs_tests::rec::TempDir;

const PER: usize = 50;
const DEEP: usize = 150;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Central layout, <root>/<host>/<day>.jsonl: `n` recordings of three
/// output lines on 20 hosts by 40 users, starts a minute apart.
fn fixture(root: &Path, n: usize) {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..n {
        let host = format!("host{}.bench.example.com", i % 20);
        let h = RecHeader {
            host: host.clone(),
            rec: format!("{i:08x}-bench"),
            user: format!("user{}", i % 40),
            term: "xterm".into(),
            session: 1 + i as u32,
        };
        let start = UNIX_EPOCH + Duration::from_secs(1_780_000_000 + i as u64 * 60);
        let mut enc = Encoder::new(h, 1024, start);
        enc.window(Duration::ZERO, 80, 24);
        for k in 0..(1 + i % 3) as u64 {
            let line = format!("$ make target{k}\r\nbuilt {i} step {k}\r\n");
            enc.output(Duration::from_secs(k * 7), line.as_bytes());
        }
        enc.flush();
        let out = files.entry(host).or_default();
        while let Some(m) = enc.pop_message() {
            out.push_str(String::from_utf8(m).unwrap().trim_end());
            out.push('\n');
        }
    }
    for (host, text) in files {
        let d = root.join(host);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("2026-06-01.jsonl"), text).unwrap();
    }
}

fn index(db: &mut dyn Store, root: &Path) {
    let mut push = |p: Problem| panic!("fixture problem: {p:?}");
    Indexer::new(db, &mut push, false)
        .run(&[root.to_path_buf()])
        .unwrap();
}

/// p50 and p95 in ms of `runs` calls of `f`.
fn latency(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    let at = |q: f64| t[((runs as f64 * q).ceil() as usize).clamp(1, runs) - 1];
    (at(0.5), at(0.95))
}

/// The list before: every match fetched, sorted and paged in Rust.
fn full_fetch(db: &mut dyn Store, sort: Sort, page: usize) -> usize {
    let mut hits = db.search(&Query::default()).unwrap();
    sort.apply(&mut hits);
    hits.into_iter().skip(page * PER).take(PER).count()
}

/// The list now: the database sorts, windows and counts.
fn in_db(db: &mut dyn Store, sort: Sort, page: usize) -> usize {
    let p = db
        .search_page(&Query {
            order: Some(sort),
            limit: Some(PER),
            offset: page * PER,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(p.hits.len(), PER, "page {page} is full");
    p.total
}

fn report(name: &str, db: &mut dyn Store, runs: usize) {
    let n = db.search_page(&Query::default()).unwrap().total;
    println!("{name}, {n} recordings, {PER} per page, {runs} queries each:");
    let (b50, b95) = latency(runs, || {
        full_fetch(db, Sort::default(), 0);
    });
    println!("  full fetch + sort in Rust (before)      p50 {b50:7.2} ms  p95 {b95:7.2} ms");
    let by_user = Sort {
        key: SortKey::User,
        desc: false,
    };
    for (label, sort, page) in [
        ("page 0, newest first", Sort::default(), 0),
        ("page 150, newest first", Sort::default(), DEEP),
        ("page 150, by user", by_user, DEEP),
    ] {
        let (p50, p95) = latency(runs, || {
            in_db(db, sort, page);
        });
        println!(
            "  {label:<24} in the database     p50 {p50:7.2} ms  p95 {p95:7.2} ms  = {:.3}x the full fetch (p50)",
            p50 / b50
        );
    }
}

#[test]
#[ignore = "benchmark: bench/web.sh"]
fn web_list_page_latency() {
    let (n, runs) = (env("WEB_RECS", 10_000), env("WEB_QUERIES", 30));
    assert!(
        n >= (DEEP + 1) * PER,
        "WEB_RECS: at least {}",
        (DEEP + 1) * PER
    );
    let d = TempDir::new("web-list-bench");
    let root: PathBuf = d.path("central");
    fixture(&root, n);
    let mut sq = Sqlite::open(&d.path("index.db")).unwrap();
    index(&mut sq, &root);
    report("SQLite", &mut sq, runs);
    if pg_program("postgres").is_none() {
        println!("PostgreSQL: not measured (apt-get install postgresql)");
        return;
    }
    let pg = Postgres::start("web-list-bench");
    let mut db = PgStore::open(&pg.create_db("bench")).unwrap();
    index(&mut db, &root);
    report("PostgreSQL", &mut db, runs);
}
