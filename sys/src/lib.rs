//! `tlog-rs-sys`: the small system helpers that the recorder, the player and
//! the two cdylibs share, each written once.
//!
//! * [`term`]: a terminal's raw mode (restored on drop) and window size.
//! * [`ffi_guard`]: the panic guard of the two cdylibs.
// Linked into the cdylibs: no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod ffi_guard;
pub mod term;
