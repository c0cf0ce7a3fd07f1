//! What the CRD targets do with a decoded object: what the operator does with one.

use std::sync::LazyLock;

use concejo::api::v1alpha1::{Municipality, Province, ServicePlan};
use concejo::domain::{self, Inputs};
use concejo::resources;

/// The León Province and its plan, as the e2e tests and the examples have them.
static LEON: LazyLock<Province> = LazyLock::new(|| {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": "leon"},
        "spec": {
            "ineCode": "24", "displayName": "Diputación de León", "baseDomain": "nube.dipuleon.es",
            "defaultPlan": "town",
            "network": {"ingressNamespace": "ingress-nginx", "monitoringNamespace": "monitoring",
                        "sara": {"cidrs": ["10.252.0.0/16"], "resolver": "10.252.0.53"}},
            "storage": {"classes": [{"name": "cifrado-ssd", "encrypted": true}]},
            "office": {"enabled": true},
            "backup": {"target": {"s3": {"endpoint": "https://s3.dipuleon.es", "bucket": "concejo",
                                         "credentialsSecret": "backup-s3"}}}
        }
    }))
    .expect("the León Province")
});
static TOWN: LazyLock<ServicePlan> = LazyLock::new(|| {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "ServicePlan", "metadata": {"name": "town"},
        "spec": {
            "quota": {"cpu": "4", "memory": "8Gi", "storage": "200Gi", "pods": 40},
            "limitRange": {"defaultCpu": "250m", "defaultMemory": "256Mi", "maxCpu": "2", "maxMemory": "4Gi"},
            "collaboration": {"users": 25, "storage": "100Gi"}
        }
    }))
    .expect("the town plan")
});
static LEON_TOWN_HALL: LazyLock<Municipality> = LazyLock::new(|| {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Municipality", "metadata": {"name": "leon"},
        "spec": {"province": "leon", "ineCode": "24089", "displayName": "León", "network": {"sara": true},
                 "collaboration": {"enabled": true}, "storage": {"size": "10Gi"}}
    }))
    .expect("León's town hall")
});

/// Serializing and decoding again gives the same object.
#[allow(dead_code)] // crd_yaml does not use it
pub fn round_trip<K: serde::Serialize + PartialEq + std::fmt::Debug>(k: &K, decode: impl Fn(serde_json::Value) -> K) {
    let again = decode(serde_json::to_value(k).expect("a decoded object serializes"));
    assert_eq!(&again, k);
}

fn check(m: &Municipality, province: &Province, plan: &ServicePlan) {
    let inputs = Inputs { province: Some(province), plan: Some(plan), ..Default::default() };
    match domain::validate(m, inputs) {
        Ok(tenant) => {
            let context = resources::Context {
                certificate: None,
                credentials: None,
                volumes: &[],
                expandable: false,
                backup_key: None,
            };
            let _ = resources::build(&tenant, &context);
        }
        Err(invalid) => {
            let _ = (invalid.reason(), invalid.to_string());
        }
    }
}

pub fn municipality(m: &Municipality) {
    check(m, &LEON, &TOWN);
}

pub fn province(p: &Province) {
    check(&LEON_TOWN_HALL, p, &TOWN);
}

pub fn plan(plan: &ServicePlan) {
    let _ = domain::plan::hard(&plan.spec);
    check(&LEON_TOWN_HALL, &LEON, plan);
}
