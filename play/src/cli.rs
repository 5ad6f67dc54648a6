//! `tlog-rs play | list | export`: argument parsing and dispatch.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::args::{Arg, Args};
use crate::integrity::State;
use crate::options::{Goto, PlayOptions};
use crate::source::{JournalQuery, PacketSource, SourceSpec};
use crate::stored::{OpenStored, StoredArgs};
use crate::timestr::parse_time;
use crate::{asciicast, feed, interactive, list, raw, stream, term, timeline};
use tlog_rs_format::charset::Charset;

const PLAY_USAGE: &str = "\
usage: tlog-rs play [-i FILE | FILE] [-r file|journal] [-m REC] [--lax]
                    [-s SPEED] [-g TIME|start|end] [-p] [-f] [--no-status] [--persist]
                    [-M FIELD=VALUE]... [-S SINCE] [-U UNTIL]
       tlog-rs play --db DB|--config FILE [--host HOST] REC [OPTIONS]
                    (from the central index; -g starts at a stored keyframe)
Keys: SPACE/p pause, } { speed x2 /2, BACKSPACE speed 1, . step, G end,
      NG go to time N ([[H:]M:]S), LEFT/RIGHT -/+10 s, g TIME ENTER go to TIME, q quit.
TIME is [[H:]M:]S[.frac]; SINCE/UNTIL are Unix seconds.";

const LIST_USAGE: &str = "\
usage: tlog-rs list [FILE | -r journal [-M FIELD=VALUE]...] [--json]
                    [--user U] [--host H] [--since T] [--until T]
T is Unix seconds or YYYY-MM-DD[THH:MM[:SS]] (UTC).
STATE: complete (messages match the end entry), incomplete (no end entry:
recorder killed or session running), tampered (messages missing, extra or
rewritten against the end entry), unrecorded (pam_tlog's evidence of a
selected login where no recorder ran).
Exit status: 0 listed, 1 error or bad lines, 2 usage error,
3 a listed recording is tampered (takes precedence over 1).";

const EXPORT_USAGE: &str = "\
usage: tlog-rs export --format asciicast [-m REC] [--lax] [--input] [-o OUT] FILE
       tlog-rs export --format asciicast --db DB|--config FILE [--host HOST] REC [...]
       tlog-rs export --format raw [--charset NAME] [--input] [...] (output or input bytes;
                      NAME: the start entry's charset, to get the terminal's original bytes)";

/// Entry point for the three subcommands; returns the exit code.
pub fn run(cmd: &str, args: Vec<OsString>) -> i32 {
    run_with(cmd, args, None)
}

/// As [`run`], with an opener for recordings in the central store
/// (`--db`, `--config`); without one those options are refused.
pub fn run_with(cmd: &str, args: Vec<OsString>, open: Option<&OpenStored>) -> i32 {
    let r = match cmd {
        "play" => play(args, open),
        "list" => list_cmd(args),
        "export" => export(args, open),
        _ => Err(Failure::Usage(format!("unknown command {cmd}"), "")),
    };
    match r {
        Ok(code) => code,
        Err(Failure::Usage(msg, usage)) => {
            eprintln!("tlog-rs {cmd}: {msg}");
            if !usage.is_empty() {
                eprintln!("{usage}");
            }
            2
        }
        Err(Failure::Error(msg)) => {
            eprintln!("tlog-rs {cmd}: {msg}");
            1
        }
    }
}

enum Failure {
    Usage(String, &'static str),
    Error(String),
}

fn usage(usage: &'static str) -> impl Fn(String) -> Failure {
    move |m| Failure::Usage(m, usage)
}

struct SourceArgs {
    file: Option<PathBuf>,
    journal: bool,
    query: JournalQuery,
    store: StoredArgs,
}

impl SourceArgs {
    fn new() -> Self {
        SourceArgs {
            file: None,
            journal: false,
            query: JournalQuery::default(),
            store: StoredArgs::default(),
        }
    }

    /// The central store's options (play and export only).
    fn store_option(&mut self, opt: &str, args: &mut Args) -> Result<bool, String> {
        match opt {
            "db" => self.store.db = Some(args.value(opt)?),
            "config" => self.store.config = Some(PathBuf::from(args.value(opt)?)),
            "host" => self.store.host = Some(args.value(opt)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// With --db or --config: the recording to read from the central
    /// store, named by the positional argument or -m.
    fn stored(&mut self, rec: Option<String>) -> Result<Option<StoredArgs>, String> {
        if !self.store.wanted() {
            if self.store.host.is_some() {
                return Err(
                    "--host selects a recording of the central store: give --db or --config".into(),
                );
            }
            return Ok(None);
        }
        if self.journal || !self.query.matches.is_empty() {
            return Err("--db reads the central store: -r journal and -M do not apply".into());
        }
        let rec = match (self.file.take(), rec) {
            (Some(_), Some(_)) => return Err("give the recording once: REC or -m REC".into()),
            (Some(p), None) => p.to_string_lossy().into_owned(),
            (None, Some(r)) => r,
            (None, None) => return Err("--db: which recording? give its rec id".into()),
        };
        let mut a = std::mem::take(&mut self.store);
        a.rec = rec;
        Ok(Some(a))
    }

    /// A source option or one of the central store's (play and export).
    fn any_option(&mut self, opt: &str, args: &mut Args) -> Result<bool, String> {
        Ok(self.option(opt, args)? || self.store_option(opt, args)?)
    }

    /// Handle a source option; false if `opt` is not one.
    fn option(&mut self, opt: &str, args: &mut Args) -> Result<bool, String> {
        match opt {
            "i" | "file-path" => self.set_file(args.value(opt)?)?,
            "r" | "reader" => match args.value(opt)?.as_str() {
                "file" => self.journal = false,
                "journal" => self.journal = true,
                other => return Err(format!("unsupported reader {other:?} (file or journal)")),
            },
            "M" | "journal-match" => self.query.matches.push(args.value(opt)?),
            "S" | "journal-since" => self.query.since = Some(epoch_arg(&args.value(opt)?)?),
            "U" | "journal-until" => self.query.until = Some(epoch_arg(&args.value(opt)?)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_file(&mut self, f: String) -> Result<(), String> {
        if self.file.is_some() {
            return Err("only one input file".into());
        }
        self.file = Some(PathBuf::from(f));
        Ok(())
    }

    fn spec(self) -> Result<SourceSpec, String> {
        if self.journal {
            if self.file.is_some() {
                return Err("a file cannot be given with -r journal".into());
            }
            return Ok(SourceSpec::Journal(self.query));
        }
        if !self.query.matches.is_empty()
            || self.query.since.is_some()
            || self.query.until.is_some()
        {
            return Err("-M, -S and -U need -r journal".into());
        }
        self.file
            .map(SourceSpec::File)
            .ok_or_else(|| "no input: give FILE, -i FILE or -r journal".into())
    }
}

fn epoch_arg(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("invalid Unix time {s:?}"))
}

/// Open the stored recording, or say why not.
fn open_stored(
    open: Option<&OpenStored>,
    a: &StoredArgs,
    at: Option<u64>,
) -> Result<crate::stored::Stored, Failure> {
    let open = open
        .ok_or_else(|| Failure::Error("this build has no central index (--db, --config)".into()))?;
    open(a, at).map_err(Failure::Error)
}

fn play(args: Vec<OsString>, open: Option<&OpenStored>) -> Result<i32, Failure> {
    let u = usage(PLAY_USAGE);
    let mut args = Args::new(args).map_err(&u)?;
    let mut src = SourceArgs::new();
    let mut opts = PlayOptions::default();
    let (mut rec, mut lax, mut persist, mut screen_at) = (None, false, false, None);
    while let Some(a) = args.next().map_err(&u)? {
        match a {
            Arg::Positional(p) => src.set_file(p).map_err(&u)?,
            Arg::Opt(o) => {
                if src.any_option(&o, &mut args).map_err(&u)? {
                    continue;
                }
                match o.as_str() {
                    "m" | "file-match" => rec = Some(args.value(&o).map_err(&u)?),
                    "s" | "speed" => {
                        let v = args.value(&o).map_err(&u)?;
                        opts.speed = v
                            .parse::<f64>()
                            .ok()
                            .filter(|s| s.is_finite() && *s > 0.0)
                            .ok_or_else(|| u(format!("invalid speed {v:?}: a number above 0")))?;
                    }
                    "g" | "goto" => {
                        let v = args.value(&o).map_err(&u)?;
                        opts.goto = match v.as_str() {
                            "start" => None,
                            "end" => Some(Goto::End),
                            t => Some(Goto::At(parse_time(t).map_err(&u)?)),
                        };
                    }
                    "lax" => lax = true,
                    "p" | "paused" => opts.paused = true,
                    "f" | "follow" => opts.follow = true,
                    "no-status" => opts.status = false,
                    "persist" => persist = true,
                    // For tests: the emulator's screen after a straight
                    // replay up to TIME, as text rows.
                    "print-screen-at" => {
                        screen_at = Some(parse_time(&args.value(&o).map_err(&u)?).map_err(&u)?)
                    }
                    "checkpoint-bytes" => {
                        let v = args.value(&o).map_err(&u)?;
                        opts.checkpoint_bytes = v
                            .parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| u(format!("invalid --checkpoint-bytes {v:?}")))?;
                    }
                    "h" | "help" => {
                        println!("{PLAY_USAGE}");
                        return Ok(0);
                    }
                    _ => return Err(u(format!("unknown option {o}"))),
                }
                if matches!(
                    o.as_str(),
                    "lax" | "p" | "paused" | "f" | "follow" | "no-status" | "persist"
                ) {
                    args.flag().map_err(&u)?;
                }
            }
        }
    }
    let stored = src.stored(rec.clone()).map_err(&u)?;
    if opts.paused && !term::is_tty(term::STDIN) && screen_at.is_none() {
        // Nothing could ever resume it: keys are read only from a terminal.
        eprintln!("tlog-rs play: stdin is not a terminal, ignoring -p");
        opts.paused = false;
    }
    let mut source = match stored {
        Some(a) => {
            if opts.follow {
                return Err(u(
                    "-f follows a file or the journal, not the central store".into()
                ));
            }
            // A stored keyframe saves replaying what comes before the
            // target. The terminal player reads everything (its own
            // checkpoints let it rewind to the start).
            let at = match (screen_at, opts.goto) {
                (Some(t), _) => Some(t),
                (None, Some(Goto::At(t))) if !term::is_tty(term::STDOUT) => Some(t),
                _ => None,
            };
            let s = open_stored(open, &a, at)?;
            if let (Some(_), Some(k)) = (screen_at, s.keyframe_ms) {
                eprintln!("tlog-rs play: from the stored keyframe at {k} ms");
            }
            PacketSource::stored(s, lax)
        }
        None => {
            let spec = src.spec().map_err(&u)?;
            PacketSource::open(&spec, rec, lax, opts.follow).map_err(Failure::Error)?
        }
    };
    if let Some(ms) = screen_at {
        let screen = timeline::screen_at(&mut source, ms).map_err(Failure::Error)?;
        let (cols, _) = timeline::screen_size(&screen);
        for row in screen.rows(0, cols) {
            println!("{}", row.trim_end());
        }
        return Ok(0);
    }
    term::catch_signals();
    if term::is_tty(term::STDOUT) {
        return interactive::play(source, &opts, persist).map_err(Failure::Error);
    }
    let rx = feed::spawn(source, opts.follow, |b| b);
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    match stream::play(rx, &opts, &mut out) {
        Ok(stream::Outcome::Signal(s)) => Ok(128 + s),
        Ok(_) => Ok(0),
        Err(e) => Err(Failure::Error(e)),
    }
}

fn list_cmd(args: Vec<OsString>) -> Result<i32, Failure> {
    let u = usage(LIST_USAGE);
    let mut args = Args::new(args).map_err(&u)?;
    let mut src = SourceArgs::new();
    let mut f = list::Filter::default();
    let mut json = false;
    while let Some(a) = args.next().map_err(&u)? {
        match a {
            Arg::Positional(p) => src.set_file(p).map_err(&u)?,
            Arg::Opt(o) => {
                if src.option(&o, &mut args).map_err(&u)? {
                    continue;
                }
                match o.as_str() {
                    "json" => {
                        args.flag().map_err(&u)?;
                        json = true
                    }
                    "user" => f.user = Some(args.value(&o).map_err(&u)?),
                    "host" => f.host = Some(args.value(&o).map_err(&u)?),
                    "since" => {
                        f.since_ms =
                            Some(list::parse_when(&args.value(&o).map_err(&u)?).map_err(&u)?)
                    }
                    "until" => {
                        f.until_ms =
                            Some(list::parse_when(&args.value(&o).map_err(&u)?).map_err(&u)?)
                    }
                    "h" | "help" => {
                        println!("{LIST_USAGE}");
                        return Ok(0);
                    }
                    _ => return Err(u(format!("unknown option {o}"))),
                }
            }
        }
    }
    let spec = src.spec().map_err(&u)?;
    let (rows, bad) = list::collect(&spec).map_err(Failure::Error)?;
    let rows: Vec<_> = rows.into_iter().filter(|r| f.keep(r)).collect();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let text = if json {
        list::render_json(&rows)
    } else {
        list::render_table(&rows)
    };
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    for b in &bad {
        eprintln!("tlog-rs list: {b}");
    }
    let tampered = rows.iter().filter(|r| r.state == State::Tampered).count();
    if tampered > 0 {
        eprintln!("tlog-rs list: {tampered} recording(s) tampered with");
        return Ok(3);
    }
    Ok(if bad.is_empty() { 0 } else { 1 })
}

fn export(args: Vec<OsString>, open: Option<&OpenStored>) -> Result<i32, Failure> {
    let u = usage(EXPORT_USAGE);
    let mut args = Args::new(args).map_err(&u)?;
    let mut src = SourceArgs::new();
    let (mut rec, mut lax, mut input, mut out_path, mut format) = (None, false, false, None, None);
    let mut charset = None;
    while let Some(a) = args.next().map_err(&u)? {
        match a {
            Arg::Positional(p) => src.set_file(p).map_err(&u)?,
            Arg::Opt(o) => {
                if src.any_option(&o, &mut args).map_err(&u)? {
                    continue;
                }
                match o.as_str() {
                    "format" => format = Some(args.value(&o).map_err(&u)?),
                    "charset" => {
                        let v = args.value(&o).map_err(&u)?;
                        let c: Charset = v.parse().map_err(|e| u(format!("--charset: {e}")))?;
                        charset = Some(c);
                    }
                    "m" | "file-match" => rec = Some(args.value(&o).map_err(&u)?),
                    "o" | "output" => out_path = Some(PathBuf::from(args.value(&o).map_err(&u)?)),
                    "lax" => {
                        args.flag().map_err(&u)?;
                        lax = true
                    }
                    "input" => {
                        args.flag().map_err(&u)?;
                        input = true
                    }
                    "h" | "help" => {
                        println!("{EXPORT_USAGE}");
                        return Ok(0);
                    }
                    _ => return Err(u(format!("unknown option {o}"))),
                }
            }
        }
    }
    let raw = match format.as_deref() {
        Some("asciicast") => false,
        Some("raw") => true,
        Some(other) => return Err(u(format!("unsupported format {other:?} (asciicast, raw)"))),
        None => return Err(u("--format asciicast or raw is required".into())),
    };
    if charset.is_some() && !raw {
        return Err(u(
            "--charset needs --format raw (asciicast is UTF-8 text)".into()
        ));
    }
    let (mut source, meta) = match src.stored(rec.clone()).map_err(&u)? {
        Some(a) => {
            let mut s = open_stored(open, &a, None)?;
            let meta = std::mem::take(&mut s.meta);
            (PacketSource::stored(s, lax), meta)
        }
        None => {
            let spec = src.spec().map_err(&u)?;
            let source = PacketSource::open(&spec, rec, lax, false).map_err(Failure::Error)?;
            (source, asciicast::Meta::probe(&spec))
        }
    };
    let mut write = |w: &mut dyn Write| match raw {
        true => raw::export(&mut source, input, charset.unwrap_or(Charset::Utf8), w),
        false => asciicast::export(&mut source, &meta, input, w),
    };
    match out_path {
        Some(p) => {
            let f = std::fs::File::create(&p)
                .map_err(|e| Failure::Error(format!("{}: {e}", p.display())))?;
            let mut w = io::BufWriter::new(f);
            write(&mut w).map_err(Failure::Error)?;
            w.flush()
                .map_err(|e| Failure::Error(format!("{}: {e}", p.display())))?;
        }
        None => {
            let stdout = io::stdout();
            let mut w = io::BufWriter::new(stdout.lock());
            write(&mut w).map_err(Failure::Error)?;
            let _ = w.flush();
        }
    }
    Ok(0)
}
