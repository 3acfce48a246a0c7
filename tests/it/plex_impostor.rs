//! Impostors of the owner named in `plex.admin`: a Plex account registered with the owner's
//! e-mail but never confirmed, and an account that holds the admin's username while the owner's
//! account id is known. Neither is the owner; neither skips the friends list.

use serde_json::json;

use crate::support::assert_error;
use crate::support::fake_plex::{seeded::*, FakeAccount, FakePlexSeed};
use crate::support::plex_app::{PlexApp, PlexSetup};

/// The impostor's Plex account id (not on the owner's friends list).
const IMPOSTOR: i64 = 4000001;

fn backend() -> PlexSetup {
    PlexSetup {
        auth_type: "backend",
        ..PlexSetup::default()
    }
}

/// The standard seed plus an impostor account `username` with the e-mail `email`, unconfirmed.
async fn with_impostor(username: &str, email: &str) -> PlexApp {
    let mut impostor = FakeAccount::new(IMPOSTOR, username, email, "impostor-pass");
    impostor.email_unconfirmed = true;
    PlexApp::seeded(FakePlexSeed::standard().with_account(impostor), backend()).await
}

#[tokio::test]
async fn an_unconfirmed_copy_of_the_admins_email_is_not_the_owner() {
    let p = with_impostor("impostor", "admin@example.com").await;
    p.set(json!({"plex.admin": "Admin@Example.com"})).await;

    let c = p.app.client();
    let (status, body) = p.password_login(&c, "impostor", "impostor-pass").await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "plex_not_allowed");
    assert_eq!(p.me_status(&c).await, 401);

    let c = p.app.client();
    let (status, body) = p.oauth_as(&c, IMPOSTOR).await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "plex_not_allowed");
    assert_eq!(p.me_status(&c).await, 401);

    // The real owner, whose address is confirmed, still is the owner.
    let c = p.app.client();
    let (status, body) = p.oauth_as(&c, OWNER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["plex_id"], OWNER);
}

#[tokio::test]
async fn an_unconfirmed_copy_of_the_admins_email_gets_nothing_when_the_friends_list_fails() {
    let p = with_impostor("impostor", "admin@example.com").await;
    p.set(json!({"plex.admin": "admin@example.com"})).await;
    // plex.tv refuses the owner's token: the friends list cannot be read.
    p.fake.revoke_token(OWNER);
    let (status, body) = p
        .password_login(&p.app.client(), "impostor", "impostor-pass")
        .await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "plex_admin_token_invalid");
    // The owner, named by a confirmed e-mail, still gets in.
    let (status, body) = p
        .password_login(&p.app.client(), "adminuser", "admin-pass")
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_admins_username_on_another_account_is_not_the_owner() {
    // The owner renamed itself; somebody else now holds the name plex.admin still names.
    let p = with_impostor("oldname", "someone-new@example.com").await;
    p.set(json!({"plex.admin": "oldname"})).await;
    let c = p.app.client();
    let (status, body) = p.password_login(&c, "oldname", "impostor-pass").await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "plex_not_allowed");
    assert_eq!(p.me_status(&c).await, 401);
}

#[tokio::test]
async fn the_refresh_revokes_an_admin_by_username_once_the_owner_id_is_known() {
    let p = with_impostor("oldname", "someone-new@example.com").await;
    p.set(json!({"plex.admin": "oldname"})).await;
    // While plex.tv refuses the owner's token, the username is all there is to go on.
    let new_owner_token = p.fake.revoke_token(OWNER);
    let c = p.app.client();
    let (status, body) = p.password_login(&c, "oldname", "impostor-pass").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(p.proxy_status(&c).await, 200);
    assert_eq!(
        p.app.core.refresh_plex_access().await.unwrap_err().code(),
        "plex_admin_token_invalid"
    );
    assert_eq!(
        p.proxy_status(&c).await,
        200,
        "plex.tv failing revokes nobody"
    );
    // With a working owner token the refresh knows the owner's id: the name no longer counts.
    p.set(json!({"plex.token": new_owner_token})).await;
    assert_eq!(p.app.core.refresh_plex_access().await.unwrap(), 1);
    assert_eq!(p.proxy_status(&c).await, 401);
}
