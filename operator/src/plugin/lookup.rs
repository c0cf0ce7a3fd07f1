//! Finding a town hall in the INE register from what a person types: its INE code ("24089"),
//! its name as people write it ("La Bañeza", "la-baneza"), as INE writes it ("Bañeza, La"), or
//! the unique name concejo gives it ("sobrado-24165"). Pure.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use crate::domain::identifiers::{PROVINCES, REGISTER, RegisteredMunicipality, municipalities_of};
use crate::domain::naming::{municipality_name, slug};

/// What a query found.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    Found(&'static RegisteredMunicipality),
    /// Several town halls answer to this name (in different provinces): say which.
    Ambiguous(Vec<&'static RegisteredMunicipality>),
    /// None; `similar` are town halls whose name contains the query (at most 10).
    NotFound {
        similar: Vec<&'static RegisteredMunicipality>,
    },
}

/// Every town hall under each way of writing its name, as a slug: as people write it, as INE
/// does, and concejo's name for it. Built once.
static BY_NAME: LazyLock<HashMap<String, Vec<&'static RegisteredMunicipality>>> = LazyLock::new(|| {
    let mut index: HashMap<String, Vec<&'static RegisteredMunicipality>> = HashMap::new();
    for m in REGISTER.values() {
        let keys: HashSet<String> = [slug(&m.display_name()), slug(&m.name), municipality_name(m)].into();
        for key in keys {
            index.entry(key).or_default().push(m);
        }
    }
    index
});

/// Looks `query` up, among the town halls of `province_code` when given.
pub fn lookup(query: &str, province_code: Option<&str>) -> Lookup {
    let query = query.trim();
    let in_province = |m: &&RegisteredMunicipality| province_code.is_none_or(|p| m.ine_code.starts_with(p));
    if query.len() == 5 && query.chars().all(|c| c.is_ascii_digit()) {
        return match REGISTER.get(query).filter(|m| in_province(m)) {
            Some(m) => Lookup::Found(m),
            None => Lookup::NotFound { similar: vec![] },
        };
    }
    let wanted = slug(query);
    let mut found: Vec<_> = BY_NAME.get(&wanted).into_iter().flatten().copied().filter(in_province).collect();
    found.sort_by_key(|m| m.ine_code);
    found.dedup();
    match found.len() {
        1 => Lookup::Found(found.remove(0)),
        0 if wanted.is_empty() => Lookup::NotFound { similar: vec![] },
        0 => {
            let mut similar: Vec<_> =
                REGISTER.values().filter(in_province).filter(|m| slug(&m.display_name()).contains(&wanted)).collect();
            similar.sort_by_key(|m| m.ine_code);
            similar.truncate(10);
            Lookup::NotFound { similar }
        }
        _ => Lookup::Ambiguous(found),
    }
}

/// The name of a province as people write it, "León (24)".
pub fn province_label(code: &str) -> String {
    match PROVINCES.get(code) {
        Some(name) => format!("{name} ({code})"),
        None => code.to_owned(),
    }
}

/// Town halls as lines of a table: the name concejo gives each, INE code, name, province.
pub fn candidates(list: &[&RegisteredMunicipality]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| vec![municipality_name(m), m.ine_code.to_owned(), m.display_name(), province_label(&m.ine_code[..2])])
        .collect();
    super::table::render(&["NAME", "INE", "TOWN HALL", "PROVINCE"], &rows)
}

