//! Spanish public-administration identifiers: INE municipality codes, DIR3 codes of town halls,
//! NIFs of local entities; and the embedded INE register of all 8,131 municipalities.

use std::collections::HashMap;
use std::sync::LazyLock;

/// One municipality of the INE register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredMunicipality {
    pub ine_code: &'static str,
    pub control_digit: u8,
    /// Official name as INE writes it, articles after a comma ("Bañeza, La").
    pub name: String,
}

impl RegisteredMunicipality {
    /// The name as people write it: "La Bañeza" for INE's "Bañeza, La".
    pub fn display_name(&self) -> String {
        articles_first(&self.name)
    }
}

const REGISTER_CSV: &str = include_str!("../../data/municipalities.csv");
const PROVINCES_CSV: &str = include_str!("../../data/provinces.csv");

/// Every municipality by INE code, parsed once from the embedded register.
pub static REGISTER: LazyLock<HashMap<&'static str, RegisteredMunicipality>> = LazyLock::new(|| {
    REGISTER_CSV
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut fields = line.splitn(5, ',');
            let mut next = || fields.next().expect("register rows have 5 fields");
            let ine_code = next();
            let control_digit = next().parse().expect("control digit");
            let (_province, _community) = (next(), next());
            let name = next().trim_matches('"').to_owned();
            (ine_code, RegisteredMunicipality { ine_code, control_digit, name })
        })
        .collect()
});

/// Province names by 2-digit code, as people write them ("Las Palmas" for INE's "Palmas, Las").
pub static PROVINCES: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    PROVINCES_CSV
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(code, rest)| {
            // `name,count`, the name quoted when it holds a comma.
            let name = match rest.strip_prefix('"') {
                Some(quoted) => quoted.split('"').next().unwrap_or(quoted),
                None => rest.split(',').next().unwrap_or(rest),
            };
            (code, articles_first(name))
        })
        .collect()
});

/// "Bañeza, La" -> "La Bañeza"; "Palmas, Las" -> "Las Palmas"; other names as they are.
fn articles_first(name: &str) -> String {
    match name.rsplit_once(", ") {
        Some((base, article)) if article.len() <= 5 && !article.contains(' ') => {
            let sep = if article.ends_with('\'') { "" } else { " " };
            format!("{article}{sep}{base}")
        }
        _ => name.to_owned(),
    }
}

/// The municipalities of one province, ordered by INE code.
pub fn municipalities_of(province_code: &str) -> Vec<&'static RegisteredMunicipality> {
    let mut list: Vec<_> = REGISTER.values().filter(|m| m.ine_code.starts_with(province_code)).collect();
    list.sort_by_key(|m| m.ine_code);
    list
}

/// INE's check digit of a 5-digit municipality code (the 6th digit of its long form).
pub fn ine_check_digit(code: &str) -> Option<u8> {
    const A: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    const B: [u32; 10] = [0, 3, 8, 2, 7, 4, 1, 5, 9, 6];
    let d: Vec<u32> = code.chars().map(|c| c.to_digit(10)).collect::<Option<_>>()?;
    if d.len() != 5 {
        return None;
    }
    let s = A[d[0] as usize] + B[d[1] as usize] + d[2] + A[d[3] as usize] + B[d[4] as usize];
    Some(((10 - s % 10) % 10) as u8)
}

/// Why an identifier is wrong, in words a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("ineCode {0:?} is not a municipality in INE's register")]
    UnknownIneCode(String),
    #[error("ineCode {code:?} is {name}, which is in province {actual:?}, not {expected:?}")]
    WrongProvince { code: String, name: String, actual: String, expected: String },
    #[error("dir3 {dir3:?} should be {expected:?}: \"L01\" + the INE code + its check digit")]
    Dir3Mismatch { dir3: String, expected: String },
    #[error("nif {nif:?} has control letter {found:?}, but its digits give {expected:?}")]
    NifControlLetter { nif: String, found: char, expected: char },
    #[error("nif {nif:?} has province digits {found:?}, but the town hall is in province {expected:?}")]
    NifProvince { nif: String, found: String, expected: String },
    #[error("nif {0:?} is not \"P\" + 7 digits + a control letter A-J")]
    NifFormat(String),
}

