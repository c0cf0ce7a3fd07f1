//! The bad-input corpus (`corpus/*.yaml`): every malformed or hostile object is refused, by the
//! API server (its answer says what is wrong) or by concejo (`Valid=False` with a reason, a
//! message and a Warning Event), the words recorded next to each object; a Municipality refused
//! as a new object is refused the same as an edit of a Ready tenant, which keeps running; and at
//! the end the operator never panicked and no tenant namespace was deleted.
//!
//! The objects are sent as `kubectl apply --server-side` sends them: YAML, server-side apply,
//! strict field validation (so duplicate and unknown keys are refused too).

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use concejo::api::v1alpha1::{Municipality, Phase};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};
use serde::Deserialize;
use support::*;

/// The field manager of every corpus apply (and of the setup's objects, so an edit replaces them).
const MANAGER: &str = "concejo-e2e-corpus";
/// The Ready tenant that edits are applied to.
const READY: &str = "corpus-ready";
const READY_CODE: &str = "24187";
/// The most an answer of the API server may take (a quantity parser stalled on an exponent
/// would take minutes: kubernetes#141306).
const ANSWER: Duration = Duration::from_secs(5);

/// One corpus file.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    about: String,
    /// `apply` (the default) or `delete` (the object is deleted under `tenant`).
    #[serde(default)]
    action: Option<String>,
    /// `apiServer` or `concejo`.
    refused_by: String,
    /// concejo's reason (the `Valid` condition's and the Warning Event's).
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    /// A Municipality is also applied as an edit of the Ready tenant unless this is false.
    #[serde(default)]
    edit: Option<bool>,
    /// Words the refusal must contain.
    says: Vec<String>,
    /// The object, as YAML text (it may hold what no Rust type can, such as duplicate keys).
    object: String,
}

/// Kind, name and namespace of an object's text, read line by line (it may not parse).
fn target(object: &str) -> anyhow::Result<(String, String, Option<String>)> {
    let field = |prefix: &str| object.lines().find_map(|l| l.strip_prefix(prefix)).map(|v| v.trim().to_owned());
    let kind = field("kind: ").context("no kind")?;
    let name = field("  name: ").context("no metadata.name")?;
    Ok((kind, name, field("  namespace: ")))
}

fn plural(kind: &str) -> anyhow::Result<&'static str> {
    Ok(match kind {
        "Municipality" => "municipalities",
        "Province" => "provinces",
        "ServicePlan" => "serviceplans",
        "Restore" => "restores",
        "Backup" => "backups",
        other => bail!("no corpus kind {other}"),
    })
}

/// The path of an object, its name percent-encoded (names in the corpus need not be ASCII).
fn path(object: &str) -> anyhow::Result<String> {
    let (kind, name, namespace) = target(object)?;
    let name: String = name
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let namespace = namespace.map(|ns| format!("namespaces/{ns}/")).unwrap_or_default();
    Ok(format!("/apis/concejo.dev/v1alpha1/{namespace}{}/{name}", plural(&kind)?))
}

/// Server-side apply of YAML text with strict field validation, as `kubectl apply --server-side`.
async fn apply_text(client: &Client, object: &str) -> anyhow::Result<Result<(), String>> {
    let uri = format!("{}?fieldManager={MANAGER}&fieldValidation=Strict&force=true", path(object)?);
    let request = http::Request::patch(uri)
        .header("Content-Type", "application/apply-patch+yaml")
        .body(object.as_bytes().to_vec())?;
    let started = Instant::now();
    let answer = tokio::time::timeout(ANSWER * 2, client.request_text(request))
        .await
        .with_context(|| format!("the API server did not answer within {:?}", ANSWER * 2))?;
    ensure!(started.elapsed() < ANSWER, "the API server took {:?} to answer", started.elapsed());
    Ok(match answer {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(status.message.clone()),
        Err(other) => return Err(other.into()),
    })
}

