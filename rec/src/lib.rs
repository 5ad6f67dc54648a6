//! tlog-rs recorder: `tlog-rs-rec` (ad-hoc) and `tlog-rs-rec-session` (login
//! shell), writing tlog 2.3 JSON messages through the sinks in [`sink`].
// Guest code (or linked into it): no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::sync::OnceLock;

pub mod charset;
pub mod config;
pub mod identity;
pub mod jsonc;
pub mod nesting;
pub mod privilege;
pub mod rec_args;
pub mod run;
pub mod session_args;
pub mod signals;
pub mod sink;
pub mod tap;
pub mod transfer;
pub mod tty;
pub mod utmp;

pub use config::{parse_conf_text, Config, ConfigError};

static IDENT: OnceLock<String> = OnceLock::new();

/// Name used to prefix messages on stderr (first call wins).
pub fn set_ident(ident: &str) {
    let _ = IDENT.set(ident.to_string());
}

/// Print a message for the user on stderr, prefixed with the program name.
pub fn warn(msg: &str) {
    let ident = IDENT.get().map(String::as_str).unwrap_or("tlog-rs-rec");
    eprintln!("{ident}: {msg}");
}
