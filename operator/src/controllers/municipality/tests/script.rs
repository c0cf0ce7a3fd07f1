//! The scripted API server and the fixtures of the request-sequence tests.
//!
//! Each test spawns the reconcile and then plays the API server: every request must be the one
//! the script expects next (method, path, and the query and content type where they matter), and
//! once the reconcile is over and its client dropped, no request may be left.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::{Request, Response, header::CONTENT_TYPE};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;
use kube::api::ObjectMeta;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::Event;
use serde_json::{Value, json};
use tower_test::mock::{self, SendResponse};

use super::super::status::{self, Outcome, Part};
use super::super::{Context, OBJECTS_WRITTEN, reconcile};
use crate::api::v1alpha1::{Municipality, MunicipalityStatus, Province};
use crate::domain::{self, ValidTenant};
use crate::index::Index;
use crate::pki::{self, ca::CaState, ca::Settings};
use crate::resources::{self, Desired, Kind, ca_secret, labels};
use crate::runtime::{events::Events, kinds::Caches, metrics::Metrics, packed::Packed, ssa};
use crate::testing::{leon, municipality, plan};

pub(super) const NS: &str = "/api/v1/namespaces/muni-24115";
pub(super) const NETPOL: &str = "/apis/networking.k8s.io/v1/namespaces/muni-24115/networkpolicies";
pub(super) const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/muni-24115";
pub(super) const MUNI: &str = "/apis/concejo.dev/v1alpha1/municipalities/ponferrada";
pub(super) const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

/// León with an ingress namespace, so that the province adds a NetworkPolicy of its own.
pub(super) fn province() -> Province {
    let mut leon = leon();
    leon.spec.network.ingress_namespace = Some("ingress-nginx".into());
    leon
}

pub(super) fn ponferrada() -> Municipality {
    let mut m = municipality("ponferrada", "24115");
    m.metadata.resource_version = Some("7".into());
    m.metadata.finalizers = Some(vec![labels::FINALIZER.into()]);
    m
}

pub(super) fn tenant(m: &Municipality) -> ValidTenant {
    let (province, town) = (province(), plan("town", "4"));
    let inputs = domain::Inputs { province: Some(&province), plan: Some(&town), ..Default::default() };
    domain::validate(m, inputs).unwrap()
}

/// León's CA, made once for every test.
pub(super) fn ca() -> &'static CaState {
    static CA: OnceLock<CaState> = OnceLock::new();
    CA.get_or_init(|| {
        let now = Timestamp::now().as_second();
        pki::ca::reconcile(None, None, "leon", &["nube.dipuleon.es".into()], Settings::DEFAULTS, None, now).unwrap().0
    })
}

pub(super) fn store<K: Kind>(objects: impl IntoIterator<Item = K>) -> Store<K> {
    let (store, mut writer) = reflector::store::<K>();
    for object in objects {
        writer.apply_watcher_event(&Event::Apply(object));
    }
    store
}

/// The objects of one kind among `live` (JSON as the API server holds them).
pub(super) fn of_kind<K: Kind>(live: &[Value]) -> Packed<K> {
    Packed::of(
        live.iter().filter(|o| o["kind"] == K::kind(&()).as_ref()).map(|o| serde_json::from_value(o.clone()).unwrap()),
    )
}

/// What the API server holds once `m` is provisioned (every object as concejo declares it, a
/// valid certificate in `tenant-tls`), and the status a reconcile that found it so would write.
pub(super) fn provisioned(m: &Municipality) -> (Vec<Value>, MunicipalityStatus) {
    let tenant = tenant(m);
    let lifetime = Settings::of(&tenant.pki).leaf_lifetime;
    let now = Timestamp::now().as_second();
    let leaf = pki::tls::issue(&tenant, ca(), tenant.pki.key_algorithm, lifetime, now).unwrap();
    let trust = ca().trust_bundle();
    let context = resources::Context { certificate: Some((&leaf, &trust)), ..Default::default() };
    let desired = resources::build(&tenant, &context).unwrap();
    let certificate = pki::tls::status(&leaf.info, pki::tls::jitter(&tenant));
    // What the reconcile will judge from these objects (compliance::observe over the caches).
    let evidence = domain::ens::Evidence {
        category: tenant.ens_category,
        namespace: Some(Some("restricted".into())),
        isolation: vec![
            ("NetworkPolicy deny-all".into(), true),
            ("ResourceQuota tenant-quota".into(), true),
            ("LimitRange tenant-limits".into(), true),
        ],
        bindings: vec![
            ("tenant-admins".into(), Some("ClusterRole/concejo-tenant-admin".into())),
            ("tenant-auditors".into(), Some("ClusterRole/concejo-tenant-auditor".into())),
        ],
        roles: vec![
            ("tenant-admins".into(), "ClusterRole/concejo-tenant-admin".into()),
            ("tenant-auditors".into(), "ClusterRole/concejo-tenant-auditor".into()),
        ],
        unlisted_subjects: vec![("tenant-admins".into(), vec![]), ("tenant-auditors".into(), vec![])],
        certificate: Some(domain::ens::Certificate {
            not_after: Timestamp::from_second(leaf.info.not_after).unwrap(),
            is_rsa: leaf.info.is_rsa,
            key_bits: leaf.info.key_bits,
        }),
        volumes: vec![],
        encrypted_classes: vec![],
        backup: domain::ens::Backups::NoVolumes,
        audit: crate::domain::audit::in_force(None, Timestamp::now()),
    };
    let outcome = Outcome::Enforced {
        isolation: Part::Ready(status::isolated(&tenant)),
        certificate: Part::Ready(status::certified(&certificate)),
        certificate_status: Some(certificate),
        tenant: Box::new(tenant),
        invalid: None,
        storage: None,
        collaboration: None,
        backup: None,
        compliance: domain::ens::assess(&evidence, Timestamp::now()),
    };
    let status = status::compute(m, &outcome, Timestamp::now());
    (live(&desired), status)
}

