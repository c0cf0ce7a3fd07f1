//! The quantity parser on any text: it answers, never panics, and spellings it reads as one
//! value compare as the same.
#![no_main]

use concejo::domain::quantity::{parse_milli, same};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_once('\n').unwrap_or((text, "1"));
    let (x, y) = (parse_milli(a), parse_milli(b));
    if x.is_some() && x == y {
        assert!(same(a, b), "{a:?} and {b:?}");
    }
    assert!(same(a, a));
});
