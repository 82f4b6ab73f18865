//! The benchmark report (JSON), its Markdown table, and side-by-side comparisons.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One measured figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    /// Stable name, e.g. `push_monolithic_4x`.
    pub name: String,
    /// Unit of `value`.
    pub unit: String,
    /// The figure.
    pub value: f64,
    /// Extra figures (latency percentiles, ratios, parameters).
    #[serde(default)]
    pub extra: BTreeMap<String, Value>,
}

impl Metric {
    /// A metric without extras.
    pub fn new(name: &str, unit: &str, value: f64) -> Metric {
        Metric {
            name: name.into(),
            unit: unit.into(),
            value,
            extra: BTreeMap::new(),
        }
    }

    /// Adds an extra figure.
    pub fn with(mut self, key: &str, v: Value) -> Metric {
        self.extra.insert(key.into(), v);
        self
    }
}

/// All metrics of one run against one registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Which registry (`berth`, `distribution`).
    pub label: String,
    /// Its URL.
    pub target: String,
    /// The metrics, in measurement order.
    pub metrics: Vec<Metric>,
}

impl Report {
    /// An empty report.
    pub fn new(label: &str, target: &str) -> Report {
        Report {
            label: label.into(),
            target: target.into(),
            metrics: Vec::new(),
        }
    }

    /// Adds a metric.
    pub fn push(&mut self, m: Metric) {
        self.metrics.push(m);
    }

    /// A metric by name.
    pub fn get(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// A Markdown table of the metrics.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### {} ({})\n\n| metric | value | unit | details |\n|---|---:|---|---|\n",
            self.label, self.target
        );
        for m in &self.metrics {
            let extra: Vec<String> = m
                .extra
                .iter()
                .map(|(k, v)| format!("{k}={}", fmt_value(v)))
                .collect();
            out.push_str(&format!(
                "| {} | {:.2} | {} | {} |\n",
                m.name,
                m.value,
                m.unit,
                extra.join(", ")
            ));
        }
        out
    }
}

