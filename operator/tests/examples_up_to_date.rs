//! `examples/leon/municipalities.yaml` is exactly what `concejo generate municipalities` writes
//! from the embedded register. Run `make examples` after changing the generator or the data.

// The checkout is read where cargo runs the test (CARGO_MANIFEST_DIR at run time): a binary
// reused from another clone through a shared target directory must not read that clone.
use std::path::Path;

#[test]
fn leon_examples_match_the_register() {
    let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test"))
        .join("../examples/leon/municipalities.yaml");
    let committed = std::fs::read_to_string(&path).expect("examples/leon/municipalities.yaml exists");
    let generated = concejo::generate::municipalities_yaml("24", "leon", true).unwrap();
    assert!(committed == generated, "examples/leon/municipalities.yaml is out of date; run `make examples`");
    assert_eq!(committed.matches("kind: Municipality").count(), 211);
}
