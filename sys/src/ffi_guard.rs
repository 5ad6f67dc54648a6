//! The panic guard of the two cdylibs: no unwinding across the C boundary,
//! and no panic message on the host program's stderr.
//!
//! Each cdylib links its own copy of std and of this crate, so the silent
//! hook and its flag here are per module: they never touch the host's hook.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the silent panic hook is installed. An AtomicBool rather than
/// `Once`: a child forked while another thread ran `call_once` would wait
/// forever on the inherited "running" state.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Run `f`; `None` if it panicked. The panic is caught here, so it never
/// unwinds into the C caller; its message goes nowhere.
pub fn catch<T>(f: impl FnOnce() -> T) -> Option<T> {
    if !QUIET.swap(true, Ordering::AcqRel) {
        std::panic::set_hook(Box::new(|_| {}));
    }
    // AssertUnwindSafe: after a panic the callers only map it to a C status
    // (and log); they do not use state the closure may have left broken.
    catch_unwind(AssertUnwindSafe(f)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_none_and_a_value_passes() {
        assert_eq!(catch(|| 7), Some(7));
        #[allow(clippy::panic)]
        let r: Option<u8> = catch(|| panic!("boom"));
        assert_eq!(r, None);
        // Again, with the hook already installed.
        let r: Option<u8> = catch(|| [1u8][std::hint::black_box(3)]);
        assert_eq!(r, None);
        assert!(QUIET.load(Ordering::Acquire));
    }
}
