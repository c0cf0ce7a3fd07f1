//! The Province controller: keeps the province's CA in place ([`ca`]) and rolls its tenants up
//! into its status ([`status`]).

pub mod ca;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use tracing::warn;

use crate::api::v1alpha1::{Municipality, Province};
use crate::controllers::conditions::{self, CA_READY, Desired};
use crate::index::Index;
use crate::runtime::errors::Error;
use crate::runtime::events::Events;
use crate::runtime::metrics::Metrics;
use crate::runtime::ssa;

/// A safety net for missed events, and the latest a CA renewal is looked at.
const RESYNC: Duration = Duration::from_secs(300);

pub struct Context {
    pub client: Client,
    pub municipalities: Store<Municipality>,
    pub index: Arc<Index>,
    pub metrics: Arc<Metrics>,
    pub events: Arc<Events>,
    /// The operator's namespace, where CA Secrets live.
    pub namespace: String,
}

/// Keeps the province's CA in place and counts its Municipalities; writes the status if it changed.
pub async fn reconcile(province: Arc<Province>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = province.name_any();
    let mine: Vec<Arc<Municipality>> =
        ctx.index.of_province(&name).iter().filter_map(|n| ctx.municipalities.get(&ObjectRef::new(n))).collect();
    let (ca_condition, next) = match ca::ensure(&province, &mine, &ctx).await {
        Ok(next) => (Desired::new(CA_READY, true, "Ready", "root and intermediate CA in place"), next),
        Err(ca::Problem::Invalid(reason, message)) => {
            let regarding = province.object_ref(&());
            ctx.events.publish(&ctx.metrics, &regarding, false, reason, message.clone()).await;
            (Desired::new(CA_READY, false, reason, message), RESYNC)
        }
        Err(ca::Problem::Failed(e)) => return Err(e),
    };
    let previous = province.status.clone().unwrap_or_default();
    let desired = status::compute(&province, &mine, ca_condition, Timestamp::now());
    let current = crate::api::v1alpha1::ProvinceStatus {
        conditions: conditions::only(&previous.conditions, status::OWNED),
        ..previous
    };
    if desired != current {
        ssa::status(&Api::<Province>::all(ctx.client.clone()), &name, &desired, &ctx.metrics).await?;
    }
    Ok(Action::requeue(next))
}

pub fn error_policy(province: Arc<Province>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.category());
    warn!(province = %province.name_any(), %error, "province not reconciled; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
