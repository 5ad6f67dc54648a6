//! The recorder's configuration parser (tlog's JSON with comments) on
//! arbitrary text: must return a config or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = tlog_rs_rec::config::parse_conf_text(s);
    }
});
