use super::*;

fn at(rfc3339: &str) -> Timestamp {
    rfc3339.parse().unwrap()
}

const NOW: &str = "2026-11-25T12:00:00Z";

/// A tenant of `category` with everything in place: the suite's two volumes, backups with a drill
/// that passed, a second location.
fn sound(category: EnsCategory) -> Evidence {
    Evidence {
        category,
        namespace: Some(Some("restricted".into())),
        isolation: vec![("NetworkPolicy deny-all".into(), true), ("ResourceQuota tenant-quota".into(), true)],
        bindings: vec![("tenant-admins".into(), Some("ClusterRole/concejo-tenant-admin".into()))],
        roles: vec![("tenant-admins".into(), "ClusterRole/concejo-tenant-admin".into())],
        unlisted_subjects: vec![("tenant-admins".into(), vec![])],
        certificate: Some(Certificate { not_after: at("2027-02-01T00:00:00Z"), is_rsa: false, key_bits: 256 }),
        volumes: vec![("nextcloud-data".into(), Some("cifrado-ssd".into()))],
        encrypted_classes: vec!["cifrado-ssd".into()],
        backup: Backups::On {
            missing: None,
            scheduled: true,
            schedule: "17 3 * * *".into(),
            retention: "7 daily".into(),
            secondary: Some("s3://s3-dr.dipuleon.es/concejo".into()),
            status: Some(Box::new(BackupStatus {
                last_success_time: Some("2026-11-25T03:20:00Z".into()),
                last_drill_time: Some("2026-11-24T05:00:00Z".into()),
                last_drill_result: Some(DrillResult::Passed),
                ..Default::default()
            })),
        },
        audit: Ok(()),
    }
}

fn of<'a>(entries: &'a [ComplianceEntry], measure: &str) -> &'a ComplianceEntry {
    entries.iter().find(|e| e.measure == measure).unwrap()
}

#[test]
fn every_measure_is_reported_once_in_order() {
    for category in [EnsCategory::Basica, EnsCategory::Media, EnsCategory::Alta] {
        let measures: Vec<String> = assess(&sound(category), at(NOW)).into_iter().map(|e| e.measure).collect();
        assert_eq!(measures, MEASURES);
    }
}

#[test]
fn what_applies_depends_on_the_category() {
    use ComplianceStatus::*;
    let statuses = |c| assess(&sound(c), at(NOW)).into_iter().map(|e| e.status).collect::<Vec<_>>();
    assert_eq!(
        statuses(EnsCategory::Basica),
        [Met, Met, NotApplicable, NotApplicable, Met, NotApplicable, NotApplicable]
    );
    assert_eq!(statuses(EnsCategory::Media), [Met, Met, Met, Met, Met, Met, NotApplicable]);
    assert_eq!(statuses(EnsCategory::Alta), [Met; 7]);
    for c in [EnsCategory::Basica, EnsCategory::Media, EnsCategory::Alta] {
        assert!(compliant(&assess(&sound(c), at(NOW))).0, "{c:?}");
    }
}

#[test]
fn a_deleted_network_policy_is_not_met_and_named() {
    let mut e = sound(EnsCategory::Basica);
    e.isolation[0].1 = false;
    let entries = assess(&e, at(NOW));
    let seg = of(&entries, "mp.com.4");
    assert_eq!(seg.status, ComplianceStatus::NotMet);
    assert_eq!(seg.message, "mp.com.4: NetworkPolicy deny-all is missing");
    let (ok, reason, message) = compliant(&entries);
    assert!(!ok);
    assert_eq!(reason, "MeasuresNotMet");
    assert_eq!(message, "not met: mp.com.4 (see status.compliance)");
}

#[test]
fn least_privilege_needs_restricted_pods_and_the_right_roles() {
    let mut e = sound(EnsCategory::Media);
    e.namespace = Some(Some("baseline".into()));
    e.bindings[0].1 = Some("Role/tenant-admin".into());
    let entry = of(&assess(&e, at(NOW)), "op.acc.3/4/6").clone();
    assert_eq!(entry.status, ComplianceStatus::NotMet);
    assert!(entry.message.contains("Pod Security enforce is baseline"), "{}", entry.message);
    assert!(
        entry.message.contains("binds Role/tenant-admin, not ClusterRole/concejo-tenant-admin"),
        "{}",
        entry.message
    );
}

#[test]
fn an_expired_or_weak_certificate_is_not_met_from_media() {
    let mut e = sound(EnsCategory::Media);
    e.certificate = Some(Certificate { not_after: at("2026-11-01T00:00:00Z"), is_rsa: true, key_bits: 2048 });
    let entry = of(&assess(&e, at(NOW)), "mp.com.2/3").clone();
    assert_eq!(entry.status, ComplianceStatus::NotMet);
    assert!(entry.message.contains("expired at 2026-11-01T00:00:00Z") && entry.message.contains("RSA 2048"));
    e.certificate = None;
    assert_eq!(of(&assess(&e, at(NOW)), "mp.com.2/3").status, ComplianceStatus::NotMet);
    e.category = EnsCategory::Basica;
    assert_eq!(of(&assess(&e, at(NOW)), "mp.com.2/3").status, ComplianceStatus::NotApplicable);
}

#[test]
fn a_volume_on_an_unencrypted_class_is_named() {
    let mut e = sound(EnsCategory::Media);
    e.volumes.push(("postgres-data".into(), Some("estandar-hdd".into())));
    let entry = of(&assess(&e, at(NOW)), "mp.si.2").clone();
    assert_eq!(entry.message, "mp.si.2: volume postgres-data is on estandar-hdd, not an encrypted class");
}

