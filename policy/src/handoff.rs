//! PAM → recorder hand-off: how `pam_tlog` tells `tlog-rs-rec-session`, in a way
//! the recorded user cannot forge, whether this login is recorded, with which
//! settings, and what the real shell is.
//!
//! Interface stub; the modules work fills it in (root-owned hand-off file named
//! by an unguessable token, bound to the uid and to the PAM process that must be
//! an ancestor of the recorder). Until then `read_verified` returns `None`, which
//! makes the recorder fail secure: it records.

/// The environment variable carrying the hand-off token.
pub const TOKEN_ENV: &str = "TLOG_RS_HANDOFF";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The uid the decision was made for.
    pub uid: u32,
    /// Whether this login is recorded.
    pub record: bool,
    /// The user's real shell (never empty).
    pub shell: String,
    /// Recorder settings as tlog JSON (what TLOG_REC_CONF_TEXT carries).
    pub conf_text: String,
    /// PAM service and deciding rule, for the session start entry.
    pub service: String,
    pub rule: String,
}

/// Recorder side: the hand-off for this process, if one exists and verifies.
/// `None` means "no trustworthy hand-off": the caller must record.
pub fn read_verified() -> Option<Handoff> {
    None
}
