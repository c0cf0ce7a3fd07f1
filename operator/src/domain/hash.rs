//! A hash that stays the same across Rust releases and platforms (the standard library's does
//! not promise that): for values written into the cluster and for spreading tenants in time.

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// A deterministic fraction in [0, 1) from a key, e.g. to spread renewals of many tenants.
pub fn fraction(key: &str) -> f64 {
    (fnv1a(key.as_bytes()) % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values() {
        // Fixed here so that a change of the function (and so of every hash concejo wrote into
        // clusters) cannot pass unnoticed.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert!((0.0..1.0).contains(&fraction("muni-24089")));
    }
}
