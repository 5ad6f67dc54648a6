//! Knows when the byte stream fed to the emulator is between escape
//! sequences. A checkpoint keeps only the emulator's screen (its parser
//! state cannot be copied), so checkpoints are taken only where the parser
//! is idle. The transitions mirror vte's; where unsure this tracker stays
//! "inside", which only costs a skipped checkpoint, and it re-synchronises at
//! the next complete sequence.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Ground,
    Escape,
    EscapeIntermediate,
    Csi,
    /// OSC: ends with BEL, ST (ESC \), CAN or SUB.
    Osc,
    /// DCS, SOS, PM, APC: end with ST, CAN or SUB (not BEL).
    Str,
}

#[derive(Debug, Clone, Default)]
pub struct EscTracker {
    state: State,
    last: u8,
}

impl EscTracker {
    pub fn feed(&mut self, bytes: &[u8]) {
        use State::*;
        for &b in bytes {
            // "Anywhere" transitions.
            if b == 0x18 || b == 0x1a {
                self.state = Ground;
                continue;
            }
            if b == 0x1b {
                self.state = Escape;
                continue;
            }
            self.state = match (self.state, b) {
                (Ground, _) => Ground,
                (Escape, 0x20..=0x2f) => EscapeIntermediate,
                (Escape, b'[') => Csi,
                (Escape, b']') => Osc,
                (Escape, b'P' | b'X' | b'^' | b'_') => Str,
                (Escape, 0x30..=0x7e) => Ground,
                (EscapeIntermediate, 0x30..=0x7e) => Ground,
                (Csi, 0x40..=0x7e) => Ground,
                (Osc, 0x07) => Ground,
                (s, _) => s,
            };
        }
        if let Some(&b) = bytes.last() {
            self.last = b;
        }
    }

    /// True when the parser is certainly idle: no sequence open and no
    /// UTF-8 character half-read (the last byte was ASCII).
    pub fn idle(&self) -> bool {
        self.state == State::Ground && self.last < 0x80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle_after(b: &[u8]) -> bool {
        let mut t = EscTracker::default();
        t.feed(b);
        t.idle()
    }

    #[test]
    fn sequences() {
        assert!(idle_after(b"plain\r\n"));
        assert!(!idle_after(b"x\x1b"));
        assert!(!idle_after(b"x\x1b[1;3"));
        assert!(idle_after(b"x\x1b[1;31m"));
        assert!(idle_after(b"\x1b[?1049h"));
        assert!(!idle_after(b"\x1b]0;title"));
        assert!(idle_after(b"\x1b]0;title\x07"));
        assert!(idle_after(b"\x1b]0;title\x1b\\"));
        assert!(!idle_after(b"\x1bPq#0\x07"), "BEL does not end DCS");
        assert!(idle_after(b"\x1bPq#0\x1b\\"));
        assert!(idle_after(b"\x1b(B"));
        assert!(!idle_after("é".as_bytes()), "may be mid-UTF-8");
        assert!(!idle_after(b"\xe4\xbd"));
        assert!(idle_after(b"\x1b[12\x18"));
    }
}
