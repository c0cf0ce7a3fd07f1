//! The `metadata.name` concejo gives a town hall of the INE register, unique across Spain: the
//! slug of its name, or, when another municipality anywhere has the same slug, the slug and its
//! INE code. `concejo generate` and `kubectl concejo onboard` both name town halls here, so a
//! cluster serving several provinces never gets two that would take the same name.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::identifiers::{REGISTER, RegisteredMunicipality, town_hall_dir3};

/// What a Municipality says of a town hall that comes from the register: its name, INE code,
/// name as people write it and DIR3 code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TownHall {
    pub name: String,
    pub ine_code: &'static str,
    pub display_name: String,
    pub dir3: String,
}

impl TownHall {
    pub fn of(m: &RegisteredMunicipality) -> Self {
        Self {
            name: municipality_name(m),
            ine_code: m.ine_code,
            display_name: m.display_name(),
            // Every code of the register has a check digit (identifiers' tests).
            dir3: town_hall_dir3(m.ine_code).unwrap_or_default(),
        }
    }

    /// The 2-digit INE province code.
    pub fn province_code(&self) -> &'static str {
        &self.ine_code[..2]
    }
}

/// A DNS-label from a town hall's name: "San Andrés del Rabanedo" -> "san-andres-del-rabanedo",
/// "l'Alfàs del Pi" -> "l-alfas-del-pi"; at most 63 characters.
pub fn slug(name: &str) -> String {
    let ascii = deunicode::deunicode(name).to_lowercase();
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_owned();
    out.truncate(63);
    out.trim_end_matches('-').to_owned()
}

/// How many municipalities of the register have each slug.
static SLUG_COUNTS: LazyLock<HashMap<String, usize>> = LazyLock::new(|| {
    let mut counts = HashMap::new();
    for m in REGISTER.values() {
        *counts.entry(slug(&m.display_name())).or_insert(0) += 1;
    }
    counts
});

/// Whether another municipality of the register has the same slug as `m` (in any province).
pub fn slug_is_shared(m: &RegisteredMunicipality) -> bool {
    SLUG_COUNTS.get(&slug(&m.display_name())).is_some_and(|&n| n > 1)
}

/// The Municipality name of a town hall: its slug ("astorga"), or "<slug>-<INE code>" when the
/// slug is shared ("sobrado-24165" and "sobrado-15080"), so the name depends on that town hall
/// alone and never on which provinces a cluster serves or in which order they were onboarded.
pub fn municipality_name(m: &RegisteredMunicipality) -> String {
    let name = slug(&m.display_name());
    if !slug_is_shared(m) {
        return name;
    }
    // 57 + "-" + 5 digits = 63, a DNS label.
    let base = name[..name.len().min(57)].trim_end_matches('-');
    format!("{base}-{}", m.ine_code)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn is_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && !s.starts_with('-')
            && !s.ends_with('-')
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    #[test]
    fn slugs_are_dns_labels() {
        assert_eq!(slug("San Andrés del Rabanedo"), "san-andres-del-rabanedo");
        assert_eq!(slug("La Bañeza"), "la-baneza");
        assert_eq!(slug("l'Alfàs del Pi"), "l-alfas-del-pi");
        assert_eq!(slug("Vitoria-Gasteiz"), "vitoria-gasteiz");
        for m in REGISTER.values() {
            let s = slug(&m.display_name());
            assert!(is_label(&s), "{} -> {s}", m.name);
        }
    }

    #[test]
    fn thirty_four_town_halls_share_a_slug_with_one_in_another_province() {
        let mut by_slug: HashMap<String, Vec<&RegisteredMunicipality>> = HashMap::new();
        for m in REGISTER.values() {
            by_slug.entry(slug(&m.display_name())).or_default().push(m);
        }
        let shared: Vec<_> = by_slug.values().filter(|l| l.len() > 1).flatten().collect();
        assert_eq!(shared.len(), 34);
        // Every one of them shares it with a town hall of another province (none within one).
        for list in by_slug.values().filter(|l| l.len() > 1) {
            let provinces: HashSet<_> = list.iter().map(|m| &m.ine_code[..2]).collect();
            assert_eq!(provinces.len(), list.len(), "{list:?}");
        }
        assert_eq!(REGISTER.values().filter(|m| slug_is_shared(m)).count(), 34);
    }

    #[test]
    fn no_two_of_the_8131_town_halls_get_the_same_name() {
        let names: HashSet<String> = REGISTER.values().map(municipality_name).collect();
        assert_eq!(REGISTER.len(), 8131);
        assert_eq!(names.len(), 8131);
        assert!(names.iter().all(|n| is_label(n)), "every name is a DNS label");
    }

    #[test]
    fn shared_slugs_carry_the_ine_code_and_the_rest_do_not() {
        let name = |code: &str| municipality_name(&REGISTER[code]);
        assert_eq!(name("24165"), "sobrado-24165");
        assert_eq!(name("15080"), "sobrado-15080");
        assert_eq!(name("35013"), "moya-35013");
        assert_eq!(name("24089"), "leon");
        assert_eq!(name("24010"), "la-baneza");
        assert_eq!(name("24008"), "astorga");
        let leon = TownHall::of(&REGISTER["24089"]);
        assert_eq!((leon.display_name.as_str(), leon.dir3.as_str(), leon.province_code()), ("León", "L01240896", "24"));
    }
}