fn fmt_value(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if v.is_f64() => format!("{f:.3}"),
        _ => v.to_string(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median over reports of metric `name` (its value, or the extra figure `key`).
fn median_of(rs: &[Report], name: &str, key: Option<&str>) -> f64 {
    median(
        rs.iter()
            .filter_map(|r| r.get(name))
            .filter_map(|m| match key {
                None => Some(m.value),
                Some(k) => m.extra.get(k).and_then(Value::as_f64),
            })
            .collect(),
    )
}

/// Side-by-side table: for each metric, the median over rounds of `a` and of `b`,
/// and the ratio a/b (for latencies and times, lower is better; the table says so).
pub fn compare_markdown(a: &[Report], b: &[Report]) -> String {
    let (la, lb) = (
        a.first().map_or("A", |r| r.label.as_str()),
        b.first().map_or("B", |r| r.label.as_str()),
    );
    let mut out = format!(
        "| metric | unit | {la} | {lb} | {la}/{lb} | better |\n|---|---|---:|---:|---:|---|\n"
    );
    let names: Vec<String> = a
        .first()
        .map(|r| r.metrics.iter().map(|m| m.name.clone()).collect())
        .unwrap_or_default();
    for name in names {
        let Some(unit) = a[0].get(&name).map(|m| m.unit.clone()) else {
            continue;
        };
        let lower_is_better = unit == "ms" || unit == "MiB";
        let rows: Vec<(String, String, Option<&str>, bool)> = {
            let mut r = vec![(name.clone(), unit.clone(), None, lower_is_better)];
            if a[0]
                .get(&name)
                .is_some_and(|m| m.extra.contains_key("p99_ms"))
            {
                r.push((format!("{name} p50"), "ms".into(), Some("p50_ms"), true));
                r.push((format!("{name} p99"), "ms".into(), Some("p99_ms"), true));
            }
            r
        };
        for (label, unit, key, lower) in rows {
            let va = median_of(a, &name, key);
            let vb = median_of(b, &name, key);
            let ratio = va / vb;
            out.push_str(&format!(
                "| {label} | {unit} | {va:.2} | {vb:.2} | {ratio:.2} | {} |\n",
                if lower { "lower" } else { "higher" }
            ));
        }
    }
    out
}

/// The performance issue's targets, checked on the medians of `a` (berth) against
/// `b` (Distribution) and the machine's SHA-256 rate, plus cold start in ms.
pub fn targets_markdown(
    a: &[Report],
    b: &[Report],
    nginx: &[Report],
    cold_a_ms: Option<f64>,
) -> String {
    let sha = median_of(a, "sha256_single_core", None);
    fn at_least(what: &str, got: f64, want: f64) -> (String, f64, String, bool) {
        (what.into(), got, format!(">= {want}"), got >= want)
    }
    fn at_most(what: &str, got: f64, want: f64) -> (String, f64, String, bool) {
        (what.into(), got, format!("<= {want}"), got <= want)
    }
    let mut rows = vec![
        at_least(
            "push 1 stream / SHA-256 rate",
            median_of(a, "push_monolithic_1x", None) / sha,
            0.9,
        ),
        at_least(
            "push 4 streams / SHA-256 rate",
            median_of(a, "push_monolithic_4x", None) / sha,
            1.6,
        ),
        at_least(
            "pull 1 stream vs Distribution",
            median_of(a, "pull_1x", None) / median_of(b, "pull_1x", None),
            1.5,
        ),
        at_least(
            "pull 4 streams vs Distribution",
            median_of(a, "pull_4x", None) / median_of(b, "pull_4x", None),
            1.5,
        ),
    ];
    for verb in ["head", "get"] {
        let n = format!("manifest_{verb}_64c");
        rows.push(at_least(
            &format!("manifest {verb} req/s at 64 clients vs Distribution"),
            median_of(a, &n, None) / median_of(b, &n, None),
            8.0,
        ));
        rows.push(at_most(
            &format!("manifest {verb} p99 at 64 clients vs Distribution"),
            median_of(a, &n, Some("p99_ms")) / median_of(b, &n, Some("p99_ms")),
            0.25,
        ));
    }
    // Performance II (durable small writes, listing, static-file pulls, memory).
    let ratio = |name: &str| median_of(a, name, None) / median_of(b, name, None);
    rows.push(at_least(
        "manifest PUT re-tag at 8 clients vs Distribution",
        ratio("manifest_put_retag_8c"),
        9.0,
    ));
    rows.push(at_least(
        "image push at 1 client vs Distribution",
        ratio("image_push_5_layers"),
        4.0,
    ));
    rows.push(at_least(
        "image push at 8 clients vs Distribution",
        ratio("image_push_5_layers_8c"),
        8.0,
    ));
    for (what, prefix) in [("tags", "tags_list_"), ("catalog", "catalog_")] {
        // Walks per second: the inverse of the ms per walk.
        if let Some(name) = a
            .first()
            .and_then(|r| r.metrics.iter().find(|m| m.name.starts_with(prefix)))
            .map(|m| m.name.clone())
        {
            rows.push(at_least(
                &format!("{what} walk (walks/s) vs Distribution"),
                median_of(b, &name, None) / median_of(a, &name, None),
                1.7,
            ));
        }
    }
    if !nginx.is_empty() {
        for n in [1, 4] {
            let name = format!("pull_curl_{n}x");
            rows.push(at_least(
                &format!("blob pull with curl, {n} stream(s), vs nginx"),
                median_of(a, &name, None) / median_of(nginx, &name, None),
                0.9,
            ));
        }
    }
    rows.push(at_most(
        "peak RSS vs Distribution",
        median_of(a, "server_peak_rss", None) / median_of(b, "server_peak_rss", None),
        0.4,
    ));
    if let Some(ms) = cold_a_ms {
        rows.push(at_most("cold start (ms)", ms, 50.0));
    }
    let mut out = String::from("| target | measured | wanted | met |\n|---|---:|---|---|\n");
    for (what, got, want, ok) in rows {
        out.push_str(&format!(
            "| {what} | {got:.2} | {want} | {} |\n",
            if ok { "yes" } else { "**no**" }
        ));
    }
    out
}

/// The flat-cost targets (`bench/flat.sh`): each request's p50 latency on the
/// filled registry (`filled`) within 1.5 x its value on the empty one (`empty`).
pub fn flat_targets_markdown(filled: &[Report], empty: &[Report]) -> String {
    let mut out = String::from(
        "| request | empty p50 (ms) | filled p50 (ms) | filled / empty | wanted | met |\n|---|---:|---:|---:|---|---|\n",
    );
    for name in [
        "flat_tags_page",
        "flat_catalog_page",
        "flat_referrers",
        "flat_manifest_get",
        "flat_blob_head",
    ] {
        let (e, f) = (median_of(empty, name, None), median_of(filled, name, None));
        let ratio = f / e;
        out.push_str(&format!(
            "| {name} | {e:.3} | {f:.3} | {ratio:.2} | <= 1.5 | {} |\n",
            if ratio <= 1.5 { "yes" } else { "**no**" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_uses_medians_and_ratios() {
        let mk = |label: &str, v: f64, p99: f64| {
            let mut r = Report::new(label, "x");
            r.push(
                Metric::new("manifest_get_1c", "req/s", v)
                    .with("p99_ms", serde_json::json!(p99))
                    .with("p50_ms", serde_json::json!(1.0)),
            );
            r
        };
        let a = vec![
            mk("berth", 100.0, 1.0),
            mk("berth", 300.0, 3.0),
            mk("berth", 200.0, 2.0),
        ];
        let b = vec![mk("dist", 50.0, 4.0), mk("dist", 50.0, 4.0)];
        let md = compare_markdown(&a, &b);
        assert!(
            md.contains("| manifest_get_1c | req/s | 200.00 | 50.00 | 4.00 | higher |"),
            "{md}"
        );
        assert!(
            md.contains("| manifest_get_1c p99 | ms | 2.00 | 4.00 | 0.50 | lower |"),
            "{md}"
        );
    }
}
