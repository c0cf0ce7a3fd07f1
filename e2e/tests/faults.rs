//! Faults (issue 14): nothing lost, nothing duplicated, no second writer.
//! - the operator SIGKILLed at random (seeded) moments while it onboards tenants: in the end all
//!   Ready, every tenant has exactly the objects an undisturbed onboarding gives it, no CA and no
//!   tenant certificate made twice (the Secrets as watched throughout, and the API server's
//!   audit log of concejo's writes);
//! - the API server and etcd stopped and started again under a running operator: `/readyz` says
//!   503 while it cannot work and 200 after, the same process then puts back a change again;
//! - two replicas: the leader killed, the standby leads within the lease and writes only after the
//!   old leader's last write; the new leader paused (SIGSTOP) until a third took over, then
//!   resumed: it writes nothing more.
//!
//! Short here (`make test`, about two minutes); `CONCEJO_FAULTS=full` (`make chaos-faults`): León's
//! 211 town halls with their suite, 20 kills, outages longer than the lease. `CONCEJO_FAULTS_SEED`
//! repeats a run's random moments (each run prints its seed).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use concejo::api::v1alpha1::{Municipality, Province};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ResourceQuota, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::faults::*;
use support::*;
use tokio::time::Instant;

/// The tests' own province: Zamora (INE 49), set up as `support::apply_leon` sets up León, so its
/// CA is made during the run and its tenants never meet another test's.
const ZAMORA: &str = "zamora";

/// Zamora's town halls from the INE register, as `concejo generate` prints them, deleted with
/// their data; the suite only where `suite` says.
fn zamora(range: std::ops::Range<usize>, suite: impl Fn(usize) -> bool) -> anyhow::Result<Vec<Municipality>> {
    let yaml = concejo::generate::municipalities_yaml("49", ZAMORA, false).context("no province 49")?;
    let all = municipalities_from_yaml(&yaml, &json!({"deletionPolicy": "Delete"}))?;
    let mut out = Vec::new();
    for (i, mut m) in all.into_iter().enumerate().skip(range.start).take(range.len()) {
        if suite(i) {
            m = serde_json::from_value({
                let mut v = serde_json::to_value(&m)?;
                v["spec"]["collaboration"] = json!({"enabled": true});
                v
            })?;
        }
        out.push(m);
    }
    Ok(out)
}

/// León's 211 town halls as examples/leon holds them (each with the suite), deleted with their data.
fn leon_examples() -> anyhow::Result<Vec<Municipality>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/leon/municipalities.yaml");
    let yaml = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    municipalities_from_yaml(&yaml, &json!({"deletionPolicy": "Delete"}))
}

/// Zamora's Province, with no CA left from an earlier run (its tenants must be gone).
async fn fresh_zamora(client: &Client) -> anyhow::Result<()> {
    delete_if_present(&Api::<Secret>::namespaced(client.clone(), "default"), "concejo-ca-zamora").await?;
    let province = province(ZAMORA, "49", "Diputación de Zamora", "dipuzamora.es")?;
    apply(&Api::<Province>::all(client.clone()), &province).await?;
    Ok(())
}