#[test]
fn backups_fail_on_a_failed_drill_a_failed_or_stale_backup_and_a_missing_target() {
    let failed_drill = |e: &mut Evidence| {
        if let Backups::On { status: Some(s), .. } = &mut e.backup {
            s.last_drill_result = Some(DrillResult::Failed);
            s.last_drill_time = Some("2026-11-20T05:00:00Z".into());
            s.last_drill_message = Some("checksum mismatch in files/acta.pdf".into());
        }
    };
    let mut e = sound(EnsCategory::Media);
    failed_drill(&mut e);
    let entry = of(&assess(&e, at(NOW)), "mp.info.6").clone();
    assert_eq!(
        entry.message,
        "mp.info.6: the last restore drill failed 2026-11-20T05:00:00Z: checksum mismatch in files/acta.pdf"
    );
    // A failed drill is not required of Basica.
    e.category = EnsCategory::Basica;
    assert_eq!(of(&assess(&e, at(NOW)), "mp.info.6").status, ComplianceStatus::Met);

    let mut e = sound(EnsCategory::Basica);
    if let Backups::On { status: Some(s), .. } = &mut e.backup {
        s.last_failure_time = Some("2026-11-25T03:30:00Z".into());
        s.last_failure = Some("repository locked".into());
    }
    assert!(
        of(&assess(&e, at(NOW)), "mp.info.6")
            .message
            .contains("the last backup failed at 2026-11-25T03:30:00Z: repository locked")
    );
    let stale = assess(&sound(EnsCategory::Basica), at("2026-11-28T12:00:00Z"));
    assert!(of(&stale, "mp.info.6").message.contains("over 48 hours ago"));

    let mut e = sound(EnsCategory::Alta);
    let why = "ENS Alta needs a second backup location: set the Province's backup.secondaryTarget";
    e.backup = Backups::On {
        missing: Some(why.into()),
        scheduled: false,
        schedule: String::new(),
        retention: String::new(),
        secondary: None,
        status: None,
    };
    let entries = assess(&e, at(NOW));
    assert_eq!(of(&entries, "mp.info.6").message, format!("mp.info.6: {why}"));
    assert_eq!(of(&entries, "op.cont").status, ComplianceStatus::NotMet);
}

#[test]
fn a_new_tenant_is_met_before_its_first_backup_and_says_so() {
    let mut e = sound(EnsCategory::Media);
    if let Backups::On { status, .. } = &mut e.backup {
        *status = None;
    }
    let entry = of(&assess(&e, at(NOW)), "mp.info.6").clone();
    assert_eq!(entry.status, ComplianceStatus::Met);
    assert!(
        entry.message.contains("no backup has run yet") && entry.message.contains("none has run yet"),
        "{}",
        entry.message
    );
}

#[test]
fn no_volumes_no_backups_to_judge_and_disabled_backups_are_not_met() {
    let mut e = sound(EnsCategory::Alta);
    e.volumes.clear();
    e.backup = Backups::NoVolumes;
    let entries = assess(&e, at(NOW));
    assert_eq!(of(&entries, "mp.info.6").status, ComplianceStatus::NotApplicable);
    assert_eq!(of(&entries, "op.cont").status, ComplianceStatus::NotApplicable);
    e.backup = Backups::Disabled;
    assert_eq!(of(&assess(&e, at(NOW)), "mp.info.6").status, ComplianceStatus::NotMet);
}

#[test]
fn the_activity_log_is_met_only_when_audit_events_arrive() {
    let mut e = sound(EnsCategory::Media);
    e.audit = Err("no audit event has reached concejo".into());
    let entry = of(&assess(&e, at(NOW)), "op.exp.8").clone();
    assert_eq!(
        (entry.status, entry.message.as_str()),
        (ComplianceStatus::NotMet, "op.exp.8: no audit event has reached concejo")
    );
    e.category = EnsCategory::Basica;
    assert_eq!(of(&assess(&e, at(NOW)), "op.exp.8").status, ComplianceStatus::NotApplicable);
}

#[test]
fn a_province_counts_compliant_tenants_and_each_measure() {
    let alta = assess(&sound(EnsCategory::Alta), at(NOW));
    let mut broken = sound(EnsCategory::Basica);
    broken.isolation[0].1 = false;
    let basica = assess(&broken, at(NOW));
    let rolled = roll_up([(true, alta.as_slice()), (false, basica.as_slice())].into_iter());
    assert_eq!(rolled.compliant, 1);
    let count = |m: &str| rolled.measures.iter().find(|c| c.measure == m).map(|c| (c.met, c.not_met)).unwrap();
    assert_eq!(count("mp.com.4"), (1, 1));
    assert_eq!(count("op.cont"), (1, 0), "NotApplicable counts in neither");
    assert_eq!(rolled.measures.len(), MEASURES.len());
}

#[test]
fn a_subject_added_to_a_binding_is_not_least_privilege() {
    let mut e = sound(EnsCategory::Basica);
    e.unlisted_subjects = vec![("tenant-admins".into(), vec!["Group system:authenticated".into()])];
    let entry = assess(&e, at(NOW)).into_iter().find(|e| e.measure == "op.acc.3/4/6").unwrap();
    assert_eq!(entry.status, ComplianceStatus::NotMet);
    assert!(
        entry.message.contains("RoleBinding tenant-admins also grants Group system:authenticated"),
        "{}",
        entry.message
    );
}