pub(super) fn live(desired: &Desired) -> Vec<Value> {
    desired.manifests.iter().map(ssa::declared).collect()
}

/// A reconcile context over a scripted API server: León, plan `town`, León's CA, `m` in the
/// index, and the caches holding `live`.
pub(super) fn setup(m: &Municipality, live: &[Value]) -> (Arc<Context>, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let mut caches = Caches::default();
    caches.insert(of_kind::<Namespace>(live));
    caches.insert(of_kind::<ResourceQuota>(live));
    caches.insert(of_kind::<LimitRange>(live));
    caches.insert(of_kind::<NetworkPolicy>(live));
    caches.insert(of_kind::<RoleBinding>(live));
    caches.insert(of_kind::<Secret>(live));
    let index = Index::default();
    index.apply(&Event::Apply(m.clone()));
    let ctx = Context {
        client: client.clone(),
        municipalities: store([m.clone()]),
        provinces: store([province()]),
        plans: store([plan("town", "4")]),
        ca_secrets: store([ca_secret::build(ca(), "leon", "24", "default")]),
        storage_classes: store([storage_class("cifrado-ssd"), storage_class("estandar-hdd")]),
        caches,
        runs: {
            use super::super::backup::{Cache, Caches};
            Caches {
                jobs: Cache::of(store([])),
                pods: Cache::of(store([])),
                backups: Cache::of(store([])),
                restores: Cache::of(store([])),
            }
        },
        repository: crate::controllers::province::backup::Caches {
            namespaces: store([]),
            network_policies: store([]),
            secrets: Default::default(),
            services: store([]),
            deployments: store([]),
            escrows: store([]),
            buckets: store([]),
        },
        index: Arc::new(index),
        namespace: "default".into(),
        metrics: Arc::new(Metrics::default()),
        events: Arc::new(Events::new(client, None)),
        failures: Mutex::default(),
        audit_seen: Default::default(),
    };
    (Arc::new(ctx), ApiServer { handle, municipality: serde_json::to_value(m).unwrap() })
}

fn storage_class(name: &str) -> StorageClass {
    StorageClass {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        provisioner: "rancher.io/local-path".into(),
        ..Default::default()
    }
}

/// Fails the test instead of hanging when the reconcile waits on a request the script does not
/// answer, or the script on a request the reconcile never makes.
pub(super) async fn within(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(10), test).await.expect("the script and the reconcile are stuck")
}

/// Drops the reconcile's client and checks that nothing more was asked.
pub(super) async fn finish(ctx: Arc<Context>, api: ApiServer) {
    drop(ctx);
    api.done().await
}

pub(super) fn spawn(
    m: &Municipality,
    ctx: &Arc<Context>,
) -> tokio::task::JoinHandle<Result<Action, super::super::Error>> {
    tokio::spawn(reconcile(Arc::new(m.clone()), ctx.clone()))
}

pub(super) struct ApiServer {
    handle: mock::Handle<Request<Body>, Response<Body>>,
    /// What a PATCH of the Municipality returns.
    municipality: Value,
}

/// One request received: what was asked, and where to answer.
pub(super) struct Call {
    query: String,
    pub(super) content_type: String,
    pub(super) body: Value,
    respond: SendResponse<Response<Body>>,
}

impl Call {
    pub(super) fn reply(self, code: u16, body: &Value) {
        let response = Response::builder().status(code).body(Body::from(serde_json::to_vec(body).unwrap()));
        self.respond.send_response(response.unwrap());
    }

    /// A server-side apply by concejo's field manager, forced.
    pub(super) fn assert_apply(&self) {
        assert_eq!(self.content_type, "application/apply-patch+yaml");
        let query: Vec<&str> = self.query.split('&').collect();
        assert!(query.contains(&"fieldManager=concejo") && query.contains(&"force=true"), "{}", self.query);
    }
}

pub(super) fn status_error(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
}

impl ApiServer {
    /// The next request, which must be `method path`.
    pub(super) async fn expect(&mut self, method: &str, path: &str) -> Call {
        let (request, respond) =
            self.handle.next_request().await.unwrap_or_else(|| panic!("expected {method} {path}; no request came"));
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        let got = (parts.method.as_str(), parts.uri.path());
        assert_eq!(got, (method, path), "unexpected request, body {body}");
        let content_type = parts.headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        Call { query: parts.uri.query().unwrap_or_default().to_owned(), content_type, body, respond }
    }

