//! The identifier validators (INE codes, DIR3, NIF) on any text: they answer, never panic, and
//! what they accept has the shape the CRD schema promises.
#![no_main]

use concejo::domain::identifiers::{
    check_dir3, check_ine_code, check_nif, ine_check_digit, nif_control_letter, town_hall_dir3,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The first line is the identifier, the second the province code it is checked against.
    let (code, province) = text.split_once('\n').unwrap_or((text, "24"));
    if let Ok(m) = check_ine_code(code, province) {
        assert!(code.len() == 5 && code.starts_with(province) && m.ine_code == code, "{code:?} in {province:?}");
    }
    if let Some(digit) = ine_check_digit(code) {
        assert!(digit < 10);
        assert_eq!(town_hall_dir3(code), Some(format!("L01{code}{digit}")));
    }
    let _ = check_dir3(code, province);
    if check_nif(code, province).is_ok() {
        assert!(code.len() == 9 && code.starts_with('P'), "{code:?}");
    }
    if let Some(letter) = nif_control_letter(code) {
        assert!(('A'..='J').contains(&letter));
    }
});
