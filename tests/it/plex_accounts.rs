//! Accounts made or linked by a Plex sign-in: created in the default group with the Plex id,
//! e-mail, avatar and encrypted token; linked by Plex id or confirmed e-mail, never by username;
//! administrators linked only to the owner; simultaneous first sign-ins.

use serde_json::json;
use usher::auth::accounts::{Acting, CreateUser};

use crate::support::fake_plex::{seeded::*, FakeAccount, FakePlexSeed};
use crate::support::plex_app::{PlexApp, PlexSetup};
use crate::support::{assert_error, PASSWORD};

fn setup(auth_type: &'static str, strict: bool) -> PlexSetup {
    PlexSetup {
        auth_type,
        strict,
        oauth: true,
    }
}

#[tokio::test]
async fn first_sign_in_creates_the_user_later_ones_update_it() {
    let p = PlexApp::with(setup("backend", true)).await;
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 200, "{body}");
    let user = &body["user"];
    assert_eq!(user["username"], "friendly");
    assert_eq!(user["email"], "friend@example.com");
    assert_eq!(user["group_id"], 4);
    assert_eq!(user["plex_id"], FRIEND_A);
    assert_eq!(user["has_password"], false);
    assert!(
        user["image"].as_str().unwrap().contains("/avatar"),
        "{user}"
    );
    let (plex_id, token, hash) = p.plex_row("friendly").await;
    assert_eq!(plex_id, Some(FRIEND_A));
    assert!(hash.is_none(), "no local password is invented");
    let token = token.expect("token stored");
    let plain = p.fake.account(FRIEND_A).token;
    assert!(token.starts_with("enc:v1:") && !token.contains(&plain));
    assert_eq!(p.app.core.secret_key.decrypt(&token).unwrap(), plain);
    let id = user["id"].as_i64().unwrap();
    let kept = p
        .app
        .core
        .user_plex_token(id)
        .await
        .unwrap()
        .expect("a token");
    assert_eq!(kept.expose(), plain);

    // plex.tv has a new e-mail and avatar for them: the next sign-in follows.
    p.fake.edit_account(FRIEND_A, |a| {
        a.email = "friendly@new.example".into();
        a.thumb = "https://plex.tv/users/new/avatar".into();
    });
    // Second sign-in: same user; a default group change does not move existing people.
    p.set(json!({"plex.default_group": 3})).await;
    let (status, again) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["user"]["id"], user["id"]);
    assert_eq!(again["user"]["group_id"], 4);
    assert_eq!(again["user"]["email"], "friendly@new.example");
    assert_eq!(again["user"]["image"], "https://plex.tv/users/new/avatar");
    let (_, body) = p.password_login(&p.app.client(), "twofactor", "x").await;
    assert_error(&body, "invalid_credentials");
    let users = p.app.core.store.list_users().await.unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
}

#[tokio::test]
async fn linking_is_by_email_never_by_username() {
    let mut seed = FakePlexSeed::standard();
    // A Plex friend called "admin", shared the machine.
    seed = seed.with_account(FakeAccount::new(
        2000009,
        "admin",
        "plexadmin@example.com",
        "plex-admin-pass",
    ));
    seed.friends.push((OWNER, 2000009));
    seed.share(2000009, MACHINE_A);
    let p = PlexApp::seeded(seed, setup("local_and_backend", true)).await;
    let local_admin = p.app.add_user("admin", 0).await;
    // A local user with the friend's e-mail, and a local password.
    let local_friend = p
        .app
        .core
        .create_user(
            CreateUser {
                username: "my-friend".into(),
                email: Some("Friend@Example.com".into()),
                password: Some(PASSWORD.into()),
                group_id: Some(3),
                ..Default::default()
            },
            &Acting::cli(),
        )
        .await
        .unwrap();

    let (status, body) = p
        .password_login(&p.app.client(), "admin", "plex-admin-pass")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(
        body["user"]["id"], local_admin.id,
        "never linked by username"
    );
    assert_eq!(body["user"]["username"], "admin-plex");
    assert_eq!(body["user"]["group_id"], 4);
    let admin_row = p.plex_row("admin").await;
    assert_eq!(admin_row.0, None, "the local admin stays unlinked");

    let (_, _, hash_before) = p.plex_row("my-friend").await;
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], local_friend.id, "linked by e-mail");
    assert_eq!(body["user"]["group_id"], 3, "group kept");
    assert_eq!(body["user"]["plex_id"], FRIEND_A);
    let (_, _, hash) = p.plex_row("my-friend").await;
    assert!(
        hash.is_some() && hash == hash_before,
        "the local password is kept as it was"
    );
    // ... and still works, and is not replaced by the Plex one.
    let (status, _) = p
        .password_login(&p.app.client(), "my-friend", PASSWORD)
        .await;
    assert_eq!(status, 200);
    let (status, body) = p
        .password_login(&p.app.client(), "my-friend", "hunter2")
        .await;
    assert_eq!(
        status, 401,
        "the Plex password is not the local one: {body}"
    );
}

