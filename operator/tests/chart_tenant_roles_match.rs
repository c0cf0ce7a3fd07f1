//! The Helm chart's tenant roles are the ones concejo binds (`concejo tenant-roles`) byte for byte.

// The checkout is read where cargo runs the test (CARGO_MANIFEST_DIR at run time): a binary
// reused from another clone through a shared target directory must not read that clone.
use std::path::Path;

#[test]
fn chart_tenant_roles_are_the_builders_roles() {
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("..");
    let path = root.join("charts/concejo/templates/tenant-roles.yaml");
    let shipped = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make crds`", path.display()));
    let built = concejo::resources::rbac::cluster_roles_yaml().unwrap();
    assert!(shipped == built, "{} differs from `concejo tenant-roles`; run `make crds`", path.display());
}
