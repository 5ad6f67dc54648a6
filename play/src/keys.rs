//! Keyboard commands, as in tlog-play plus seeking: bytes from the terminal in
//! raw mode become [`Command`]s. Escape sequences are parsed out so that
//! arrow keys work and nothing else in them is taken for a command.

use crate::timestr::parse_time;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    TogglePause,
    Faster,
    Slower,
    ResetSpeed,
    Step,
    /// `G`: to the end, or to the time typed before it (`30G`).
    GotoEnd,
    /// `30G`, or `g` + time + Enter.
    Goto(u64),
    /// Arrow keys: relative seek in milliseconds.
    SeekBy(i64),
    Quit,
    /// The `g` prompt opened, changed or closed (`None`): for the status line.
    Prompt(Option<String>),
    /// A typed time that does not parse.
    BadTime(String),
}

#[derive(Debug, Default)]
enum EscState {
    #[default]
    None,
    /// Saw ESC.
    Start,
    /// Inside CSI (`ESC [`) or SS3 (`ESC O`).
    Csi,
    Ss3,
    /// Inside OSC/DCS/APC/PM/SOS, up to BEL or ST.
    Str,
    StrEsc,
}

/// Turns key bytes into commands. Keeps state across reads, since an escape
/// sequence or a typed time can be split between them.
#[derive(Debug, Default)]
pub struct KeyParser {
    esc: EscState,
    /// Digits and `:` typed before `G` (tlog-play's syntax).
    typed: String,
    /// Text of the open `g` prompt.
    prompt: Option<String>,
}

pub const SEEK_STEP_MS: i64 = 10_000;

impl KeyParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Command> {
        let mut out = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            match self.esc {
                EscState::None => {
                    if b == 0x1b {
                        // A lone ESC at the end of a read is the Escape key.
                        if i + 1 == bytes.len() {
                            self.escape_key(&mut out);
                        } else {
                            self.esc = EscState::Start;
                        }
                    } else {
                        self.key(b, &mut out);
                    }
                }
                EscState::Start => {
                    self.esc = match b {
                        b'[' => EscState::Csi,
                        b'O' => EscState::Ss3,
                        b']' | b'P' | b'_' | b'^' | b'X' => EscState::Str,
                        0x1b => {
                            self.escape_key(&mut out);
                            EscState::Start
                        }
                        _ => EscState::None,
                    }
                }
                EscState::Csi | EscState::Ss3 => {
                    if (0x40..=0x7e).contains(&b) {
                        match b {
                            b'C' => out.push(Command::SeekBy(SEEK_STEP_MS)),
                            b'D' => out.push(Command::SeekBy(-SEEK_STEP_MS)),
                            _ => {}
                        }
                        self.esc = EscState::None;
                    } else if b == 0x1b {
                        self.esc = EscState::Start;
                    }
                }
                EscState::Str => {
                    if b == 0x07 {
                        self.esc = EscState::None;
                    } else if b == 0x1b {
                        self.esc = EscState::StrEsc;
                    }
                }
                EscState::StrEsc => {
                    self.esc = if b == b'\\' {
                        EscState::None
                    } else {
                        EscState::Str
                    }
                }
            }
        }
        out
    }

    fn escape_key(&mut self, out: &mut Vec<Command>) {
        if self.prompt.take().is_some() {
            out.push(Command::Prompt(None));
        }
        self.typed.clear();
    }

    fn key(&mut self, b: u8, out: &mut Vec<Command>) {
        if let Some(p) = &mut self.prompt {
            match b {
                b'0'..=b'9' | b':' | b'.' => p.push(b as char),
                0x7f | 0x08 => {
                    p.pop();
                }
                b'\r' | b'\n' => {
                    let text = self.prompt.take().unwrap_or_default();
                    out.push(Command::Prompt(None));
                    out.push(match parse_time(&text) {
                        Ok(ms) => Command::Goto(ms),
                        Err(_) => Command::BadTime(text),
                    });
                    return;
                }
                b'q' => {
                    self.prompt = None;
                    out.push(Command::Prompt(None));
                    return;
                }
                _ => {}
            }
            out.push(Command::Prompt(self.prompt.clone()));
            return;
        }
        match b {
            b'0'..=b'9' | b':' => {
                self.typed.push(b as char);
                return;
            }
            b'G' => {
                let typed = std::mem::take(&mut self.typed);
                out.push(if typed.is_empty() {
                    Command::GotoEnd
                } else {
                    match parse_time(&typed) {
                        Ok(ms) => Command::Goto(ms),
                        Err(_) => Command::BadTime(typed),
                    }
                });
                return;
            }
            b' ' | b'p' => out.push(Command::TogglePause),
            b'}' => out.push(Command::Faster),
            b'{' => out.push(Command::Slower),
            0x7f | 0x08 => out.push(Command::ResetSpeed),
            b'.' => out.push(Command::Step),
            b'q' => out.push(Command::Quit),
            b'g' => {
                self.prompt = Some(String::new());
                out.push(Command::Prompt(Some(String::new())));
            }
            _ => {}
        }
        // Any other key ends a typed time, as in tlog-play.
        self.typed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Command::*;
    use super::*;

    fn keys(s: &[u8]) -> Vec<Command> {
        KeyParser::new().feed(s)
    }

    #[test]
    fn tlog_play_keys() {
        assert_eq!(
            keys(b" p}{\x7f.Gq"),
            vec![
                TogglePause,
                TogglePause,
                Faster,
                Slower,
                ResetSpeed,
                Step,
                GotoEnd,
                Quit
            ]
        );
        assert_eq!(keys(b"30G"), vec![Goto(30_000)]);
        assert_eq!(keys(b"30:G"), vec![Goto(1_800_000)]);
        assert_eq!(keys(b"2::G"), vec![Goto(7_200_000)]);
        assert_eq!(
            keys(b"3pG"),
            vec![TogglePause, GotoEnd],
            "another key drops typed digits"
        );
    }

    #[test]
    fn arrows_and_ignored_sequences() {
        assert_eq!(
            keys(b"\x1b[D\x1b[C\x1bOD"),
            vec![SeekBy(-10_000), SeekBy(10_000), SeekBy(-10_000)]
        );
        assert_eq!(keys(b"\x1b[1;5Aq"), vec![Quit]);
        assert_eq!(
            keys(b"\x1b]0;p q G\x07."),
            vec![Step],
            "OSC content is not keys"
        );
        // Split across reads.
        let mut k = KeyParser::new();
        assert_eq!(k.feed(b"\x1b["), vec![]);
        assert_eq!(k.feed(b"D"), vec![SeekBy(-10_000)]);
    }

    #[test]
    fn goto_prompt() {
        let mut k = KeyParser::new();
        assert_eq!(k.feed(b"g"), vec![Prompt(Some(String::new()))]);
        let got = k.feed(b"1:3x0\x7f5\r");
        assert_eq!(got.last(), Some(&Goto(95_000)), "1:30, backspace, 5");
        assert_eq!(got[got.len() - 2], Prompt(None));
        // ESC cancels; keys work again afterwards.
        assert_eq!(
            k.feed(b"g12"),
            vec![
                Prompt(Some("".into())),
                Prompt(Some("1".into())),
                Prompt(Some("12".into()))
            ]
        );
        assert_eq!(k.feed(b"\x1b"), vec![Prompt(None)]);
        assert_eq!(k.feed(b"q"), vec![Quit]);
        let got = KeyParser::new().feed(b"g1:2:3:4\r");
        assert_eq!(got.last(), Some(&BadTime("1:2:3:4".into())));
    }
}