    /// A server-side apply of one tenant object (answered with what was applied); its body.
    pub(super) async fn apply(&mut self, path: &str) -> Value {
        let call = self.expect("PATCH", path).await;
        call.assert_apply();
        let body = call.body.clone();
        assert!(body["metadata"]["annotations"][labels::APPLIED_ANNOTATION].is_string(), "{path}: {body}");
        call.reply(200, &body);
        body
    }

    /// The applies of every object of the tenant's isolation part, in order, answered.
    pub(super) async fn isolation(&mut self) {
        for path in [
            NS.to_owned(),
            format!("{NS}/resourcequotas/tenant-quota"),
            format!("{NS}/limitranges/tenant-limits"),
            format!("{NETPOL}/deny-all"),
            format!("{NETPOL}/allow-dns"),
            format!("{NETPOL}/allow-same-namespace"),
            format!("{NETPOL}/allow-from-ingress"),
            format!("{RBAC}/rolebindings/tenant-admins"),
            format!("{RBAC}/rolebindings/tenant-auditors"),
        ] {
            self.apply(&path).await;
        }
    }

    /// The status write (server-side apply on the subresource); the status written.
    pub(super) async fn status(&mut self) -> MunicipalityStatus {
        let call = self.expect("PATCH", &format!("{MUNI}/status")).await;
        call.assert_apply();
        let status = call.body["status"].clone();
        let mut written = self.municipality.clone();
        written["status"] = status.clone();
        call.reply(200, &written);
        serde_json::from_value(status).unwrap()
    }

    /// A merge patch of the Municipality (its finalizers); the patch.
    pub(super) async fn patch_municipality(&mut self) -> Value {
        let call = self.expect("PATCH", MUNI).await;
        assert_eq!(call.content_type, "application/merge-patch+json");
        let patch = call.body.clone();
        call.reply(200, &self.municipality.clone());
        patch
    }

    /// `n` Events about the Municipality, each answered with what was sent: a new one is posted,
    /// a repeat (same type, reason and object) is patched as a series by kube's recorder.
    pub(super) async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut events = vec![];
        for _ in 0..n {
            let (request, respond) = self.handle.next_request().await.expect("expected an Event; no request came");
            let (method, path) = (request.method().to_string(), request.uri().path().to_owned());
            let body: Value = serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
            let series = body["series"]["count"].is_number();
            let expected = if series {
                path.strip_prefix(EVENTS).is_some_and(|name| name.starts_with('/'))
            } else {
                path == EVENTS
            };
            assert!(expected && method == if series { "PATCH" } else { "POST" }, "{method} {path} {body}");
            assert_eq!(body["regarding"]["name"], "ponferrada");
            let response = Response::builder().status(if series { 200 } else { 201 });
            respond.send_response(response.body(Body::from(serde_json::to_vec(&body).unwrap())).unwrap());
            events.push(body);
        }
        events
    }

    /// Once every client is dropped: nothing else was asked.
    pub(super) async fn done(mut self) {
        if let Some((request, _)) = self.handle.next_request().await {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }
}

/// The reasons of Events, sorted; a repeat patched as a series shows its count.
pub(super) fn reasons(events: &[Value]) -> Vec<String> {
    let mut reasons: Vec<String> = events
        .iter()
        .map(|e| match e["series"]["count"].as_u64() {
            Some(n) => format!("{} x{n}", e["reason"].as_str().unwrap()),
            None => e["reason"].as_str().unwrap().to_owned(),
        })
        .collect();
    reasons.sort();
    reasons
}

/// The note of the one Event saying what a reconcile wrote.
pub(super) fn written(events: &[Value]) -> String {
    let [event] = events else { panic!("one Event expected: {events:?}") };
    assert_eq!((event["reason"].as_str(), event["type"].as_str()), (Some(OBJECTS_WRITTEN), Some("Normal")), "{event}");
    event["note"].as_str().unwrap().to_owned()
}

pub(super) fn condition(status: &MunicipalityStatus, type_: &str) -> (String, String, String) {
    let c = status.conditions.iter().find(|c| c.type_ == type_).unwrap_or_else(|| panic!("no {type_}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// The requeue delay of an Action, in seconds (its field is private; its Debug shows it).
pub(super) fn requeue_secs(action: &Action) -> f64 {
    let debug = format!("{action:?}");
    let duration = debug.split("Some(").nth(1).and_then(|s| s.split(')').next()).expect(&debug);
    let unit = duration.find(|c: char| c.is_alphabetic()).expect(&debug);
    let scale = match &duration[unit..] {
        "s" => 1.0,
        "ms" => 1e-3,
        "µs" => 1e-6,
        "ns" => 1e-9,
        other => panic!("unit {other} in {debug}"),
    };
    duration[..unit].parse::<f64>().unwrap() * scale
}
