//! The chart grants concejo exactly what `runtime::access` declares (which a unit test ties to
//! the builders): no rule more, no rule less, no verb more or less.

// The checkout is read where cargo runs the test (CARGO_MANIFEST_DIR at run time): a binary
// reused from another clone through a shared target directory must not read that clone.
use std::collections::BTreeSet;
use std::path::Path;

use concejo::runtime::access::{Access, CLUSTER, OWN_NAMESPACE};
use k8s_openapi::api::rbac::v1::PolicyRule;

/// (group, resource, verb, name or "") for every permission.
type Grants = BTreeSet<(String, String, String, String)>;

fn of_rules(rules: &[PolicyRule]) -> Grants {
    let mut grants = Grants::new();
    for rule in rules {
        let names = rule.resource_names.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| vec![String::new()]);
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for name in &names {
                        grants.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    grants
}

fn of_access(access: &[Access]) -> Grants {
    let mut grants = Grants::new();
    for a in access {
        let names: Vec<&str> = if a.names.is_empty() { vec![""] } else { a.names.to_vec() };
        for resource in a.resources {
            for verb in a.verbs {
                for name in &names {
                    grants.insert((a.group.into(), resource.to_string(), verb.to_string(), name.to_string()));
                }
            }
        }
    }
    grants
}

/// The `rules:` of the chart's document of `kind` (the rules hold no template expressions).
fn chart_rules(template: &str, kind: &str) -> Vec<PolicyRule> {
    let document = template
        .split("\n---\n")
        .find(|d| d.lines().any(|l| l == format!("kind: {kind}")))
        .unwrap_or_else(|| panic!("no {kind} in templates/rbac.yaml"));
    let rules = &document[document.find("\nrules:\n").unwrap_or_else(|| panic!("{kind} has no rules"))..];
    assert!(!rules.contains("{{"), "the rules of {kind} must not be templated");
    #[derive(serde::Deserialize)]
    struct Rules {
        rules: Vec<PolicyRule>,
    }
    serde_saphyr::from_str::<Rules>(rules).unwrap().rules
}

#[test]
fn the_chart_grants_exactly_what_concejo_declares() {
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("..");
    let template = std::fs::read_to_string(root.join("charts/concejo/templates/rbac.yaml")).unwrap();
    for (kind, declared) in [("ClusterRole", CLUSTER), ("Role", OWN_NAMESPACE)] {
        let chart = of_rules(&chart_rules(&template, kind));
        let wanted = of_access(declared);
        let extra: Vec<_> = chart.difference(&wanted).collect();
        let missing: Vec<_> = wanted.difference(&chart).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{kind}: the chart grants {extra:?} beyond runtime::access and lacks {missing:?}"
        );
    }
}