/// Deletes these Municipalities (left from an earlier run, or this one's) and waits until they
/// are gone, with an operator of its own unless one runs (their finalizer needs one).
async fn remove_all(client: &Client, names: &BTreeSet<String>, within: Duration, running: bool) -> anyhow::Result<()> {
    let api = Api::<Municipality>::all(client.clone());
    let present = |list: Vec<Municipality>| list.into_iter().filter(|m| names.contains(&m.name_any())).count();
    if present(api.list(&Default::default()).await?.items) == 0 {
        return Ok(());
    }
    let _operator = if running { None } else { Some(Operator::start().await?) };
    for name in names {
        delete_quietly(&api, name).await?;
    }
    let deadline = Instant::now() + within;
    loop {
        let left = present(api.list(&Default::default()).await?.items);
        if left == 0 {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "{left} Municipalities still there after {within:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Deletes one, if it is there.
async fn delete_quietly(api: &Api<Municipality>, name: &str) -> anyhow::Result<()> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Waits until every one of `names` is Ready, saying how many are every 10 s.
async fn all_ready(client: &Client, names: &BTreeSet<String>, within: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut said = Instant::now();
    loop {
        let ready = ready_count(client, names).await?;
        if ready == names.len() {
            return Ok(started.elapsed());
        }
        ensure!(started.elapsed() < within, "only {ready} of {} Ready after {within:?}", names.len());
        if said.elapsed() > Duration::from_secs(10) {
            println!("  {ready} of {} Ready ({:?})", names.len(), started.elapsed());
            said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until `check` holds, at most `within`; returns how long it took.
async fn until<F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    loop {
        if check().await? {
            return Ok(started.elapsed());
        }
        ensure!(started.elapsed() < within, "timed out after {within:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every content (and uid) each certificate Secret had while the test watched: the provinces'
/// CAs (`concejo-ca-*`) and the tenants' `tenant-tls`, by namespace/name.
#[derive(Default)]
struct Certificates(Mutex<BTreeMap<String, Seen>>);

/// The hashes of the contents, and the uids, one Secret had.
type Seen = (BTreeSet<u64>, BTreeSet<String>);

impl Certificates {
    fn watch(client: &Client) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let seen = Arc::new(Self::default());
        let api = Api::<Secret>::all(client.clone());
        let config = watcher::Config::default().labels("app.kubernetes.io/managed-by=concejo");
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                let mut events = watcher::watcher(api, config).boxed();
                while let Some(event) = events.next().await {
                    if let Ok(Event::Apply(s) | Event::InitApply(s)) = event {
                        seen.saw(&s);
                    }
                }
            }
        });
        (seen, task)
    }

    fn saw(&self, secret: &Secret) {
        let name = secret.name_any();
        let content = match name.as_str() {
            "tenant-tls" => secret.data.as_ref().and_then(|d| d.get("tls.crt")).map(|c| c.0.clone()),
            n if n.starts_with("concejo-ca-") => {
                secret.data.as_ref().map(|d| serde_json::to_vec(d).unwrap_or_default())
            }
            _ => None,
        };
        let Some(content) = content.filter(|c| !c.is_empty()) else { return };
        let key = format!("{}/{name}", secret.namespace().unwrap_or_default());
        let mut seen = self.0.lock().expect("not poisoned");
        let entry = seen.entry(key).or_default();
        entry.0.insert(concejo::domain::hash::fnv1a(&content));
        entry.1.insert(secret.uid().unwrap_or_default());
    }

    fn of(&self, key: &str) -> (usize, usize) {
        self.0.lock().expect("not poisoned").get(key).map(|(c, u)| (c.len(), u.len())).unwrap_or((0, 0))
    }
}

#[tokio::test]
async fn the_operator_killed_at_random_moments_loses_nothing_and_repeats_nothing() -> anyhow::Result<()> {
    let scale = Scale::from_env();
    println!("seed {} (CONCEJO_FAULTS_SEED={} repeats these moments); {} kills", scale.seed, scale.seed, scale.kills);
    let client = leon().await?;
    // Who is onboarded under fire, and two tenants onboarded afterwards by one undisturbed
    // operator: what a tenant with and one without the suite must have.
    let (province, tenants) =
        if scale.full { ("leon", leon_examples()?) } else { (ZAMORA, zamora(0..20, |i| i % 5 == 0)?) };
    let control = zamora(40..42, |i| i == 40)?;
    let names: BTreeSet<String> = tenants.iter().map(|m| m.name_any()).collect();
    let everyone: BTreeSet<String> = names.iter().cloned().chain(control.iter().map(|m| m.name_any())).collect();
    remove_all(&client, &everyone, scale.settle, false).await?;
    fresh_zamora(&client).await?;
    if scale.full {
        // León's CA made again during the run (León's tenants are gone: none is re-issued).
        delete_if_present(&Api::<Secret>::namespaced(client.clone(), "default"), "concejo-ca-leon").await?;
    }
    let suite: BTreeSet<String> =
        tenants.iter().filter(|m| m.spec.collaboration.enabled).map(|m| m.spec.ine_code.clone()).collect();
    println!("{} tenants of {province}, {} with the suite", tenants.len(), suite.len());

    let since = Timestamp::now();
    let logs = std::env::temp_dir().join(format!("concejo-faults-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    let (certificates, watching) = Certificates::watch(&client);
    let munis = Api::<Municipality>::all(client.clone());
    let (first, second) = tenants.split_at(tenants.len() / 2);
    for m in first {
        create(&munis, m).await?;
    }
    let mut random = Random::new(scale.seed);
    let chaos = Instant::now();
    for i in 0..scale.kills {
        let log_file = Some(logs.join(format!("run-{i:02}.jsonl")));
        let operator =
            Operator::start_with(OperatorOptions { wait_ready: false, log_file, ..Default::default() }).await?;
        let after = random.between(scale.run_ms);
        tokio::time::sleep(Duration::from_millis(after)).await;
        operator.kill().await?;
        let ready = ready_count(&client, &names).await?;
        println!("kill {:2}: SIGKILL after {after:5} ms; {ready} of {} Ready", i + 1, tenants.len());
        if i == 0 {
            // The second half arrives while the operator is being killed.
            for m in second {
                create(&munis, m).await?;
            }
        }
    }
    println!("{} kills in {:?}", scale.kills, chaos.elapsed());

    let last =
        Operator::start_with(OperatorOptions { log_file: Some(logs.join("last.jsonl")), ..Default::default() }).await?;
    for m in &control {
        create(&munis, m).await?;
    }
    let took = all_ready(&client, &everyone, scale.settle).await?;
    println!("all {} Ready {took:?} after the last operator started", everyone.len());
    if let Err(e) = settled(&last, "concejo_api_writes_total", Duration::from_secs(3)).await {
        println!("writes had not settled ({e}); the inventory is taken anyway");
    }

    // Every object concejo manages, per tenant, against the control tenants'.
    let (shapes, strays) = inventory(&client).await?;
    ensure!(strays.is_empty(), "objects in tenant namespaces no builder makes: {strays:?}");
    let code_of = |m: &Municipality| m.spec.ine_code.clone();
    let with_suite = shapes.get(&code_of(&control[0])).cloned().context("the control tenant with the suite")?;
    let without = shapes.get(&code_of(&control[1])).cloned().context("the control tenant without the suite")?;
    ensure!(with_suite.len() > without.len(), "the suite adds objects: {with_suite:?}");
    let mut wrong = Vec::new();
    for m in &tenants {
        let expected = if suite.contains(&code_of(m)) { &with_suite } else { &without };
        let actual = shapes.get(&code_of(m)).cloned().unwrap_or_default();
        if &actual != expected {
            let missing: Vec<_> = expected.keys().filter(|k| actual.get(*k) != expected.get(*k)).collect();
            let extra: Vec<_> = actual.keys().filter(|k| actual.get(*k) != expected.get(*k)).collect();
            wrong.push(format!("{}: missing or miscounted {missing:?}, extra or miscounted {extra:?}", m.name_any()));
        }
    }
    // Tenants' objects carry their 5-digit code; the province's own (its backup repository) its 2.
    let codes: BTreeSet<String> = tenants.iter().chain(&control).map(code_of).collect();
    let prefixes = [tenants[0].spec.ine_code[..2].to_owned(), "49".to_owned()];
    // A deleted tenant's escrowed backup key stays on purpose: its snapshots stay in the bucket
    // (docs/backups.md); anything else of a tenant that is gone is a leak.
    let escrow = ("Secret".to_owned(), "default".to_owned(), "backup-key-{ine}".to_owned());
    let leaked: Vec<_> = shapes
        .iter()
        .filter(|(c, _)| c.len() == 5 && prefixes.iter().any(|p| c.starts_with(p.as_str())) && !codes.contains(*c))
        .filter(|(_, shape)| shape.keys().any(|k| *k != escrow))
        .map(|(c, shape)| format!("{c}: {shape:?}"))
        .collect();
    let objects: usize = tenants.iter().map(|m| shapes.get(&code_of(m)).map_or(0, |s| s.values().sum::<usize>())).sum();
    println!(
        "inventory: {objects} managed objects for {} tenants ({} kinds/names with the suite, {} without), {} wrong, {} leaked",
        tenants.len(),
        with_suite.len(),
        without.len(),
        wrong.len(),
        leaked.len()
    );
    ensure!(wrong.is_empty(), "tenants whose objects differ from an undisturbed onboarding: {wrong:#?}");
    ensure!(leaked.is_empty(), "objects of tenants that do not exist: {leaked:?}");

    // Made once: the CA and every tenant certificate, as watched and as the audit log says.
    let writes = concejo_writes(since)?;
    let mut created: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for w in writes.iter().filter(|w| w.code == 201) {
        *created.entry((w.resource.clone(), w.namespace.clone(), w.name.clone())).or_default() += 1;
    }
    let twice: Vec<_> = created.iter().filter(|(_, n)| **n > 1).collect();
    let ca = format!("default/concejo-ca-{province}");
    let key = |ns: &str, name: &str| ("secrets".to_owned(), ns.to_owned(), name.to_owned());
    let ca_created = created.get(&key("default", &format!("concejo-ca-{province}"))).copied();
    let (ca_contents, ca_uids) = certificates.of(&ca);
    let mut reissued = Vec::new();
    let mut tls_created = 0;
    for m in &tenants {
        let ns = format!("muni-{}", m.spec.ine_code);
        let (contents, uids) = certificates.of(&format!("{ns}/tenant-tls"));
        let made = created.get(&key(&ns, "tenant-tls")).copied().unwrap_or(0);
        tls_created += made;
        if contents != 1 || uids != 1 || made != 1 {
            reissued.push(format!("{ns}: {contents} certificates, {uids} uids, created {made} times"));
        }
    }
    watching.abort();
    println!(
        "audit log: {} writes by concejo, {} creates ({} objects created more than once); CA {ca}: created {:?} times, \
         {ca_contents} content(s), {ca_uids} uid(s); tenant-tls: {tls_created} creates for {} tenants, {} re-issued",
        writes.len(),
        created.values().sum::<usize>(),
        twice.len(),
        ca_created,
        tenants.len(),
        reissued.len()
    );
    let mut actions = BTreeMap::<String, usize>::new();
    for entry in std::fs::read_dir(&logs)? {
        for (a, n) in activity_actions(&entry?.path())? {
            *actions.entry(a).or_default() += n;
        }
    }
    println!("activity log ({}): {actions:?}", logs.display());
    ensure!(twice.is_empty(), "objects created more than once: {twice:?}");
    ensure!(ca_created == Some(1) && ca_contents == 1 && ca_uids == 1, "the CA was made more than once");
    ensure!(reissued.is_empty(), "tenant certificates issued more than once: {reissued:#?}");

    remove_all(&client, &everyone, scale.settle, true).await?;
    drop(last);
    remove_province(&client, ZAMORA).await?;
    Ok(())
}

/// Stops `component`, sees `/readyz` go 503 (and `/livez` stay 200), keeps it down for `down`,
/// starts it again (always, so the cluster is left working), and sees `/readyz` 200 again.
/// Returns (time from the stop command to 503, the reason, time to 200 after the start).
async fn outage(operator: &Operator, component: &str, down: Duration) -> anyhow::Result<(Duration, String, Duration)> {
    let stopped = Instant::now();
    cluster(&["stop", component])?;
    let while_down = async {
        let reason = std::cell::RefCell::new(String::new());
        let said = &reason;
        until("/readyz says 503", Duration::from_secs(30), || async move {
            let (code, body) = operator.get("/readyz").await?;
            *said.borrow_mut() = body.trim().to_owned();
            Ok(code == 503)
        })
        .await?;
        let reason = reason.into_inner();
        // From the stop command (a graceful shutdown of the API server takes about 10 s).
        let to_503 = stopped.elapsed();
        let (livez, _) = operator.get("/livez").await?;
        ensure!(livez == 200, "/livez said {livez} while {component} was down");
        tokio::time::sleep_until(stopped + down).await;
        Ok::<_, anyhow::Error>((to_503, reason))
    }
    .await;
    cluster(&["start", component])?;
    let started = Instant::now();
    let (to_503, reason) = while_down?;
    until("/readyz says 200 again", Duration::from_secs(90), || async {
        Ok(operator.get("/readyz").await.is_ok_and(|(code, _)| code == 200))
    })
    .await?;
    Ok((to_503, reason, started.elapsed()))
}

#[tokio::test]
async fn etcd_and_the_api_server_restarted_under_concejo_it_recovers_by_itself() -> anyhow::Result<()> {
    let scale = Scale::from_env();
    let client = leon().await?;
    let tenants = zamora(20..22, |_| false)?;
    let names: BTreeSet<String> = tenants.iter().map(|m| m.name_any()).collect();
    remove_all(&client, &names, scale.settle, false).await?;
    fresh_zamora(&client).await?;
    let mut operator = Operator::start().await?;
    let munis = Api::<Municipality>::all(client.clone());
    for m in &tenants {
        create(&munis, m).await?;
    }
    all_ready(&client, &names, Duration::from_secs(60)).await?;
    let pid = operator.pid();
    let ns = format!("muni-{}", tenants[0].spec.ine_code);
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), &ns);
    for component in ["kube-apiserver", "etcd"] {
        let (to_503, reason, to_200) = outage(&operator, component, scale.outage).await?;
        ensure!(operator.exited()?.is_none() && operator.pid() == pid, "the operator restarted");
        // The same process notices a change again: the quota, deleted, is put back.
        let before = quotas.get(concejo::resources::quota::NAME).await?.uid();
        quotas.delete(concejo::resources::quota::NAME, &DeleteParams::default()).await?;
        let back = until("the quota is put back", Duration::from_secs(60), || async {
            Ok(quotas.get_opt(concejo::resources::quota::NAME).await?.is_some_and(|q| q.uid() != before))
        })
        .await?;
        println!(
            "{component} down {:?}: /readyz 503 after {to_503:?} ({reason}), /livez 200; 200 again {to_200:?} after \
             the start; same pid {pid:?}; a deleted quota put back in {back:?}",
            scale.outage
        );
    }
    ensure!(ready_count(&client, &names).await? == names.len(), "a tenant is no longer Ready");
    remove_all(&client, &names, scale.settle, true).await?;
    drop(operator);
    remove_province(&client, ZAMORA).await?;
    Ok(())
}

#[tokio::test]
async fn the_standby_takes_over_within_the_lease_and_never_writes_with_the_leader() -> anyhow::Result<()> {
    let scale = Scale::from_env();
    let client = leon().await?;
    let (first, second) = (zamora(22..30, |_| false)?, zamora(30..38, |_| false)?);
    let names = |ms: &[Municipality]| ms.iter().map(|m| m.name_any()).collect::<BTreeSet<String>>();
    let everyone: BTreeSet<String> = names(&first).into_iter().chain(names(&second)).collect();
    remove_all(&client, &everyone, scale.settle, false).await?;
    fresh_zamora(&client).await?;

    let lease_duration = 6;
    let run = std::process::id();
    let lease = format!("faults-failover-{run}");
    let logs = std::env::temp_dir().join(format!("concejo-faults-{run}"));
    std::fs::create_dir_all(&logs)?;
    let options = |who: &str, wait_ready| OperatorOptions {
        lease: lease.clone(),
        identity: format!("faults-{who}-{run}"),
        lease_duration,
        wait_ready,
        log_file: Some(logs.join(format!("replica-{who}.jsonl"))),
        ..OperatorOptions::default()
    };
    let (a, b, c) = (format!("faults-a-{run}"), format!("faults-b-{run}"), format!("faults-c-{run}"));
    let leases = Api::<Lease>::namespaced(client.clone(), "default");
    let holder = || async {
        Ok::<_, anyhow::Error>(leases.get(&lease).await?.spec.and_then(|s| s.holder_identity).unwrap_or_default())
    };
    let munis = Api::<Municipality>::all(client.clone());
    let since = Timestamp::now();

    // The leader killed under load.
    let leader = Operator::start_with(options("a", true)).await?;
    let standby = Operator::start_with(options("b", true)).await?;
    ensure!(holder().await? == a, "a leads");
    for m in &first {
        create(&munis, m).await?;
    }
    until("the leader has onboarded a tenant", Duration::from_secs(60), || async {
        Ok(ready_count(&client, &names(&first)).await? >= 1)
    })
    .await?;
    // Under heavy load a short lease can be lost before the kill (the renewal came too late):
    // then there is no leader to kill, and b's takeover was not timed from a kill.
    ensure!(holder().await? == a, "a lost the Lease before it was killed");
    let killed = Timestamp::now();
    leader.kill().await?;
    let took_lease = until("b holds the Lease", Duration::from_secs(30), || async { Ok(holder().await? == b) }).await?;
    all_ready(&client, &names(&first), Duration::from_secs(90)).await?;
    let writes = concejo_writes(since)?;
    let last_of_a = writes.iter().filter(|w| by(w, &a)).map(|w| w.at).max().context("no write by a")?;
    let first_of_b = writes.iter().filter(|w| by(w, &b)).map(|w| w.at).min().context("no write by b")?;
    let (activity_a, activity_b) =
        (activity_times(&logs.join("replica-a.jsonl"))?, activity_times(&logs.join("replica-b.jsonl"))?);
    let takeover = first_of_b.duration_since(killed);
    println!(
        "failover: lease {lease_duration}s; b held the Lease {took_lease:?} after a was killed, first write by b {:.2}s after \
         the kill; a's last write {:.2}s before b's first (audit: {} writes by a, {} by b; activity log: a's last {:?}, b's first {:?})",
        takeover.as_secs_f64(),
        first_of_b.duration_since(last_of_a).as_secs_f64(),
        writes.iter().filter(|w| by(w, &a)).count(),
        writes.iter().filter(|w| by(w, &b)).count(),
        activity_a.last(),
        activity_b.first()
    );
    ensure!(last_of_a < first_of_b, "b wrote before a's last write");
    ensure!(activity_a.last() < activity_b.first(), "the activity logs overlap");
    ensure!(took_lease <= Duration::from_secs(lease_duration + 3), "b took {took_lease:?} to hold the Lease");
    ensure!(takeover.as_secs_f64() <= (lease_duration + 15) as f64, "b's first write came {takeover:?} after the kill");

    // The new leader paused under load until a third replica took over, then resumed.
    let mut paused = standby;
    let third = Operator::start_with(options("c", true)).await?;
    for m in &second {
        create(&munis, m).await?;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped = Timestamp::now();
    paused.signal("STOP")?;
    let result = async {
        let took = until("c holds the Lease", Duration::from_secs(30), || async { Ok(holder().await? == c) }).await?;
        all_ready(&client, &names(&second), Duration::from_secs(90)).await?;
        Ok::<_, anyhow::Error>(took)
    }
    .await;
    paused.signal("CONT")?;
    let resumed = Timestamp::now();
    let took = result?;
    // What b had in hand when it stopped, it tries now; it must not get through. Meanwhile c
    // keeps working: a change for it to put back.
    let ns = format!("muni-{}", second[0].spec.ine_code);
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), &ns);
    quotas.delete(concejo::resources::quota::NAME, &DeleteParams::default()).await?;
    until("c puts the quota back", Duration::from_secs(30), || async {
        Ok(quotas.get_opt(concejo::resources::quota::NAME).await?.is_some())
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(lease_duration + 2)).await;
    let exited = paused.exited()?;
    let writes = concejo_writes(since)?;
    let first_of_c = writes.iter().filter(|w| by(w, &c)).map(|w| w.at).min().context("no write by c")?;
    let late: Vec<&Write> = writes.iter().filter(|w| by(w, &b) && w.at >= first_of_c).collect();
    let of_b_while_paused = writes.iter().filter(|w| by(w, &b) && w.at >= stopped).count();
    let log_b = std::fs::read_to_string(logs.join("replica-b.jsonl"))?;
    let refused = log_b.matches("write refused").count();
    println!(
        "pause: b stopped for {:.2}s, c held the Lease {took:?} after the stop; writes by b received after the stop: \
         {of_b_while_paused}, after c's first write: {}; refused by b's fence after it resumed: {refused} log lines; b then {}",
        resumed.duration_since(stopped).as_secs_f64(),
        late.len(),
        match exited {
            Some(status) => format!("exited ({status})"),
            None => "was still running".into(),
        }
    );
    if !late.is_empty() {
        bail!("the paused leader wrote after the new leader's first write: {late:#?}");
    }
    drop(paused);
    remove_all(&client, &everyone, scale.settle, true).await?;
    drop(third);
    remove_province(&client, ZAMORA).await?;
    Ok(())
}