/// Why a lookup found nothing, or which it could be, as an error message.
pub fn explain(query: &str, province_code: Option<&str>, lookup: &Lookup) -> String {
    let within = province_code.map(|p| format!(" in {}", province_label(p))).unwrap_or_default();
    let mut text = match lookup {
        Lookup::Found(m) => return format!("{query:?} is {} ({})", m.display_name(), m.ine_code),
        Lookup::Ambiguous(list) => format!(
            "{query:?} names {} town halls{within}; give the INE code or the name in the first column:\n{}",
            list.len(),
            candidates(list)
        ),
        Lookup::NotFound { similar } if similar.is_empty() => {
            format!(
                "{query:?} is not a town hall{within} in INE's register (an INE code is 5 digits, e.g. 24089 for León)"
            )
        }
        Lookup::NotFound { similar } => {
            format!("{query:?} is not a town hall{within} in INE's register; similar names:\n{}", candidates(similar))
        }
    };
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

/// The town halls of a province, or why the code is not one.
pub fn province(code: &str) -> Result<Vec<&'static RegisteredMunicipality>, String> {
    if !PROVINCES.contains_key(code) {
        return Err(format!("{code:?} is not an INE province code (\"01\" to \"52\", e.g. 24 for León)"));
    }
    Ok(municipalities_of(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(query: &str, province: Option<&str>) -> &'static str {
        match lookup(query, province) {
            Lookup::Found(m) => m.ine_code,
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn codes_and_every_way_of_writing_a_name() {
        assert_eq!(found("24089", None), "24089");
        assert_eq!(found("León", None), "24089");
        assert_eq!(found("leon", None), "24089");
        assert_eq!(found("La Bañeza", None), "24010");
        assert_eq!(found("Bañeza, La", None), "24010");
        assert_eq!(found("  la-baneza ", None), "24010");
        assert_eq!(found("SAN ANDRÉS DEL RABANEDO", None), "24142");
    }

    #[test]
    fn a_shared_name_is_ambiguous_until_narrowed() {
        let Lookup::Ambiguous(list) = lookup("Sobrado", None) else { panic!("Sobrado is in two provinces") };
        let codes: Vec<_> = list.iter().map(|m| m.ine_code).collect();
        assert_eq!(codes, ["15080", "24165"]);
        let message = explain("Sobrado", None, &Lookup::Ambiguous(list));
        assert!(message.contains("sobrado-15080   15080   Sobrado     A Coruña (15)"), "{message}");
        assert!(message.contains("sobrado-24165   24165   Sobrado     León (24)"), "{message}");
        // Narrowed by province, by concejo's own name, or by code.
        assert_eq!(found("Sobrado", Some("24")), "24165");
        assert_eq!(found("sobrado-15080", None), "15080");
        assert_eq!(found("24165", None), "24165");
    }

    #[test]
    fn every_town_hall_is_found_by_its_concejo_name_and_every_shared_slug_is_ambiguous() {
        let mut ambiguous = 0;
        for m in REGISTER.values() {
            assert_eq!(lookup(&municipality_name(m), None), Lookup::Found(m), "{}", m.ine_code);
            if matches!(lookup(&m.display_name(), None), Lookup::Ambiguous(_)) {
                ambiguous += 1;
            }
        }
        assert_eq!(ambiguous, 34);
    }

    #[test]
    fn unknown_codes_and_names_say_so() {
        assert_eq!(lookup("24999", None), Lookup::NotFound { similar: vec![] });
        assert_eq!(lookup("24089", Some("35")), Lookup::NotFound { similar: vec![] });
        assert_eq!(lookup("", None), Lookup::NotFound { similar: vec![] });
        let text = explain("24999", None, &lookup("24999", None));
        assert!(text.contains("\"24999\" is not a town hall in INE's register"), "{text}");
        let Lookup::NotFound { similar } = lookup("Rabanedo", None) else { panic!() };
        assert_eq!(similar.iter().map(|m| m.ine_code).collect::<Vec<_>>(), ["24142"]);
        let text = explain("Rabanedo", Some("24"), &lookup("Rabanedo", Some("24")));
        assert!(text.starts_with("\"Rabanedo\" is not a town hall in León (24)"), "{text}");
        assert!(text.contains("san-andres-del-rabanedo"), "{text}");
    }

    #[test]
    fn provinces() {
        assert_eq!(province("24").unwrap().len(), 211);
        assert_eq!(province("35").unwrap().len(), 34);
        assert!(province("53").unwrap_err().contains("not an INE province code"));
        assert_eq!(province_label("35"), "Las Palmas (35)");
    }
}
