use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2026-11-25T12:00:00Z".parse().unwrap()
}

fn tenant(name: &str, province: &str, code: &str, status: serde_json::Value) -> Municipality {
    serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Municipality",
        "metadata": {"name": name, "generation": 2},
        "spec": {"province": province, "ineCode": code, "displayName": name},
        "status": status
    }))
    .unwrap()
}

fn condition(type_: &str, status: &str, message: &str) -> serde_json::Value {
    json!({"type": type_, "status": status, "reason": "R", "message": message,
           "lastTransitionTime": "2026-11-25T10:00:00Z"})
}

fn rows() -> Vec<Row> {
    let ready = tenant(
        "astorga",
        "leon",
        "24008",
        json!({
            "observedGeneration": 2, "phase": "Ready", "namespace": "muni-24008", "plan": "town",
            // Out of order on purpose: the table orders the columns.
            "conditions": [condition("Ready", "True", ""), condition("Valid", "True", ""),
                           condition("Isolated", "True", ""), condition("CertificateReady", "True", ""),
                           condition("BackupReady", "True", "")],
            "certificate": {"notAfter": "2027-02-22T12:00:00Z", "renewalTime": "2027-01-01T00:00:00Z",
                            "serial": "01", "dnsNames": ["astorga.nube.dipuleon.es"]},
            "backup": {"lastSuccessTime": "2026-11-25T09:00:00Z", "lastDrillTime": "2026-11-20T12:00:00Z",
                       "lastDrillResult": "Passed"}
        }),
    );
    let refused = tenant(
        "sobrado-24165",
        "leon",
        "24165",
        json!({"observedGeneration": 2, "phase": "Pending",
               "conditions": [condition("Valid", "False", "plan \"metro\" does not exist"),
                              condition("Ready", "False", "the spec is not valid")]}),
    );
    let new = tenant("moya-35013", "las-palmas", "35013", json!(null));
    vec![Row::of(&ready), Row::of(&refused), Row::of(&new)]
}

#[test]
fn rows_read_phase_conditions_and_the_first_problem() {
    let rows = rows();
    assert_eq!(rows[0].phase, "Ready");
    assert!(rows[0].observed && rows[0].problem.is_none() && !rows[0].refused());
    assert_eq!(rows[1].problem.as_deref(), Some("Valid: plan \"metro\" does not exist"));
    assert!(rows[1].refused());
    assert_eq!((rows[2].phase.as_str(), rows[2].observed), ("Unknown", false));
    assert!(rows[2].conditions.is_empty());
}

#[test]
fn the_table_has_a_column_per_condition_and_a_line_per_province() {
    let table = status_table(&rows(), false, now());
    let expected = "\
NAME            PROVINCE     PHASE     VALID   ISOLATED   CERTIFICATEREADY   BACKUPREADY   READY   CERT EXPIRES   LAST BACKUP   DRILL
astorga         leon         Ready     True    True       True               True          True    in 89d         3h ago        Passed 5d ago
sobrado-24165   leon         Pending   False   -          -                  -             False   -              -             -
moya-35013      las-palmas   Unknown   -       -          -                  -             -       -              -             -
las-palmas: 1 tenants, 1 Unknown; 0 refused
leon: 2 tenants, 1 Pending, 1 Ready; 1 refused
";
    assert_eq!(table, expected, "\n{table}");
}

#[test]
fn wide_adds_code_namespace_plan_and_the_problem() {
    let table = status_table(&rows()[..2], true, now());
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME            INE     PROVINCE   PHASE"), "{table}");
    assert!(lines[0].ends_with("DRILL           NAMESPACE    PLAN   MESSAGE"), "{table}");
    assert!(lines[1].starts_with("astorga         24008   leon       Ready"), "{table}");
    assert!(lines[1].ends_with("Passed 5d ago   muni-24008   town"), "{table}");
    assert!(lines[2].ends_with("-            -      Valid: plan \"metro\" does not exist"), "{table}");
}

#[test]
fn conditions_of_other_writers_come_last_and_nothing_is_said_of_none() {
    let mut other = rows().remove(0);
    other.conditions.insert("Compliant".into(), "False".into());
    let table = status_table(&[other], false, now());
    assert!(table.lines().next().unwrap().contains("READY   COMPLIANT   CERT EXPIRES"), "{table}");
    assert_eq!(status_table(&[], false, now()), "No Municipalities found.\n");
}

#[test]
fn ages_read_like_kubectl() {
    assert_eq!(age("2026-11-25T11:59:30Z", now()), "30s ago");
    assert_eq!(age("2026-11-25T11:00:00Z", now()), "60m ago");
    assert_eq!(age("2026-11-25T09:00:00Z", now()), "3h ago");
    assert_eq!(age("2026-11-28T12:00:00Z", now()), "in 3d");
    assert_eq!(age("not a time", now()), "not a time");
}

#[test]
fn summaries_count_phases_and_refusals() {
    let s = summaries(&rows());
    assert_eq!(s.len(), 2);
    assert_eq!((s[1].province.as_str(), s[1].tenants, s[1].refused), ("leon", 2, 1));
    assert_eq!(s[1].phases.get("Ready"), Some(&1));
}
