//! What the user asked for, shared by both players.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goto {
    End,
    At(u64),
}

#[derive(Debug, Clone)]
pub struct PlayOptions {
    pub speed: f64,
    pub goto: Option<Goto>,
    pub paused: bool,
    pub follow: bool,
    pub status: bool,
    /// Output bytes between seek checkpoints (tests make it small).
    pub checkpoint_bytes: usize,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            speed: 1.0,
            goto: None,
            paused: false,
            follow: false,
            status: true,
            checkpoint_bytes: crate::timeline::CHECKPOINT_BYTES,
        }
    }
}

/// tlog-play's exit sequence (reset attributes, show the cursor, newline),
/// without the NUL byte tlog writes by mistake.
pub const EXIT_SEQUENCE: &[u8] = b"\x1b[0m\x1b[?25h\n";
