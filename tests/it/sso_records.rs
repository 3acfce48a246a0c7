//! The per-session SSO records (`session_sso`): stored and read back on both databases, replaced
//! as a whole, and gone with the session.

use usher::store::{CookieRecord, SsoRecord};

use crate::support::TestApp;

fn record(app: &str, ok: bool, path: &str) -> SsoRecord {
    SsoRecord {
        app: app.into(),
        instance: "http://10.0.0.5:8181/tautulli".into(),
        ok,
        error_code: (!ok).then(|| "app_rejected_user".into()),
        error: (!ok).then(|| "Tautulli refused the sign-in of alice".into()),
        cookies: vec![CookieRecord {
            name: "tautulli_token_3f9a1c07b2".into(),
            domain: Some("example.com".into()),
            path: path.into(),
            http_only: true,
            expires_at: Some(2_000_000_000),
        }],
        storage: Some("enc:v1:opaque".into()),
        used_fallback: false,
        elapsed_ms: 42,
        created_at: 1_700_000_000,
        expires_at: Some(2_000_000_000),
    }
}

#[tokio::test]
async fn sso_records_are_kept_per_session_replaced_whole_and_gone_with_it() {
    let app = TestApp::spawn().await;
    let _alice = app.signed_in("alice", 4).await;
    let session = app.core.sessions_of(None).await.unwrap().remove(0);
    let store = &app.core.store;

    let first = vec![
        record("Tautulli", true, "/tautulli"),
        record("Ombi", false, "/"),
    ];
    store.replace_session_sso(session.id, &first).await.unwrap();
    assert_eq!(store.session_sso(&session.token_hash).await.unwrap(), first);

    let second = vec![record("Tautulli", true, "/stats")];
    store
        .replace_session_sso(session.id, &second)
        .await
        .unwrap();
    assert_eq!(
        store.session_sso(&session.token_hash).await.unwrap(),
        second
    );

    app.core
        .revoke_session(session.id, None, &usher::store::Actor::default())
        .await
        .unwrap();
    assert!(store
        .session_sso(&session.token_hash)
        .await
        .unwrap()
        .is_empty());
    app.stop().await;
}
