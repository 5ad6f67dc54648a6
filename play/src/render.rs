//! Paints the emulator's screen onto the real terminal, row by row, only
//! where it changed. The recording's bytes never reach the terminal
//! directly, so a recording cannot switch modes, set titles or write the
//! clipboard of the auditor's terminal, a seek is one repaint, and a
//! recording larger than the terminal is clipped instead of scrolled.

use crate::timeline::screen_size;

pub struct Painter {
    /// Formatted rows as last painted; None = unknown, repaint.
    rows: Vec<Option<String>>,
    term: (u16, u16),
    full: bool,
    status: Option<String>,
}

impl Painter {
    pub fn new(term: (u16, u16)) -> Self {
        Painter {
            rows: Vec::new(),
            term,
            full: true,
            status: None,
        }
    }

    /// The terminal changed size or was overwritten: repaint everything.
    pub fn invalidate(&mut self, term: (u16, u16)) {
        self.term = term;
        self.full = true;
    }

    pub fn term_size(&self) -> (u16, u16) {
        self.term
    }

    /// Does the status line have a row of its own below the recording?
    pub fn spare_row(&self, screen: &vt100::Screen) -> bool {
        self.term.1 > screen_size(screen).1
    }

    /// Escape sequences that make the terminal show `screen` and, on the
    /// last terminal row, `status` (over the recording if there is no spare
    /// row: that row is restored once the status goes away).
    pub fn paint(&mut self, screen: &vt100::Screen, status: Option<&str>) -> String {
        let (cols, rows) = screen_size(screen);
        let (tcols, trows) = self.term;
        let mut s = String::new();
        if self.full {
            s.push_str("\x1b[0m\x1b[H\x1b[2J");
            self.rows = vec![None; rows as usize];
            self.status = None;
            self.full = false;
        }
        self.rows.resize(rows as usize, None);
        let status_row = trows; // 1-based
        let overlay = status.is_some() && trows <= rows;
        // Clip to the terminal; leave the last column free when clipping so
        // a wide character cannot wrap onto the next row.
        let width = if tcols >= cols {
            cols
        } else {
            tcols.saturating_sub(1)
        };
        let visible = rows.min(trows);
        for (i, text) in screen
            .rows_formatted(0, width)
            .enumerate()
            .take(visible as usize)
        {
            let r = i as u16 + 1;
            if overlay && r == status_row {
                self.rows[i] = None;
                continue;
            }
            if self.rows[i].as_deref() == Some(text.as_str()) {
                continue;
            }
            s.push_str(&format!("\x1b[{r};1H\x1b[0m\x1b[2K"));
            s.push_str(&text);
            self.rows[i] = Some(text);
        }
        if status != self.status.as_deref() || (status.is_some() && overlay) {
            if let Some(text) = status {
                let text: String = text.chars().take(tcols as usize).collect();
                s.push_str(&format!(
                    "\x1b[{status_row};1H\x1b[0m\x1b[2K\x1b[7m{text}\x1b[0m"
                ));
            } else if trows > rows {
                s.push_str(&format!("\x1b[{status_row};1H\x1b[0m\x1b[2K"));
            }
            self.status = status.map(str::to_string);
        }
        s.push_str("\x1b[0m");
        let (crow, ccol) = screen.cursor_position();
        let cursor_shown = !screen.hide_cursor()
            && crow < visible
            && ccol < tcols
            && !(overlay && crow + 1 == status_row);
        if cursor_shown {
            s.push_str(&format!("\x1b[{};{}H\x1b[?25h", crow + 1, ccol + 1));
        } else {
            s.push_str("\x1b[?25l");
        }
        s
    }

    /// Where to leave the cursor at exit: below the painted recording.
    pub fn exit_position(&self, screen: &vt100::Screen) -> String {
        let rows = screen_size(screen).1.min(self.term.1);
        format!("\x1b[{rows};1H")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::new_parser;

    /// Paint onto an emulated terminal and read it back.
    fn show(
        painter: &mut Painter,
        src: &vt100::Screen,
        term: &mut vt100::Parser,
        status: Option<&str>,
    ) {
        let s = painter.paint(src, status);
        term.process(s.as_bytes());
    }

    #[test]
    fn painted_screen_matches_source_and_diffs_are_small() {
        let mut rec = new_parser(20, 5);
        rec.process(
            "\x1b[31mred\x1b[0m plain\r\nsecond 你好 line that wraps around\r\n\x1b[7mrev"
                .as_bytes(),
        );
        let mut term = new_parser(30, 8);
        let mut p = Painter::new((30, 8));
        show(&mut p, rec.screen(), &mut term, Some("status"));
        for r in 0..5 {
            for c in 0..20 {
                let (a, b) = (
                    rec.screen().cell(r, c).unwrap(),
                    term.screen().cell(r, c).unwrap(),
                );
                assert_eq!(a.contents(), b.contents(), "cell {r},{c}");
                assert_eq!(a.fgcolor(), b.fgcolor(), "cell {r},{c}");
                assert_eq!(a.inverse(), b.inverse(), "cell {r},{c}");
            }
        }
        assert_eq!(
            term.screen().cursor_position(),
            rec.screen().cursor_position()
        );
        assert!(term
            .screen()
            .contents()
            .lines()
            .nth(7)
            .unwrap()
            .starts_with("status"));
        // Nothing changed: nothing but cursor bookkeeping is written.
        let again = p.paint(rec.screen(), Some("status"));
        assert!(!again.contains("2K"), "{again:?}");
        rec.process(b"\x1b[1;1Hnew\x1b[5;1Hlast");
        let diff = p.paint(rec.screen(), Some("status"));
        assert_eq!(diff.matches("2K").count(), 2, "two rows changed: {diff:?}");
    }

    #[test]
    fn clipped_when_terminal_is_smaller() {
        let mut rec = new_parser(40, 10);
        for i in 0..10 {
            rec.process(format!("row {i} {}\r\n", "x".repeat(30)).as_bytes());
        }
        let mut term = new_parser(20, 6);
        let mut p = Painter::new((20, 6));
        show(&mut p, rec.screen(), &mut term, Some("status"));
        let lines: Vec<String> = term.screen().rows(0, 20).collect();
        assert_eq!(lines[0], rec.screen().rows(0, 19).next().unwrap());
        assert!(lines[5].starts_with("status"));
        // Nothing scrolled off: the first row is still the recording's first.
        let mut p2 = Painter::new((20, 6));
        let mut term2 = new_parser(20, 6);
        show(&mut p2, rec.screen(), &mut term2, None);
        assert_eq!(
            term2.screen().rows(0, 20).nth(5).unwrap(),
            rec.screen().rows(0, 19).nth(5).unwrap()
        );
    }
}
