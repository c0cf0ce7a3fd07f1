//! The shipped audit policy (charts/concejo/files/audit-policy.yaml) records what docs/ens.md says
//! it does: requests are run through its rules the way the API server does (first match wins) and
//! the level each gets is checked. The e2e test (e2e/tests/audit.rs) checks the same file on a real
//! API server for two of these requests; this one covers every rule cheaply.

use std::path::Path;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Policy {
    api_version: String,
    kind: String,
    #[serde(default)]
    omit_stages: Vec<String>,
    rules: Vec<Rule>,
}

/// Unknown fields are refused: a misspelt field would silently widen a rule.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    level: String,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
}

/// One request, as the policy sees it. `resource` is "pods" or "pods/status"; `url` is set for
/// non-resource requests.
struct Request<'a> {
    user: &'a str,
    groups: &'a [&'a str],
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    namespace: &'a str,
    url: Option<&'a str>,
}

const ADMIN: &[&str] = &["system:masters", "system:authenticated"];

fn request<'a>(verb: &'a str, group: &'a str, resource: &'a str, namespace: &'a str) -> Request<'a> {
    Request { user: "maria@leon", groups: ADMIN, verb, group, resource, namespace, url: None }
}

/// The rule-matching semantics of k8s.io/apiserver's policy checker, for the fields the policy uses.
impl Rule {
    fn matches(&self, r: &Request) -> bool {
        let listed = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        if !listed(&self.users, r.user) || !listed(&self.verbs, r.verb) {
            return false;
        }
        if !self.user_groups.is_empty() && !r.groups.iter().any(|g| self.user_groups.iter().any(|u| u == g)) {
            return false;
        }
        if let Some(url) = r.url {
            // A rule about resources or namespaces never matches a non-resource request.
            if !self.resources.is_empty() || !self.namespaces.is_empty() {
                return false;
            }
            return self.non_resource_urls.is_empty()
                || self.non_resource_urls.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => url.starts_with(prefix),
                    None => url == p,
                });
        }
        if !self.non_resource_urls.is_empty() {
            return false;
        }
        if !listed(&self.namespaces, r.namespace) {
            return false;
        }
        self.resources.is_empty()
            || self.resources.iter().any(|g| {
                g.group == r.group
                    && (g.resources.is_empty()
                        || g.resources.iter().any(|res| {
                            res == r.resource
                                || res == "*"
                                || res.strip_suffix("/*").is_some_and(|base| r.resource.split('/').next() == Some(base))
                        }))
            })
    }
}

fn policy() -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/concejo/files/audit-policy.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).expect("an audit.k8s.io/v1 Policy")
}

fn level(policy: &Policy, request: &Request) -> String {
    policy.rules.iter().find(|rule| rule.matches(request)).map_or("None".into(), |rule| rule.level.clone())
}

#[test]
fn the_policy_records_what_the_docs_say() {
    let p = policy();
    assert_eq!((p.api_version.as_str(), p.kind.as_str()), ("audit.k8s.io/v1", "Policy"));
    assert_eq!(p.omit_stages, ["RequestReceived"]);
    let tenant = "muni-24089";
    let cases: &[(Request, &str)] = &[
        // concejo's kinds: the body as sent and stored, for every write; reads not at all.
        (request("patch", "concejo.dev", "municipalities", ""), "RequestResponse"),
        (request("create", "concejo.dev", "municipalities", ""), "RequestResponse"),
        (request("delete", "concejo.dev", "provinces", ""), "RequestResponse"),
        (request("update", "concejo.dev", "serviceplans", ""), "RequestResponse"),
        (request("create", "concejo.dev", "backups", tenant), "RequestResponse"),
        (request("delete", "concejo.dev", "restores", tenant), "RequestResponse"),
        (request("get", "concejo.dev", "municipalities", ""), "None"),
        (request("watch", "concejo.dev", "municipalities", ""), "None"),
        // Their status (concejo's writes): who and when, no body.
        (request("patch", "concejo.dev", "municipalities/status", ""), "Metadata"),
        // Secrets: every verb, never a body; ConfigMaps: writes, never a body.
        (request("get", "", "secrets", tenant), "Metadata"),
        (request("list", "", "secrets", ""), "Metadata"),
        (request("update", "", "secrets", tenant), "Metadata"),
        (request("delete", "", "configmaps", tenant), "Metadata"),
        (request("get", "", "configmaps", tenant), "None"),
        (request("create", "", "serviceaccounts/token", tenant), "Metadata"),
        // Writes in a tenant namespace, and cluster-scoped ones.
        (request("delete", "apps", "deployments", tenant), "Metadata"),
        (request("patch", "networking.k8s.io", "networkpolicies", tenant), "Metadata"),
        (request("create", "", "pods/exec", tenant), "Metadata"),
        (request("delete", "", "namespaces", ""), "Metadata"),
        (request("patch", "rbac.authorization.k8s.io", "clusterroles", ""), "Metadata"),
        // Reads and heartbeats: nothing.
        (request("list", "", "pods", tenant), "None"),
        (request("update", "coordination.k8s.io", "leases", "kube-node-lease"), "None"),
        (request("create", "", "events", tenant), "None"),
        (request("create", "events.k8s.io", "events", tenant), "None"),
        (request("patch", "", "pods/status", tenant), "None"),
        (request("patch", "", "nodes/status", ""), "None"),
        (request("create", "", "pods/binding", tenant), "None"),
        (request("update", "discovery.k8s.io", "endpointslices", tenant), "None"),
    ];
    for (r, expected) in cases {
        let got = level(&p, r);
        assert_eq!(got, *expected, "{} {}/{} in {:?}", r.verb, r.group, r.resource, r.namespace);
    }

    // The cluster's own machinery, whatever it writes.
    let kubelet =
        Request { user: "system:node:n1", groups: &["system:nodes"], ..request("delete", "", "pods", tenant) };
    assert_eq!(level(&p, &kubelet), "None");
    let controller = Request {
        user: "system:serviceaccount:kube-system:replicaset-controller",
        groups: &["system:serviceaccounts", "system:serviceaccounts:kube-system"],
        ..request("create", "", "pods", tenant)
    };
    assert_eq!(level(&p, &controller), "None");
    let scheduler = Request { user: "system:kube-scheduler", groups: &[], ..request("create", "", "pods", tenant) };
    assert_eq!(level(&p, &scheduler), "None");
    // concejo's own service account is not kube-system's: its writes are recorded.
    let concejo = Request {
        user: "system:serviceaccount:concejo-system:concejo",
        groups: &["system:serviceaccounts", "system:serviceaccounts:concejo-system"],
        ..request("patch", "", "resourcequotas", tenant)
    };
    assert_eq!(level(&p, &concejo), "Metadata");

    // Probes and discovery.
    for url in ["/healthz", "/livez/ping", "/readyz", "/openapi/v3", "/apis/apps/v1", "/version"] {
        let probe = Request { url: Some(url), ..request("get", "", "", "") };
        assert_eq!(level(&p, &probe), "None", "{url}");
    }
}

#[test]
fn no_rule_records_a_body_of_secrets_or_configmaps() {
    // Whatever the verb, the first rule to match a Secret or ConfigMap request is Metadata or None.
    let p = policy();
    for resource in ["secrets", "configmaps"] {
        for verb in ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"] {
            let got = level(&p, &request(verb, "", resource, "muni-24089"));
            assert!(got == "Metadata" || got == "None", "{verb} {resource}: {got}");
        }
    }
}