/// Looks an INE code up in the register and checks it belongs to `province_code`.
pub fn check_ine_code(code: &str, province_code: &str) -> Result<&'static RegisteredMunicipality, IdentifierError> {
    let m = REGISTER.get(code).ok_or_else(|| IdentifierError::UnknownIneCode(code.to_owned()))?;
    if !code.starts_with(province_code) {
        return Err(IdentifierError::WrongProvince {
            code: code.to_owned(),
            name: m.name.clone(),
            actual: code[..2].to_owned(),
            expected: province_code.to_owned(),
        });
    }
    Ok(m)
}

/// The DIR3 code of a town hall: "L01" + INE code + check digit (León: L01240896).
pub fn town_hall_dir3(ine_code: &str) -> Option<String> {
    ine_check_digit(ine_code).map(|d| format!("L01{ine_code}{d}"))
}

pub fn check_dir3(dir3: &str, ine_code: &str) -> Result<(), IdentifierError> {
    match town_hall_dir3(ine_code) {
        Some(expected) if expected == dir3 => Ok(()),
        Some(expected) => Err(IdentifierError::Dir3Mismatch { dir3: dir3.to_owned(), expected }),
        None => Err(IdentifierError::UnknownIneCode(ine_code.to_owned())),
    }
}

/// Control letter of a local entity's NIF ("P" + 7 digits + letter) from its 7 digits.
pub fn nif_control_letter(digits: &str) -> Option<char> {
    let d: Vec<u32> = digits.chars().map(|c| c.to_digit(10)).collect::<Option<_>>()?;
    if d.len() != 7 {
        return None;
    }
    let sum: u32 = d.iter().enumerate().map(|(i, &x)| if i % 2 == 0 { (2 * x) / 10 + (2 * x) % 10 } else { x }).sum();
    let c = (10 - sum % 10) % 10;
    "JABCDEFGHI".chars().nth(c as usize)
}

