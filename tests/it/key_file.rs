//! The key file `<data-dir>/secret.key`: one that is there but holds no key (empty after a
//! crash, cut short) stops the start with a message naming the file and what to do; it is
//! never silently replaced by a new key that could not read the secrets the store keeps.

use serde_json::json;
use usher::Config;

use crate::api_login::set_settings;
use crate::instances::second_instance;
use crate::support::TestApp;

/// Another start on the data dir and database `app` runs on.
fn same_install(app: &TestApp) -> Config {
    second_instance(app, app.data_dir.path())
}

#[tokio::test]
async fn an_empty_key_file_stops_the_start_and_is_not_replaced() {
    let app = TestApp::spawn().await;
    let token = "metrics-token-kept-encrypted-in-the-store";
    set_settings(&app, json!({ "metrics.token": token })).await;
    let key_file = app.data_dir.path().join("secret.key");
    let original = std::fs::read_to_string(&key_file).unwrap();

    for (left, says) in [("", "is empty"), (&original[..20], "holds 20 characters")] {
        std::fs::write(&key_file, left).unwrap();
        let err = match usher::build_app(same_install(&app)).await {
            Ok(_) => panic!("started with a key file holding {left:?}"),
            Err(e) => e.to_string(),
        };
        let path = key_file.display().to_string();
        for needle in [path.as_str(), says, "USHER_SECRET_KEY", "delete"] {
            assert!(err.contains(needle), "no {needle:?} in: {err}");
        }
        if !left.is_empty() {
            assert!(!err.contains(left), "the key's start is never shown: {err}");
        }
        assert_eq!(
            std::fs::read_to_string(&key_file).unwrap(),
            left,
            "no new key written over it"
        );
    }

    // The original key put back, as the message says: it starts and reads its secrets.
    std::fs::write(&key_file, &original).unwrap();
    let again = usher::build_app(same_install(&app))
        .await
        .expect("starts with the key put back");
    let settings = again.core().settings();
    assert_eq!(settings.get("metrics.token"), Some(&json!(token)));
}
