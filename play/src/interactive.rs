//! Playback on a terminal, with seeking. The reader thread indexes the
//! recording (see `timeline`) while this loop plays it: the emulator state
//! for the current position is painted onto the terminal, and a seek in any
//! direction restores the nearest checkpoint and emulates from there.

use std::io::Write;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::feed::{self, Feed};
use crate::keys::{Command, KeyParser};
use crate::options::{Goto, PlayOptions, EXIT_SEQUENCE};
use crate::render::Painter;
use crate::source::PacketSource;
use crate::term;
use crate::timeline::{screen_size, Chunk, Emulator, Indexer, Timeline};
use crate::timestr::format_time;

/// How long a notice stays on the status line.
const NOTICE: Duration = Duration::from_secs(3);
/// Status line refresh while playing (the position display).
const STATUS_TICK: Duration = Duration::from_millis(250);
/// Wake-up period while the reader may deliver more (loading, following).
const LOAD_TICK: Duration = Duration::from_millis(50);

struct State {
    tl: Timeline,
    emu: Emulator,
    clock: Clock,
    painter: Painter,
    loaded: bool,
    error: Option<String>,
    to_end: bool,
    prompt: Option<String>,
    notice: Option<(String, Instant)>,
    show_status: bool,
    follow: bool,
    /// Recording window size last reported to the user.
    reported_size: Option<(u16, u16)>,
    dirty: bool,
}

impl State {
    fn note(&mut self, msg: String) {
        self.notice = Some((msg, Instant::now()));
        self.dirty = true;
    }

    fn status_text(&self, now: Instant) -> Option<String> {
        let notice = self
            .notice
            .as_ref()
            .filter(|(_, t)| now.duration_since(*t) < NOTICE)
            .map(|(m, _)| m.as_str());
        let wanted = self.show_status || self.prompt.is_some() || notice.is_some();
        if !wanted {
            return None;
        }
        let pos = self.clock.position(now).max(0.0) as u64;
        let dur = self.tl.duration();
        // The notice goes first so that a narrow terminal still shows it.
        let mut s = notice.map(|n| format!("{n} | ")).unwrap_or_default();
        s.push_str(&format!(
            "{} {} / {}{}  x{}",
            if self.clock.is_paused() {
                "[paused]"
            } else {
                "[playing]"
            },
            format_time(pos.min(dur.max(pos))),
            format_time(dur),
            if self.loaded {
                ""
            } else if self.follow {
                " (following)"
            } else {
                " (loading)"
            },
            speed_text(self.clock.speed()),
        ));
        if let Some(p) = &self.prompt {
            s.push_str(&format!("  goto: {p}_"));
        }
        Some(s)
    }
}

fn speed_text(s: f64) -> String {
    if s >= 1.0 {
        format!("{}", s)
    } else {
        format!("1/{}", (1.0 / s).round())
    }
}

