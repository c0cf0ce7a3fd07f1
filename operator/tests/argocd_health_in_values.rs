//! The Argo CD health checks in the chart's values (`argocd.cm`, to be copied into argocd-cm) are
//! the scripts of `docs/gitops/` byte for byte, so the two can never drift apart.

// The checkout is read where cargo runs the test (CARGO_MANIFEST_DIR at run time), as in
// chart_crds_match.rs.
use std::collections::BTreeMap;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Values {
    argocd: ArgoCd,
}

#[derive(serde::Deserialize)]
struct ArgoCd {
    cm: BTreeMap<String, String>,
}

#[test]
fn the_values_carry_the_health_scripts_of_the_docs() {
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("..");
    let text = std::fs::read_to_string(root.join("charts/concejo/values.yaml")).unwrap();
    let values: Values = serde_saphyr::from_str(&text).expect("charts/concejo/values.yaml has an argocd.cm section");
    let expected = [
        ("resource.customizations.health.concejo.dev_Municipality", "docs/gitops/health-municipality.lua"),
        ("resource.customizations.health.concejo.dev_Province", "docs/gitops/health-province.lua"),
    ];
    let keys: Vec<&str> = values.argocd.cm.keys().map(String::as_str).collect();
    assert_eq!(keys, expected.map(|(k, _)| k), "argocd.cm holds exactly the two health checks");
    for (key, file) in expected {
        let script = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            values.argocd.cm[key] == script,
            "argocd.cm.{key} in charts/concejo/values.yaml differs from {file}: copy the file into the values \
             (indented six spaces under `{key}: |`)"
        );
    }
}
