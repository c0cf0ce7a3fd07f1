//! Durations written as Go writes them ("2160h", "1h30m", "1.5h", "90s", "500ms"): the format of
//! Kubernetes and of the CEL `duration()` that checks these fields at admission, so that what the
//! API server accepts is exactly what concejo understands.

/// Whole seconds in a positive Go duration (fractions of a second are dropped); `None` for
/// anything Go's `time.ParseDuration` would refuse, and for zero or negative durations.
pub fn parse_seconds(s: &str) -> Option<i64> {
    let nanos = parse_nanos(s)?;
    Some((nanos / 1_000_000_000) as i64).filter(|s| *s > 0)
}

/// Nanoseconds in a Go duration, as `time.ParseDuration` reads it.
pub fn parse_nanos(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None; // no digits before the unit
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None, // missing or unknown unit
        };
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        total = total.checked_add(whole.checked_mul(scale)?)?;
        if !frac.is_empty() {
            let digits = &frac[..frac.len().min(18)];
            let value: i128 = digits.parse().ok()?;
            total = total.checked_add(value * scale / 10i128.pow(digits.len() as u32))?;
        }
        rest = after;
    }
    // Go refuses durations beyond ~292 years (int64 nanoseconds).
    (total <= i64::MAX as i128).then_some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn what_go_accepts() {
        assert_eq!(parse_seconds("2160h"), Some(90 * DAY));
        assert_eq!(parse_seconds("1h30m"), Some(5400));
        assert_eq!(parse_seconds("1.5h"), Some(5400));
        assert_eq!(parse_seconds(".5h"), Some(1800));
        assert_eq!(parse_seconds("45s"), Some(45));
        assert_eq!(parse_seconds("1500ms"), Some(1));
        assert_eq!(parse_seconds("1m0.5s"), Some(60));
        assert_eq!(parse_seconds("+3m"), Some(180));
        assert_eq!(parse_nanos("1µs"), Some(1_000));
        assert_eq!(parse_nanos("0"), Some(0));
        assert_eq!(parse_nanos("-1.5s"), Some(-1_500_000_000));
    }

    #[test]
    fn what_go_refuses() {
        for bad in ["", "90d", "12", "h", "1.h2", "1hh", "1e3s", "-", ".", "1 h", "1H"] {
            // "1.h2": Go reads "1." as 1 then needs a unit before "2": refused.
            assert_eq!(parse_nanos(bad), None, "{bad:?}");
        }
        assert_eq!(parse_seconds("0"), None, "zero is not a lifetime");
        assert_eq!(parse_seconds("-5m"), None);
        assert_eq!(parse_seconds("300ms"), None, "less than a second");
        assert_eq!(parse_nanos("9999999999h"), None, "beyond what Go holds");
    }
}
