//! `make bench`: how long the provincial PKI takes for all 211 León tenants. Results go to
//! docs/benchmarks.md with the machine they were measured on.

use std::time::Instant;

use concejo::api::v1alpha1::KeyAlgorithm;
use concejo::domain::identifiers::municipalities_of;
use concejo::domain::naming::slug;
use concejo::pki;
use concejo::pki::ca::{self, Settings};

const DAY: i64 = 86_400;

fn run(algorithm: KeyAlgorithm) {
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let settings = Settings { algorithm, ..Settings::DEFAULTS };
    let started = Instant::now();
    let (state, _) = ca::reconcile(None, None, "leon", &["nube.dipuleon.es".into()], settings, None, now).unwrap();
    let ca_time = started.elapsed();

    let tenants: Vec<Vec<String>> =
        municipalities_of("24").iter().map(|m| vec![format!("{}.nube.dipuleon.es", slug(&m.display_name()))]).collect();
    let started = Instant::now();
    let mut leaves = Vec::with_capacity(tenants.len());
    for hosts in &tenants {
        leaves.push(pki::issue_leaf(&state.intermediate, hosts, algorithm, now, 90 * DAY).unwrap());
    }
    let issue_time = started.elapsed();

    let started = Instant::now();
    let mut renewals = 0;
    for leaf in &leaves {
        let info = pki::inspect(&leaf.cert_pem).unwrap();
        if now >= info.renewal_time(concejo::domain::hash::fraction(&info.serial)) {
            renewals += 1;
        }
    }
    let check_time = started.elapsed();
    println!(
        "{algorithm:?}: root + intermediate {:.1} ms; {} tenant certificates issued in {:.1} ms ({:.2} ms each); \
         all {} checked for renewal in {:.1} ms ({renewals} due)",
        ca_time.as_secs_f64() * 1e3,
        leaves.len(),
        issue_time.as_secs_f64() * 1e3,
        issue_time.as_secs_f64() * 1e3 / leaves.len() as f64,
        leaves.len(),
        check_time.as_secs_f64() * 1e3,
    );
}

fn main() {
    run(KeyAlgorithm::EcdsaP256);
    run(KeyAlgorithm::Rsa3072);
}
