//! The audit.log parser and event grouping on arbitrary input: every line
//! either parses or gets an error naming its line; never a panic. Every
//! event turns into JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog_rs_audit::event::Grouper;
use tlog_rs_audit::parse::parse_line;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut g = Grouper::new();
    let mut done = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        match parse_line(line, i + 1) {
            Ok(Some(r)) => {
                assert_eq!(r.line, i + 1);
                g.push(r, &mut done);
            }
            Ok(None) => {}
            Err(e) => assert_eq!(e.line, i + 1),
        }
    }
    g.finish(&mut done);
    for e in &done {
        let _ = serde_json::to_string(&e.to_json()).unwrap();
    }
});
