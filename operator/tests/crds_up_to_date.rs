//! The CRD YAML committed in `crds/` is exactly what the types generate (the Helm chart and
//! `kubectl apply -f crds/` use those files). Run `make crds` after changing the API types.

// The checkout is read where cargo runs the test (CARGO_MANIFEST_DIR at run time): a binary
// reused from another clone through a shared target directory must not read that clone.
use std::path::Path;

#[test]
fn committed_crds_match_the_types() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("../crds");
    let mut expected_files = Vec::new();
    for crd in concejo::crds::all() {
        let file = concejo::crds::file_name(&crd);
        let generated = concejo::crds::to_yaml(&crd).expect("CRD serializes");
        let committed = std::fs::read_to_string(dir.join(&file))
            .unwrap_or_else(|e| panic!("crds/{file} cannot be read ({e}); run `make crds`"));
        assert!(committed == generated, "crds/{file} is out of date with operator/src/api; run `make crds`");
        expected_files.push(file);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(present, expected_files, "crds/ holds a CRD the types no longer generate; run `make crds`");
}
