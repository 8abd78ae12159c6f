//! The example configuration lists every key and is valid as it stands.

use std::process::Command;

#[test]
fn the_example_configuration_is_valid_and_complete() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../leadline.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["--config", example, "config", "check"])
        .env_remove("LEADLINE_TEST_POSTGRES_URL")
        .output()
        .expect("run leadline");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every key of the effective configuration is set by the example file, so none is missing
    // from it. (An empty list has no element to tell where it came from: it shows as the
    // default either way.)
    for line in stdout
        .lines()
        .filter(|l| l.contains(" = ") && !l.contains(" = []"))
    {
        assert!(
            line.contains("leadline.example.toml"),
            "key missing from leadline.example.toml: {line}"
        );
    }
}
