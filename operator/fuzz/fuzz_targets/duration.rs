//! Durations as Go reads them (the Province's certificate lifetimes) on any text: an answer,
//! never a panic, and only positive whole seconds.
#![no_main]

use concejo::domain::duration::{parse_nanos, parse_seconds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_nanos(text);
    if let Some(seconds) = parse_seconds(text) {
        assert!(seconds > 0, "{text:?}");
    }
});