#[tokio::test]
async fn simultaneous_first_sign_ins_make_one_user() {
    let p = PlexApp::with(setup("backend", true)).await;
    let attempts = (0..6).map(|_| {
        let p = &p;
        async move { p.oauth_as(&p.app.client(), FRIEND_A).await }
    });
    let answers = futures_join_all(attempts).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(_, b)| b["user"]["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(p.app.core.store.list_users().await.unwrap().len(), 1);
}

/// Runs futures concurrently (no extra dependency for join_all).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = Vec::new();
    // Poll all together: each step drives every pending future.
    let mut pending: Vec<_> = set.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.expect("finished")));
    out
}

#[tokio::test]
async fn only_the_owner_is_linked_to_an_administrator_by_email() {
    let p = PlexApp::with(setup("local_and_backend", true)).await;
    let make_admin = |name: &'static str, email: &'static str| {
        let core = p.app.core.clone();
        async move {
            core.create_user(
                CreateUser {
                    username: name.into(),
                    email: Some(email.into()),
                    password: Some(PASSWORD.into()),
                    group_id: Some(0),
                    ..Default::default()
                },
                &Acting::cli(),
            )
            .await
            .unwrap()
        }
    };
    let boss = make_admin("boss", "admin@example.com").await;
    make_admin("victim", "friend@example.com").await;
    // A friend whose Plex e-mail is an administrator's: refused, nothing linked or created.
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "plex_not_allowed");
    assert_eq!(p.plex_row("victim").await.0, None);
    assert_eq!(p.app.core.store.list_users().await.unwrap().len(), 2);
    // The server owner is linked to the admin with the same e-mail.
    let (status, body) = p.oauth_as(&p.app.client(), OWNER).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], boss.id);
    assert_eq!(body["user"]["group_id"], 0);
}

#[tokio::test]
async fn an_unconfirmed_plex_email_links_to_nobody() {
    let mut sneaky = FakeAccount::new(2000010, "sneaky", "carol@example.com", "sneaky-pass");
    sneaky.email_unconfirmed = true;
    let mut seed = FakePlexSeed::standard().with_account(sneaky);
    seed.friends.push((OWNER, 2000010));
    seed.share(2000010, MACHINE_A);
    let p = PlexApp::seeded(seed, setup("local_and_backend", true)).await;
    let carol = p.app.add_user("carol", 4).await;
    let (status, body) = p
        .password_login(&p.app.client(), "sneaky", "sneaky-pass")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["user"]["id"], carol.id, "not carol's account");
    assert_eq!(body["user"]["username"], "sneaky");
    assert_eq!(
        body["user"]["email"],
        serde_json::Value::Null,
        "the address is not stored"
    );
    assert_eq!(p.plex_row("carol").await.0, None);
}

/// A first Plex sign-in whose name only looks like an Usher account's (held or retired) is
/// refused with a reason, never merged or renamed into a look-alike; a name identical to a
/// retired one becomes NAME-plex, so the new person never inherits the old identity.
#[tokio::test]
async fn a_plex_name_like_an_existing_or_former_account_is_refused_or_suffixed() {
    let mut seed = FakePlexSeed::standard();
    for (id, name, email) in [
        (2000011, "\u{430}dmin", "cyr@example.com"),
        (2000012, "carol", "carol.plex@example.com"),
        (2000013, "c\u{430}rol", "cyr.carol@example.com"),
    ] {
        seed = seed.with_account(FakeAccount::new(id, name, email, "plex-pass"));
        seed.friends.push((OWNER, id));
        seed.share(id, MACHINE_A);
    }
    let p = PlexApp::seeded(seed, setup("backend", true)).await;
    let admin = p.app.add_user("admin", 0).await;
    let carol = p.app.add_user("carol", 4).await;
    p.app
        .core
        .delete_user(carol.id, &Acting::cli())
        .await
        .unwrap();

    for login in ["cyr@example.com", "cyr.carol@example.com"] {
        let (status, body) = p.password_login(&p.app.client(), login, "plex-pass").await;
        assert_eq!(status, 403, "{login}: {body}");
        assert_error(&body, "plex_not_allowed");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("looks like the name of another Usher account")
                && message.contains("administrator"),
            "{message}"
        );
    }
    let users = p.app.core.store.list_users().await.unwrap();
    assert_eq!(users.len(), 1, "nothing created: {users:?}");
    assert_eq!(users[0].id, admin.id);
    assert_eq!(
        p.plex_row("admin").await.0,
        None,
        "the admin stays unlinked"
    );

    let (status, body) = p
        .password_login(&p.app.client(), "carol.plex@example.com", "plex-pass")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "carol-plex");
    assert_ne!(body["user"]["id"], carol.id);
}