async fn delete_text(client: &Client, object: &str) -> anyhow::Result<()> {
    let request = http::Request::delete(path(object)?).body(vec![])?;
    match client.request_text(request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// The same Municipality as an edit of the Ready tenant: its name and INE code.
fn as_edit(object: &str) -> String {
    object
        .lines()
        .map(|l| {
            if l.starts_with("  name: ") {
                format!("  name: {READY}")
            } else if l.starts_with("  ineCode: \"") && l.len() == "  ineCode: \"24187\"".len() {
                format!("  ineCode: \"{READY_CODE}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn municipality_text(name: &str, province: &str, code: &str, extra: &str) -> String {
    format!(
        "apiVersion: concejo.dev/v1alpha1\nkind: Municipality\nmetadata:\n  name: {name}\nspec:\n  province: {province}\n  \
         ineCode: \"{code}\"\n  displayName: Corpus\n  deletionPolicy: Delete\n{extra}"
    )
}

/// The setup's Province without SARA, the plan without a suite, and a Restore to change.
fn setup_objects() -> [String; 2] {
    [
        "apiVersion: concejo.dev/v1alpha1\nkind: Province\nmetadata:\n  name: salamanca\nspec:\n  ineCode: \"37\"\n  \
         displayName: Corpus\n  baseDomain: nube.dipusalamanca.es\n  defaultPlan: town\n"
            .to_owned(),
        "apiVersion: concejo.dev/v1alpha1\nkind: ServicePlan\nmetadata:\n  name: corpus-plan\nspec:\n  quota:\n    \
         cpu: \"4\"\n    memory: 8Gi\n    pods: 40\n  limitRange:\n    defaultCpu: 250m\n    defaultMemory: 256Mi\n    \
         maxCpu: \"2\"\n    maxMemory: 4Gi\n"
            .to_owned(),
    ]
}

/// The setup's tenants: (name, INE code, the text applied).
fn tenants() -> [(&'static str, &'static str, String); 3] {
    [
        (READY, READY_CODE, municipality_text(READY, "leon", READY_CODE, "")),
        (
            "corpus-plan-tenant",
            "24189",
            municipality_text("corpus-plan-tenant", "leon", "24189", "  plan: corpus-plan\n"),
        ),
        ("corpus-salamanca", "37274", municipality_text("corpus-salamanca", "salamanca", "37274", "")),
    ]
}

/// Objects close to the corpus's but valid: IPv6 ranges, a /8 of SARA, fractions and exponents,
/// ASCII subjects with the characters OIDC and LDAP names use.
fn accepted_controls() -> [String; 3] {
    [
        municipality_text(
            READY,
            "leon",
            READY_CODE,
            "  population: 119000\n  admins:\n  - {kind: Group, name: \"oidc:leon-admins\"}\n  \
             - {kind: User, name: maria.garcia@aytoleon.es}\n  auditors:\n  - {kind: Group, name: \"cn=Auditoria Leon,ou=grupos\"}\n  \
             domains: [nube.aytoleon.es, xn--len-8ma.example.es]\n  network:\n    egress:\n    - {cidr: 10.20.0.0/16}\n    \
             - {cidr: \"2001:db8::/48\", ports: [443]}\n    - {cidr: 192.0.2.10/32, ports: [443, 8443]}\n",
        ),
        "apiVersion: concejo.dev/v1alpha1\nkind: Province\nmetadata:\n  name: salamanca\nspec:\n  ineCode: \"37\"\n  \
         displayName: Corpus\n  baseDomain: nube.dipusalamanca.es\n  defaultPlan: town\n  network:\n    sara:\n      \
         cidrs: [10.0.0.0/8, 10.252.0.0/16, \"2001:db8::/32\"]\n      resolver: 10.252.0.53\n"
            .to_owned(),
        "apiVersion: concejo.dev/v1alpha1\nkind: ServicePlan\nmetadata:\n  name: corpus-plan\nspec:\n  quota:\n    \
         cpu: \"1.5e3\"\n    memory: 8192Mi\n    storage: 0.5Ti\n    pods: 40\n  limitRange:\n    defaultCpu: \"0.25\"\n    \
         defaultMemory: 256Mi\n    maxCpu: 2000m\n    maxMemory: 4Gi\n"
            .to_owned(),
    ]
}

const RESTORE: &str = "apiVersion: concejo.dev/v1alpha1\nkind: Restore\nmetadata:\n  name: corpus-restore\n  \
                       namespace: muni-24187\nspec:\n  snapshot: latest\n  target: NewVolume\n";

/// Waits until the Municipality's status describes its current generation and `Valid` has
/// this status (and, when false, this reason).
async fn judged(
    munis: &Api<Municipality>,
    name: &str,
    valid: &'static str,
    reason: Option<&str>,
) -> anyhow::Result<Municipality> {
    let reason = reason.map(str::to_owned);
    wait(munis, name, move |m: Option<&Municipality>| {
        m.is_some_and(|m| {
            let status = m.status.as_ref();
            status.and_then(|s| s.observed_generation) == m.metadata.generation
                && status.is_some_and(|s| {
                    s.conditions.iter().any(|c| {
                        c.type_ == "Valid" && c.status == valid && reason.as_ref().is_none_or(|r| *r == c.reason)
                    })
                })
        })
    })
    .await
}

async fn ready(munis: &Api<Municipality>, name: &str) -> anyhow::Result<()> {
    judged(munis, name, "True", None).await?;
    wait(munis, name, has_condition("Ready", "True")).await?;
    Ok(())
}

/// A Warning Event with this reason, saying `words`, regards the Municipality.
async fn warned(client: &Client, name: &str, reason: &str, words: &str) -> anyhow::Result<()> {
    eventually(&format!("a Warning Event {reason} about {name} says {words:?}"), || async {
        Ok(events_about(client, "Municipality", name).await?.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some(reason)
                && e.note.as_deref().is_some_and(|n| n.contains(words))
        }))
    })
    .await?;
    Ok(())
}

fn says_all(text: &str, words: &[String]) -> Result<(), String> {
    match words.iter().find(|w| !text.contains(w.as_str())) {
        Some(missing) => Err(format!("does not say {missing:?}: {text}")),
        None => Ok(()),
    }
}

/// The concejo namespaces that exist now, by name, with their uid.
async fn tenant_namespaces(client: &Client) -> anyhow::Result<BTreeMap<String, String>> {
    let list = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=concejo"))
        .await?;
    Ok(list
        .items
        .iter()
        .filter(|n| n.name_any().starts_with("muni-"))
        .map(|n| (n.name_any(), n.uid().unwrap_or_default()))
        .collect())
}

#[tokio::test]
async fn every_corpus_object_is_refused_and_no_tenant_is_torn_down() -> anyhow::Result<()> {
    let started = Instant::now();
    let client = leon().await?;
    let log = std::env::temp_dir().join(format!("concejo-bad-input-{}.log", std::process::id()));
    let operator = Operator::start_with(OperatorOptions { log_file: Some(log.clone()), ..Default::default() }).await?;
    let munis = Api::<Municipality>::all(client.clone());

    let mut items = vec![];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.sort();
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
        let text = std::fs::read_to_string(file)?;
        let item: Item = serde_saphyr::from_str(&text).with_context(|| format!("reading {}", file.display()))?;
        items.push((file.file_name().unwrap().to_string_lossy().into_owned(), item));
    }
    ensure!(items.len() >= 50, "the corpus holds {} objects, fewer than 50", items.len());

    // Setup: the Ready tenants the edits and deletions are tried on.
    for (name, ..) in tenants() {
        delete_municipality(&client, name).await?;
    }
    for object in setup_objects() {
        apply_text(&client, &object).await?.map_err(anyhow::Error::msg)?;
    }
    for (_, _, text) in tenants() {
        apply_text(&client, &text).await?.map_err(anyhow::Error::msg)?;
    }
    for (name, ..) in tenants() {
        ready(&munis, name).await?;
    }
    delete_text(&client, RESTORE).await?;
    apply_text(&client, RESTORE).await?.map_err(anyhow::Error::msg)?;
    let before = tenant_namespaces(&client).await?;
    println!("setup: {:?}", started.elapsed());

    // Controls: what is near the refused values but fine is accepted, and the tenant Ready.
    for control in accepted_controls() {
        if let Err(message) = apply_text(&client, &control).await? {
            bail!("a control object was refused: {message}\n{control}");
        }
    }
    for (name, ..) in tenants() {
        ready(&munis, name).await?;
    }
    for object in setup_objects() {
        apply_text(&client, &object).await?.map_err(anyhow::Error::msg)?;
    }
    apply_text(&client, &tenants()[0].2).await?.map_err(anyhow::Error::msg)?;
    ready(&munis, READY).await?;

    let mut failures = vec![];
    let mut fail = |file: &str, about: &str, why: String| failures.push(format!("{file} ({about}): {why}"));
    let (mut by_api, mut by_concejo, mut edits) = (0, 0, 0);
    let mut created = vec![];

    // Everything the API server must refuse, as sent, and Municipalities also as edits.
    for (file, item) in items.iter().filter(|(_, i)| i.refused_by == "apiServer") {
        by_api += 1;
        let (kind, name, _) = target(&item.object)?;
        let mut tries = vec![(item.object.clone(), "")];
        let generated = name.starts_with("corpus-api-");
        if kind == "Municipality" && generated && item.edit != Some(false) {
            tries.push((as_edit(&item.object), " as an edit"));
            edits += 1;
        }
        for (object, how) in tries {
            match apply_text(&client, &object).await {
                Ok(Ok(())) => {
                    fail(file, &item.about, format!("accepted{how}"));
                    if how.is_empty() {
                        delete_text(&client, &object).await?;
                    }
                }
                Ok(Err(message)) => {
                    if let Err(why) = says_all(&message, &item.says) {
                        fail(file, &item.about, format!("refused{how}, but the answer {why}"));
                    }
                }
                Err(err) => fail(file, &item.about, format!("{err:#}")),
            }
        }
    }
    println!("API server: {by_api} objects, {edits} of them also as edits, {:?}", started.elapsed());

    // What concejo must refuse: created all at once, then judged one by one.
    let refused_by_concejo: Vec<_> =
        items.iter().filter(|(_, i)| i.refused_by == "concejo" && i.action.as_deref() != Some("delete")).collect();
    for (file, item) in &refused_by_concejo {
        let (_, name, _) = target(&item.object)?;
        delete_municipality(&client, &name).await?;
        match apply_text(&client, &item.object).await? {
            Ok(()) => created.push(name),
            Err(message) => fail(file, &item.about, format!("refused by the API server, not concejo: {message}")),
        }
    }
    for (file, item) in &refused_by_concejo {
        by_concejo += 1;
        let (_, name, _) = target(&item.object)?;
        let reason = item.reason.as_deref().context("a concejo item without a reason")?;
        let m = match judged(&munis, &name, "False", Some(reason)).await {
            Ok(m) => m,
            Err(err) => {
                fail(file, &item.about, format!("no Valid=False {reason}: {err:#}"));
                continue;
            }
        };
        let status = m.status.clone().unwrap_or_default();
        if let Err(why) = says_all(&message(&m, "Valid").unwrap_or_default(), &item.says) {
            fail(file, &item.about, format!("Valid=False {reason}, but its message {why}"));
        }
        if status.namespace.is_some() || status.phase != Some(Phase::Pending) {
            fail(file, &item.about, format!("provisioned anyway: {:?} {:?}", status.phase, status.namespace));
        }
        if let Err(err) = warned(&client, &name, reason, &item.says[0]).await {
            fail(file, &item.about, format!("{err:#}"));
        }
    }
    // The same as edits of the Ready tenant: refused, the tenant kept as it was, then put back.
    let ready_ns = before.get(&format!("muni-{READY_CODE}")).cloned().context("the Ready tenant has no namespace")?;
    for (file, item) in refused_by_concejo.iter().filter(|(_, i)| i.edit != Some(false)) {
        edits += 1;
        let reason = item.reason.as_deref().unwrap_or_default();
        if let Err(message) = apply_text(&client, &as_edit(&item.object)).await? {
            fail(file, &item.about, format!("as an edit, refused by the API server, not concejo: {message}"));
            continue;
        }
        match judged(&munis, READY, "False", Some(reason)).await {
            Err(err) => fail(file, &item.about, format!("as an edit, no Valid=False {reason}: {err:#}")),
            Ok(m) => {
                let status = m.status.clone().unwrap_or_default();
                if let Err(why) = says_all(&message(&m, "Valid").unwrap_or_default(), &item.says) {
                    fail(file, &item.about, format!("as an edit, its message {why}"));
                }
                let isolated = status.conditions.iter().any(|c| c.type_ == "Isolated" && c.status == "True");
                if status.phase != Some(Phase::Degraded) || !isolated {
                    fail(
                        file,
                        &item.about,
                        format!("as an edit, the tenant is {:?}, isolated {isolated}", status.phase),
                    );
                }
                if let Err(err) = warned(&client, READY, reason, &item.says[0]).await {
                    fail(file, &item.about, format!("as an edit: {err:#}"));
                }
            }
        }
        let now = tenant_namespaces(&client).await?;
        if now.get(&format!("muni-{READY_CODE}")) != Some(&ready_ns) {
            fail(file, &item.about, "as an edit, the tenant's namespace was replaced or deleted".into());
        }
        apply_text(&client, &tenants()[0].2).await?.map_err(anyhow::Error::msg)?;
        ready(&munis, READY).await?;
    }
    println!("concejo: {by_concejo} objects, {edits} edits in all, {:?}", started.elapsed());

    // A Province and a ServicePlan deleted under their tenants: the tenants stay, Degraded.
    for (file, item) in items.iter().filter(|(_, i)| i.action.as_deref() == Some("delete")) {
        by_concejo += 1;
        let tenant = item.tenant.as_deref().context("a deletion without its tenant")?;
        let reason = item.reason.as_deref().context("a deletion without a reason")?;
        let code = tenants().into_iter().find(|(n, ..)| *n == tenant).context("not a setup tenant")?.1;
        let namespace = format!("muni-{code}");
        delete_text(&client, &item.object).await?;
        match judged(&munis, tenant, "False", Some(reason)).await {
            Err(err) => fail(file, &item.about, format!("no Valid=False {reason}: {err:#}")),
            Ok(m) => {
                if let Err(why) = says_all(&message(&m, "Valid").unwrap_or_default(), &item.says) {
                    fail(file, &item.about, format!("its message {why}"));
                }
                let phase = m.status.as_ref().and_then(|s| s.phase);
                if phase != Some(Phase::Degraded) {
                    fail(file, &item.about, format!("the tenant is {phase:?}, not Degraded"));
                }
                if let Err(err) = warned(&client, tenant, reason, &item.says[0]).await {
                    fail(file, &item.about, format!("{err:#}"));
                }
            }
        }
        let ns = Api::<Namespace>::all(client.clone()).get(&namespace).await?;
        if Some(ns.uid().unwrap_or_default()) != before.get(&namespace).cloned()
            || ns.metadata.deletion_timestamp.is_some()
        {
            fail(file, &item.about, format!("namespace {namespace} was deleted or replaced"));
        }
        apply_text(&client, &item.object).await?.map_err(anyhow::Error::msg)?;
        ready(&munis, tenant).await?;
    }
    println!("deletions done, {:?}", started.elapsed());

    // Nothing torn down, nothing panicked.
    let after = tenant_namespaces(&client).await?;
    for (ns, uid) in &before {
        if after.get(ns) != Some(uid) {
            failures.push(format!("tenant namespace {ns} was deleted or replaced"));
        }
    }
    let (code, _) = operator.get("/livez").await.context("the operator does not answer /livez")?;
    ensure!(code == 200, "/livez says {code}");
    let stderr = std::fs::read_to_string(&log)?;
    ensure!(!stderr.contains("panicked"), "the operator panicked: {stderr}");

    delete_text(&client, RESTORE).await?;
    let names: Vec<String> = created.iter().cloned().chain(tenants().iter().map(|(n, ..)| n.to_string())).collect();
    for name in &names {
        munis.delete(name, &DeleteParams::default()).await.ok(); // already gone is as good
    }
    for name in &names {
        wait_deleted(&munis, name).await?;
    }
    for object in setup_objects() {
        delete_text(&client, &object).await?;
    }
    remove_province(&client, "salamanca").await?;
    println!(
        "{} objects: {by_api} refused by the API server, {by_concejo} by concejo; {edits} also as edits of a Ready tenant; \
         {} failures; {:?}",
        items.len(),
        failures.len(),
        started.elapsed()
    );
    ensure!(
        failures.is_empty(),
        "{} of {} corpus objects were not refused as recorded:\n{}",
        failures.len(),
        items.len(),
        failures.join("\n")
    );
    Ok(())
}
