//! The binary as an operator uses it: organisations, API keys, invalid configuration.

use std::process::{Command, Output};

fn leadline(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadline"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        // Not a configuration key: must be ignored, as CI sets it.
        .env(
            "LEADLINE_TEST_POSTGRES_URL",
            "postgres://ignored@127.0.0.1:1/none",
        )
        .env_remove("LEADLINE_CONFIG")
        .current_dir(dir)
        .output()
        .expect("run leadline")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn organisations_and_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = leadline(dir.path(), &["migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let org = json(&leadline(
        dir.path(),
        &["org", "create", "Acme Roofing", "--json"],
    ));
    let id = org["id"].as_str().expect("id");
    let key = json(&leadline(
        dir.path(),
        &[
            "api-key",
            "create",
            "--org",
            id,
            "--name",
            "zapier",
            "--scope",
            "leads:write",
            "--json",
        ],
    ));
    assert!(key["key"].as_str().unwrap().starts_with("ll_"));
    assert!(key["id"].is_string());
    // The key ring is owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keyring.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key ring mode {mode:o}");
    }
    let bad = leadline(
        dir.path(),
        &[
            "api-key",
            "create",
            "--org",
            id,
            "--scope",
            "everything",
            "--json",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope"));
    let missing = leadline(
        dir.path(),
        &[
            "api-key",
            "create",
            "--org",
            "01a203e8-0f02-773d-af22-5b50101bd3cb",
        ],
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no organisation"));

    // Users: the password comes from standard input, never from the arguments.
    let create_user = |email: &str, role: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadline"))
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "user",
                "create",
                "--org",
                id,
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
                "--json",
            ])
            .env_remove("LEADLINE_CONFIG")
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run leadline user create");
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let user = json(&create_user(
        "agent@acme.test",
        "agent",
        "a long enough passphrase",
    ));
    assert!(user["id"].is_string());
    let short = create_user("other@acme.test", "agent", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let twice = create_user("agent@acme.test", "viewer", "another long passphrase");
    assert!(String::from_utf8_lossy(&twice.stderr).contains("exists already"));
    let no_role = create_user("x@acme.test", "superuser", "a long enough passphrase");
    assert!(String::from_utf8_lossy(&no_role.stderr).contains("is not a role"));

    // The user's creation is in the audit log, and the log holds together.
    let verify = leadline(dir.path(), &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("1 entries in 1 chains verified"));

    // The operator suspends and resumes the organisation; both are in the platform's chain.
    let suspend = leadline(dir.path(), &["org", "suspend", id]);
    assert!(
        suspend.status.success(),
        "{}",
        String::from_utf8_lossy(&suspend.stderr)
    );
    let list = json(&leadline(dir.path(), &["org", "list", "--json"]));
    assert_eq!(list[0]["id"], id);
    assert!(list[0]["suspended_at"].is_string());
    let resume = leadline(dir.path(), &["org", "resume", id]);
    assert!(resume.status.success());
    let list = json(&leadline(dir.path(), &["org", "list", "--json"]));
    assert!(list[0]["suspended_at"].is_null());
    let unknown = leadline(
        dir.path(),
        &["org", "suspend", "01a203e8-0f02-773d-af22-5b50101bd3cb"],
    );
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no organisation"));
    let verify = leadline(dir.path(), &["audit", "verify"]);
    assert!(String::from_utf8_lossy(&verify.stdout).contains("3 entries in 2 chains verified"));
}

#[test]
fn invalid_configuration_names_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("leadline.toml"),
        "[jobs]\nmax_attempts = 0\n",
    )
    .unwrap();
    let out = leadline(dir.path(), &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("jobs.max_attempts") && err.contains("must be"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["migrate"])
        .env("LEADLINE_MODE", "production")
        .env("LEADLINE_DATA_DIR", dir.path())
        .env_remove("LEADLINE_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("public_base_url"));
}
