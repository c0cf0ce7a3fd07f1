//! The Helm chart ships the CRDs of `crds/` byte for byte.

// The checkout is read where cargo runs the test (CARGO_MANIFEST_DIR at run time): a binary
// reused from another clone through a shared target directory must not read that clone.
use std::path::Path;

#[test]
fn chart_crds_are_the_committed_crds() {
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("..");
    for crd in concejo::crds::all() {
        let file = concejo::crds::file_name(&crd);
        let top = std::fs::read(root.join("crds").join(&file)).unwrap();
        let chart = std::fs::read(root.join("charts/concejo/crds").join(&file))
            .unwrap_or_else(|e| panic!("charts/concejo/crds/{file}: {e}; run `make crds`"));
        assert!(top == chart, "charts/concejo/crds/{file} differs from crds/{file}; run `make crds`");
    }
}
