//! Kubernetes resource quantities ("250m", "4", "8Gi", "1e3") as exact numbers, to compare a new
//! quota with what a tenant already uses.

/// A quantity in thousandths of its unit (millicores, millibytes): exact for every quantity the
/// API server accepts in a quota, up to about 1.7e35.
pub fn parse_milli(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let negative = int.starts_with('-');
    let int = int.trim_start_matches(['+', '-']);
    // Work in units of 10^-9 so any fraction down to nano is exact.
    // Checked throughout: any text may arrive here (the fuzz targets' crashes are the tests below).
    let mut nano: i128 = if int.is_empty() { 0 } else { int.parse::<i128>().ok()?.checked_mul(1_000_000_000)? };
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        nano = nano.checked_add(digits.parse::<i128>().ok()? * 10i128.pow(9 - digits.len() as u32))?;
    }
    let (mul, div): (i128, i128) = match suffix {
        "" => (1, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1_000),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().ok()?;
            let power = 10i128.checked_pow(exp.unsigned_abs())?;
            if exp >= 0 { (power, 1) } else { (1, power) }
        }
        _ => return None,
    };
    let milli = nano.checked_mul(mul)? / div / 1_000_000;
    Some(if negative { -milli } else { milli })
}

/// Whether two spellings are the same quantity ("1000m" and "1", "0.5Gi" and "512Mi").
pub fn same(a: &str, b: &str) -> bool {
    a == b || matches!((parse_milli(a), parse_milli(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::{parse_milli, same};

    #[test]
    fn spellings_of_one_value_are_the_same() {
        assert!(same("1000m", "1"));
        assert!(same("0.5Gi", "512Mi"));
        assert!(same("1e3", "1k"));
        assert!(!same("1", "1.5"));
        assert!(!same("abc", "abd"));
    }

    #[test]
    fn parses_what_quotas_use() {
        assert_eq!(parse_milli("250m"), Some(250));
        assert_eq!(parse_milli("4"), Some(4000));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("8Gi"), Some(8 * (1 << 30) * 1000));
        assert_eq!(parse_milli("200Gi"), parse_milli("204800Mi"));
        assert_eq!(parse_milli("1k"), Some(1_000_000));
        assert_eq!(parse_milli("1e3"), Some(1_000_000));
        assert_eq!(parse_milli("40"), Some(40_000));
        assert_eq!(parse_milli("0"), Some(0));
        assert!(parse_milli("8GB").is_none());
        assert!(parse_milli("").is_none());
        assert!(parse_milli("Gi").is_none());
    }

    /// Inputs the fuzz target `quantity` (operator/fuzz) crashed on: arithmetic overflows.
    #[test]
    fn overflowing_quantities_are_refused_not_a_panic() {
        // An integer part that fits i128 but not once counted in nano units (found by the fuzzer).
        assert_eq!(parse_milli("33333333333333333333333333333366666665e"), None);
        assert_eq!(parse_milli(&"9".repeat(38)), None);
        // The exponent kubernetes#141306 is about: negating i32::MIN overflowed.
        assert_eq!(parse_milli("1e-2147483648"), None);
        assert_eq!(parse_milli("1e2147483647"), None);
        assert_eq!(parse_milli("1e-3"), Some(1));
    }

    #[test]
    fn orders_like_the_api_server() {
        assert!(parse_milli("500m") < parse_milli("1"));
        assert!(parse_milli("1Gi") > parse_milli("1G"));
        assert!(parse_milli("1023Mi") < parse_milli("1Gi"));
    }
}
