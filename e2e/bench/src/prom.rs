//! The Prometheus text format, as far as the benchmark reads it: counters, gauges and histogram
//! buckets, the difference of two scrapes, and quantiles from histogram buckets.

use std::collections::{BTreeMap, HashMap};

/// One series: its metric name and labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl Key {
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Every series of one scrape (or of the difference of two) with its value.
#[derive(Clone, Debug, Default)]
pub struct Scrape(pub HashMap<Key, f64>);

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        Scrape(text.lines().filter_map(line).collect())
    }

    /// `self - before`, series by series (a series missing before counts from zero). Counters
    /// and histogram buckets only make sense this way; gauges are read from one scrape.
    pub fn since(&self, before: &Scrape) -> Scrape {
        Scrape(self.0.iter().map(|(k, v)| (k.clone(), v - before.0.get(k).copied().unwrap_or(0.0))).collect())
    }

    /// The sum of every series of `name` that `keep` accepts.
    pub fn sum(&self, name: &str, keep: impl Fn(&Key) -> bool) -> f64 {
        self.0.iter().filter(|(k, _)| k.name == name && keep(k)).map(|(_, v)| v).sum()
    }

    /// The value of the series of `name` without labels (a process gauge), if there is one.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| k.name == name && k.labels.is_empty()).map(|(_, v)| *v)
    }

    /// Sums of `name` grouped by what `group` says of each series, largest first.
    pub fn by(&self, name: &str, keep: impl Fn(&Key) -> bool, group: impl Fn(&Key) -> String) -> Vec<(String, f64)> {
        let mut groups: BTreeMap<String, f64> = BTreeMap::new();
        for (k, v) in self.0.iter().filter(|(k, _)| k.name == name && keep(k)) {
            *groups.entry(group(k)).or_default() += v;
        }
        let mut groups: Vec<_> = groups.into_iter().filter(|(_, v)| *v != 0.0).collect();
        groups.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        groups
    }

    /// The `q` quantile of histogram `name` (its `_bucket` series that `keep` accepts, summed by
    /// bound), interpolated linearly within the bucket as Prometheus' `histogram_quantile` does.
    /// `None` without observations.
    pub fn quantile(&self, name: &str, q: f64, keep: impl Fn(&Key) -> bool) -> Option<f64> {
        let bucket = format!("{name}_bucket");
        let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new(); // bound bits -> (bound, count)
        for (k, v) in self.0.iter().filter(|(k, _)| k.name == bucket && keep(k)) {
            let bound = match k.label("le") {
                "+Inf" => f64::INFINITY,
                le => match le.parse::<f64>() {
                    Ok(b) => b,
                    Err(_) => continue,
                },
            };
            buckets.entry(ordered(bound)).or_insert((bound, 0.0)).1 += v;
        }
        quantile(q, &buckets.into_values().collect::<Vec<_>>())
    }
}

/// A key for f64 bounds that sorts as the numbers do (all bounds are positive).
fn ordered(bound: f64) -> u64 {
    bound.to_bits()
}

/// `histogram_quantile` over cumulative `(bound, count)` buckets sorted by bound.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower); // beyond the largest finite bound: that bound, as Prometheus says
            }
            let within = count - below;
            return Some(if within <= 0.0 { bound } else { lower + (bound - lower) * (rank - below) / within });
        }
        (lower, below) = (bound, count);
    }
    Some(lower)
}

fn line(line: &str) -> Option<(Key, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, after) = labels(&line[open + 1..])?;
            (&line[..open], labels, after)
        }
        None => {
            let split = line.find(' ')?;
            (&line[..split], BTreeMap::new(), &line[split..])
        }
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((Key { name: name.to_owned(), labels }, value))
}

/// The labels after `{`, and what follows the closing `}`.
fn labels(text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| *c == ',' || *c == ' ').is_some() {}
        let (start, c) = chars.next()?;
        if c == '}' {
            return Some((labels, &text[start + 1..]));
        }
        let mut end = start;
        for (i, c) in chars.by_ref() {
            if c == '=' {
                end = i;
                break;
            }
        }
        let name = text[start..end].trim().to_owned();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
# HELP apiserver_request_total Counter of apiserver requests.
apiserver_request_total{code="201",resource="namespaces",verb="APPLY"} 10
apiserver_request_total{code="200",resource="pods",subresource="",verb="LIST"} 3
h_bucket{verb="APPLY",le="0.005"} 50
h_bucket{verb="APPLY",le="0.025"} 90
h_bucket{verb="APPLY",le="+Inf"} 100
odd{v="a \"quoted\", value"} 1.5e+02
process_resident_memory_bytes 2.85933568e+08
"#;

    #[test]
    fn reads_labels_values_and_escapes() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.sum("apiserver_request_total", |k| k.label("verb") == "APPLY"), 10.0);
        assert_eq!(s.sum("odd", |k| k.label("v") == "a \"quoted\", value"), 150.0);
        assert_eq!(s.value("process_resident_memory_bytes"), Some(285_933_568.0));
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket_and_stop_at_the_last_finite_bound() {
        let s = Scrape::parse(TEXT);
        let p50 = s.quantile("h", 0.5, |_| true).unwrap();
        assert!((p50 - 0.005).abs() < 1e-12, "{p50}");
        let p70 = s.quantile("h", 0.7, |_| true).unwrap();
        assert!((p70 - 0.015).abs() < 1e-12, "{p70}");
        assert_eq!(s.quantile("h", 0.99, |_| true), Some(0.025));
        assert_eq!(s.quantile("none", 0.5, |_| true), None);
    }

    #[test]
    fn the_difference_of_two_scrapes_counts_new_series_from_zero() {
        let before = Scrape::parse("c{a=\"1\"} 5\n");
        let after = Scrape::parse("c{a=\"1\"} 7\nc{a=\"2\"} 3\n");
        let d = after.since(&before);
        assert_eq!(d.sum("c", |_| true), 5.0);
        assert_eq!(d.by("c", |_| true, |k| k.label("a").to_owned()), vec![("2".into(), 3.0), ("1".into(), 2.0)]);
    }
}