/// Checks a town hall's NIF: shape, control letter, and that digits 2-3 are the province code.
pub fn check_nif(nif: &str, province_code: &str) -> Result<(), IdentifierError> {
    let format = || IdentifierError::NifFormat(nif.to_owned());
    let rest = nif.strip_prefix('P').ok_or_else(format)?;
    if rest.len() != 8 || !rest.is_ascii() {
        return Err(format());
    }
    let (digits, letter) = rest.split_at(7);
    let expected = nif_control_letter(digits).ok_or_else(format)?;
    let found = letter.chars().next().ok_or_else(format)?;
    if found != expected {
        return Err(IdentifierError::NifControlLetter { nif: nif.to_owned(), found, expected });
    }
    if &digits[..2] != province_code {
        return Err(IdentifierError::NifProvince {
            nif: nif.to_owned(),
            found: digits[..2].to_owned(),
            expected: province_code.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_holds_every_municipality_and_province() {
        assert_eq!(REGISTER.len(), 8131);
        assert_eq!(PROVINCES.len(), 52);
        assert_eq!(municipalities_of("24").len(), 211);
        assert_eq!(municipalities_of("45").len(), 204);
        assert_eq!(REGISTER["24089"].name, "León");
    }

    #[test]
    fn every_real_code_passes_and_its_check_digit_matches_the_register() {
        for m in REGISTER.values() {
            assert_eq!(ine_check_digit(m.ine_code), Some(m.control_digit), "{}", m.ine_code);
            assert!(check_ine_code(m.ine_code, &m.ine_code[..2]).is_ok());
            let dir3 = town_hall_dir3(m.ine_code).unwrap();
            assert!(check_dir3(&dir3, m.ine_code).is_ok(), "{dir3}");
        }
    }

    #[test]
    fn mutated_codes_fail() {
        let mut caught = 0;
        for m in REGISTER.values() {
            // Another province: the code is real, but not there.
            let other = if &m.ine_code[..2] == "24" { "28" } else { "24" };
            assert!(matches!(check_ine_code(m.ine_code, other), Err(IdentifierError::WrongProvince { .. })));
            // A wrong check digit in the DIR3 code is always caught.
            let wrong = (m.control_digit + 1) % 10;
            let bad_dir3 = format!("L01{}{wrong}", m.ine_code);
            assert!(check_dir3(&bad_dir3, m.ine_code).is_err());
            // Any one changed digit of the municipality part gives another real municipality
            // (the register is dense) or a code the register does not have, which is refused.
            for pos in 2..5 {
                for d in b'0'..=b'9' {
                    let mut bytes = m.ine_code.as_bytes().to_vec();
                    if bytes[pos] == d {
                        continue;
                    }
                    bytes[pos] = d;
                    let mutated = String::from_utf8(bytes).unwrap();
                    if !REGISTER.contains_key(mutated.as_str()) {
                        let err = check_ine_code(&mutated, &m.ine_code[..2]);
                        assert!(matches!(err, Err(IdentifierError::UnknownIneCode(_))), "{mutated}");
                        caught += 1;
                    }
                }
            }
        }
        // Of the 8,131 x 27 = 219,537 mutations, 84,059 are not municipalities (the rest are
        // other real codes); every one of those is refused above.
        assert_eq!(caught, 84_059);
        assert!(check_ine_code("53001", "53").is_err());
        assert!(check_ine_code("24000", "24").is_err());
    }

    #[test]
    fn known_dir3_codes() {
        assert_eq!(town_hall_dir3("24089").as_deref(), Some("L01240896"));
        assert_eq!(
            check_dir3("L01240895", "24089"),
            Err(IdentifierError::Dir3Mismatch { dir3: "L01240895".into(), expected: "L01240896".into() })
        );
        // The DIR3 of another municipality is refused too.
        assert!(check_dir3("L01241152", "24089").is_err());
    }

    #[test]
    fn known_nifs() {
        for (nif, province) in [("P2409100A", "24"), ("P2807900B", "28"), ("P0106800F", "01")] {
            assert_eq!(check_nif(nif, province), Ok(()), "{nif}");
        }
        assert!(matches!(check_nif("P2409100B", "24"), Err(IdentifierError::NifControlLetter { expected: 'A', .. })));
        assert!(matches!(check_nif("P2807900B", "24"), Err(IdentifierError::NifProvince { .. })));
        assert!(matches!(check_nif("Q2409100A", "24"), Err(IdentifierError::NifFormat(_))));
        assert!(matches!(check_nif("P240910A", "24"), Err(IdentifierError::NifFormat(_))));
    }

    #[test]
    fn every_nif_digit_mutation_changes_the_letter_or_is_caught() {
        // Changing any one digit of a valid NIF must invalidate it.
        let valid = "P2409100A";
        for pos in 1..8 {
            for d in b'0'..=b'9' {
                let mut bytes = valid.as_bytes().to_vec();
                if bytes[pos] == d {
                    continue;
                }
                bytes[pos] = d;
                let mutated = String::from_utf8(bytes).unwrap();
                assert!(check_nif(&mutated, "24").is_err(), "{mutated}");
            }
        }
    }

    #[test]
    fn display_names_put_articles_first() {
        let name = |code: &str| REGISTER[code].display_name();
        assert_eq!(name("24010"), "La Bañeza");
        assert_eq!(name("24012"), "Los Barrios de Luna");
        assert_eq!(name("24089"), "León");
    }

    #[test]
    fn province_names_put_articles_first() {
        assert_eq!(PROVINCES["24"], "León");
        assert_eq!(PROVINCES["35"], "Las Palmas");
        assert_eq!(PROVINCES["15"], "A Coruña");
        assert_eq!(PROVINCES["07"], "Illes Balears");
        assert_eq!(PROVINCES["03"], "Alicante/Alacant");
    }
}
