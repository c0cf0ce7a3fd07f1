//! The Province controller: keeps the province's CA in place ([`ca`]), runs its office pool
//! ([`office`]) and rolls its tenants up into its status ([`status`]).

pub mod backup;
pub mod ca;
pub mod office;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use tracing::warn;

use crate::api::v1alpha1::{Municipality, Province, ServicePlan};
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
    /// The plans, for the users the office pool is sized for.
    pub plans: Store<ServicePlan>,
    /// The office pools' objects.
    pub office: office::Caches,
    /// The backup repositories' objects and the escrowed keys.
    pub backup: backup::Caches,
}

/// Keeps the province's CA and office pool in place and counts its Municipalities; writes the
/// status if it changed.
pub async fn reconcile(province: Arc<Province>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = province.name_any();
    let mine: Vec<Arc<Municipality>> =
        ctx.index.of_province(&name).iter().filter_map(|n| ctx.municipalities.get(&ObjectRef::new(n))).collect();
    let (ca_condition, next, authority) = match ca::ensure(&province, &mine, &ctx).await {
        Ok((next, state)) => {
            (Desired::new(CA_READY, true, "Ready", "root and intermediate CA in place"), next, Some(state))
        }
        Err(ca::Problem::Invalid(reason, message)) => {
            let regarding = province.object_ref(&());
            ctx.events.publish(&ctx.metrics, &regarding, false, reason, message.clone()).await;
            (Desired::new(CA_READY, false, reason, message), RESYNC, None)
        }
        Err(ca::Problem::Failed(e)) => return Err(e),
    };
    let office = office::reconcile(&province, &mine, authority.as_ref(), &ctx).await?;
    let repository = backup::reconcile(&province, &ctx).await?;
    let previous = province.status.clone().unwrap_or_default();
    let desired = status::compute(
        &province,
        &mine,
        ca_condition,
        office.as_ref(),
        repository.as_ref().map(|r| r.condition.clone()),
        Timestamp::now(),
    );
    let current = crate::api::v1alpha1::ProvinceStatus {
        conditions: conditions::only(&previous.conditions, status::OWNED),
        ..previous
    };
    if desired != current {
        ssa::status(&Api::<Province>::all(ctx.client.clone()), &name, &desired, &ctx.metrics).await?;
    }
    if let Some(failed) = office.as_ref().and_then(|o| o.failed.clone()) {
        return Err(Error::Parts(format!("office pool: {failed}")));
    }
    if let Some(failed) = repository.as_ref().and_then(|r| r.failed.clone()) {
        return Err(Error::Parts(format!("backup repository: {failed}")));
    }
    let next = office.and_then(|o| o.next).map_or(next, |n| next.min(n));
    let next = repository.and_then(|r| r.next).map_or(next, |n| next.min(n));
    Ok(Action::requeue(next))
}

pub fn error_policy(province: Arc<Province>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.category());
    warn!(province = %province.name_any(), %error, "province not reconciled; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
