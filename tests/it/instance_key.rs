//! Every instance and every `usher` command on one database must use the same secret key: a
//! check value in the store makes any other key refuse to start, with a message that says how to
//! fix it (instead of failing to read stored secrets later).

use secrecy::SecretString;
use usher::Config;

use crate::support::TestApp;

/// A second instance's configuration: its own data dir, the first one's database.
fn second_instance(first: &TestApp, data_dir: &std::path::Path) -> Config {
    let mut config = Config::for_data_dir(data_dir);
    config.database_url = first.core.config.database_url.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config
}

#[tokio::test]
async fn an_instance_with_another_key_refuses_to_start() {
    let first = TestApp::spawn().await;
    let other = tempfile::tempdir().unwrap();

    // No key given: the second data dir generates its own, which is not the store's.
    let err = match usher::build_app(second_instance(&first, other.path())).await {
        Ok(_) => panic!("an instance with another key started"),
        Err(e) => e.to_string(),
    };
    for needle in [
        "not the key this database was set up with",
        "USHER_SECRET_KEY",
        "secret.key",
    ] {
        assert!(err.contains(needle), "no {needle:?} in: {err}");
    }
    let generated = std::fs::read_to_string(other.path().join("secret.key")).unwrap();
    assert!(
        !err.contains(generated.trim()),
        "the key is never shown: {err}"
    );

    // The first instance's key, given as USHER_SECRET_KEY would give it: the second one starts.
    let key = std::fs::read_to_string(first.data_dir.path().join("secret.key")).unwrap();
    let mut config = second_instance(&first, other.path());
    config.secret_key = Some(SecretString::from(key.trim().to_string()));
    let second = usher::build_app(config)
        .await
        .expect("the same key is accepted");
    drop(second);
    first.stop().await;
}