pub fn play(source: PacketSource, opts: &PlayOptions, persist: bool) -> Result<i32, String> {
    let tsize = term::window_size(term::STDOUT).unwrap_or((80, 24));
    let mut indexer = Indexer::new(tsize).checkpoint_every(opts.checkpoint_bytes);
    let rx = feed::spawn(source, opts.follow, move |p| indexer.chunk(p));
    let keys_tty = term::is_tty(term::STDIN);
    // Raw mode on the terminal we read keys from; otherwise still on stdout
    // to turn off output processing for painting.
    let _raw = term::RawMode::enter(
        if keys_tty { term::STDIN } else { term::STDOUT },
        if persist {
            term::Signals::AsBytes
        } else {
            term::Signals::Keep
        },
    )
    .ok();
    let mut keys = keys_tty.then(KeyParser::new);

    // Wait for the first chunk: it carries the first checkpoint.
    let mut tl = Timeline::default();
    let (mut loaded, mut error) = (false, None);
    match rx.recv() {
        Ok(Feed::Data(c)) => tl.append(c),
        Ok(Feed::End) | Err(_) => loaded = true,
        Ok(Feed::CaughtUp) => {}
        Ok(Feed::Error(e)) => {
            loaded = true;
            error = Some(e)
        }
    }
    if tl.checkpoints.is_empty() {
        // Nothing at all in the recording (or an error on line 1).
        tl.append(Indexer::new(tsize).chunk(Vec::new()));
    }
    let now = Instant::now();
    let mut st = State {
        emu: Emulator::new(&tl),
        tl,
        clock: Clock::new(now, opts.speed, opts.paused),
        painter: Painter::new(tsize),
        loaded,
        error,
        to_end: opts.goto == Some(Goto::End),
        prompt: None,
        notice: None,
        show_status: opts.status,
        follow: opts.follow,
        reported_size: None,
        dirty: true,
    };
    if let Some(Goto::At(t)) = opts.goto {
        st.clock.set_position(now, t as f64);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(&mut st, &rx, &mut keys, persist, &mut out);
    // Leave the recording's last screen without our status line on it.
    let _ = out.write_all(st.painter.paint(st.emu.parser.screen(), None).as_bytes());
    let _ = out.write_all(st.painter.exit_position(st.emu.parser.screen()).as_bytes());
    let _ = out.write_all(EXIT_SEQUENCE);
    let _ = out.flush();
    drop(rx);
    match result {
        Ok(code) => match st.error {
            Some(e) if code == 0 => Err(e),
            _ => Ok(code),
        },
        Err(e) => Err(e),
    }
}

fn run(
    st: &mut State,
    rx: &Receiver<Feed<Chunk>>,
    keys: &mut Option<KeyParser>,
    persist: bool,
    out: &mut impl Write,
) -> Result<i32, String> {
    let mut last_status_paint = Instant::now();
    loop {
        if let Some(sig) = term::signalled() {
            return Ok(128 + sig);
        }
        // 1. Take what the reader has indexed.
        loop {
            match rx.try_recv() {
                Ok(Feed::Data(c)) => st.tl.append(c),
                Ok(Feed::CaughtUp) => {}
                Ok(Feed::End) | Err(TryRecvError::Disconnected) => st.loaded = true,
                Ok(Feed::Error(e)) => {
                    st.loaded = true;
                    st.error = Some(e);
                }
                Err(TryRecvError::Empty) => break,
            }
            if st.loaded {
                break;
            }
        }
        let now = Instant::now();
        if st.to_end && st.loaded {
            st.to_end = false;
            st.clock.set_position(now, st.tl.duration() as f64);
        }
        // 2. Bring the emulator to the clock's position.
        let target = st.tl.index_at(st.clock.position(now));
        if target != st.emu.next_event {
            if st.emu.seek(&st.tl, target) {
                st.dirty = true;
            }
            st.dirty = true;
        }
        let (cols, rows) = screen_size(st.emu.parser.screen());
        if st.reported_size != Some((cols, rows)) {
            st.reported_size = Some((cols, rows));
            let (tc, tr) = st.painter.term_size();
            if (cols, rows) != (tc, tr) {
                let how = if cols > tc || rows > tr {
                    "clipped"
                } else {
                    "shown at top left"
                };
                st.note(format!(
                    "recording {cols}x{rows}, terminal {tc}x{tr}: {how}"
                ));
            }
            st.painter.invalidate((tc, tr));
        }
        if let Some(size) = term::window_size(term::STDOUT) {
            if size != st.painter.term_size() {
                st.painter.invalidate(size);
                st.reported_size = None;
                st.dirty = true;
                continue;
            }
        }
        // 3. Paint.
        let status = st.status_text(now);
        if st.dirty || (status.is_some() && now.duration_since(last_status_paint) >= STATUS_TICK) {
            let s = st.painter.paint(st.emu.parser.screen(), status.as_deref());
            if out
                .write_all(s.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return Ok(1);
            }
            st.dirty = false;
            last_status_paint = now;
        }
        // 4. At the end? tlog-play exits there; we stay while paused so
        //    the end can be rewound.
        let at_end = st.emu.next_event >= st.tl.events.len();
        if at_end && st.loaded && !st.clock.is_paused() && st.prompt.is_none() {
            return Ok(0);
        }
        // Following and everything shown: hold the clock at the last event,
        // so what the recorder writes next plays as it arrives, with its own
        // timing, instead of being skipped or delayed by the time we waited.
        if st.follow && at_end && !st.loaded && !st.clock.is_paused() && !st.tl.events.is_empty() {
            st.clock.set_position(now, st.tl.duration() as f64);
        }
        // 5. Sleep until the next event, a status refresh, or a key.
        let mut wait = st
            .tl
            .events
            .get(st.emu.next_event)
            .and_then(|e| st.clock.wait_for(now, e.ts));
        let mut cap = |d: Duration| wait = Some(wait.map_or(d, |w| w.min(d)));
        if !st.loaded {
            cap(LOAD_TICK);
        }
        if status.is_some() && !st.clock.is_paused() {
            cap(STATUS_TICK);
        }
        if let Some((_, t)) = &st.notice {
            let left = NOTICE.saturating_sub(now.duration_since(*t));
            if !left.is_zero() {
                cap(left + Duration::from_millis(5));
            } else {
                st.notice = None;
                st.dirty = true;
                cap(Duration::ZERO);
            }
        }
        // Terminal resizes are noticed on the next wake-up.
        cap(Duration::from_secs(1));
        if let Some(k) = keys {
            if !term::wait_readable(term::STDIN, wait).unwrap_or(false) {
                continue;
            }
            let mut buf = [0u8; 256];
            let cmds = match term::read_keys(term::STDIN, &mut buf) {
                Ok(Some(n)) => k.feed(&buf[..n]),
                Ok(None) | Err(_) => {
                    *keys = None;
                    continue;
                }
            };
            for c in cmds {
                if command(st, c, persist) {
                    return Ok(0);
                }
            }
        } else {
            term::sleep(wait.unwrap_or(Duration::from_secs(1)));
        }
    }
}

/// Apply one key command; true = quit.
fn command(st: &mut State, c: Command, persist: bool) -> bool {
    let now = Instant::now();
    let pos = st.clock.position(now);
    st.dirty = true;
    match c {
        Command::TogglePause => st.clock.toggle_pause(now),
        Command::Faster => st.clock.faster(now),
        Command::Slower => st.clock.slower(now),
        Command::ResetSpeed => st.clock.set_speed(now, 1.0),
        Command::Step => {
            if let Some(e) = st.tl.events.get(st.emu.next_event) {
                st.clock.set_position(now, pos.max(e.ts as f64));
            }
        }
        Command::GotoEnd => st.to_end = true,
        Command::Goto(t) => st.clock.set_position(now, t as f64),
        Command::SeekBy(d) => st.clock.set_position(now, (pos + d as f64).max(0.0)),
        Command::Quit => return !persist,
        Command::Prompt(p) => st.prompt = p,
        Command::BadTime(t) => st.note(format!("invalid time {t:?}: use [[H:]M:]S[.frac]")),
    }
    false
}
