//! `leadline serve` from a fresh directory: what it creates and prints, a lead answered by the
//! real runner, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn first_start_answers_a_lead_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("LEADLINE_TEST_POSTGRES_URL")
        .env_remove("LEADLINE_CONFIG")
        .env("LEADLINE_LOG__LEVEL", "warn")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.contains("openapi.json")) {
        printed.push(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("serve prints its welcome"),
        );
    }
    let text = printed.join("\n");
    for created in ["data dir", "database", "key ring", "Sandbox Home Services"] {
        assert!(
            text.contains(created),
            "the first start names {created}:\n{text}"
        );
    }
    let addr = text
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_owned();
    let key = text
        .split_whitespace()
        .find(|w| w.starts_with("ll_"))
        .unwrap()
        .to_owned();
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    // The owner signs in with the printed password, which is good only for choosing a new one.
    let word_after = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_owned()
    };
    let (email, password) = (word_after("email "), word_after("password "));
    assert_eq!(email, "owner@leadline.local");
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["must_change_password"], true, "{login}");
    assert_eq!(login["role"], "owner");
    let access = login["access_token"].as_str().unwrap().to_owned();
    let res = client
        .get(format!("{base}/api/v1/leads"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "nothing but a new password first");
    let res = client
        .post(format!("{base}/api/v1/auth/password"))
        .bearer_auth(&access)
        .json(&serde_json::json!({ "current_password": password, "new_password": "the owner's own passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let refreshed: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&serde_json::json!({ "refresh_token": login["refresh_token"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refreshed["must_change_password"], false, "{refreshed}");
    let res = client
        .get(format!("{base}/api/v1/leads"))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = client
        .post(format!("{base}/api/v1/sandbox/clock"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "set": "2026-03-04T18:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .post(format!("{base}/api/v1/leads"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "name": "Jane", "phone": "(312) 555-0142" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // The runner is woken by the commit; wait for the observable result, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        let page: serde_json::Value = client
            .get(format!("{base}/api/v1/messages"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(m) = page["data"].as_array().and_then(|a| a.first()).cloned() {
            break m;
        }
        assert!(Instant::now() < deadline, "no first response within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(message["status"], "delivered");
    assert_eq!(message["to"], "+13125550142");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "serve exits 0 on SIGTERM: {exit:?}");
    assert!(dir.path().join("leadline-data/leadline.db").exists());
}
