//! What an app learns about a person, by scope. `sub` is a random UUID made for the person on
//! first use and kept (never the name, never the row id). `email_verified` is true whenever
//! Usher holds an e-mail: Usher's e-mails are set by an administrator, or come from plex.tv only
//! when plex.tv says they are confirmed (src/auth/plex/access.rs). `groups` holds the group's
//! name; `usher_group` its number (0 Admin, 1 Co-Admin, 2 Super User, 3 Power User, 4 User).

use serde_json::{json, Map, Value};

use super::{has_scope, OidcError, GROUP_CLAIM};
use crate::domain::{User, UserId};
use crate::store::Store;

/// The person's `sub`, made on first use.
pub async fn subject(store: &Store, user: UserId) -> Result<String, OidcError> {
    Ok(store
        .oidc_subject(user, &uuid::Uuid::new_v4().to_string())
        .await?)
}

/// The claims `scope` grants, beside `sub` (userinfo, and the id_token).
pub fn profile_claims(user: &User, sub: &str, scope: &str) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("sub".into(), json!(sub));
    if has_scope(scope, "profile") {
        c.insert("preferred_username".into(), json!(user.username));
        c.insert("name".into(), json!(user.username));
        if let Some(picture) = user
            .image
            .as_deref()
            .filter(|i| i.starts_with("https://") || i.starts_with("http://"))
        {
            c.insert("picture".into(), json!(picture));
        }
    }
    if has_scope(scope, "email") {
        if let Some(email) = &user.email {
            c.insert("email".into(), json!(email));
            c.insert("email_verified".into(), json!(true));
        }
    }
    if has_scope(scope, "groups") {
        c.insert("groups".into(), json!([user.group_name]));
        c.insert(GROUP_CLAIM.into(), json!(user.group_id));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 7,
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            group_id: 4,
            group_name: "User".into(),
            locked: false,
            image: Some("https://plex.tv/users/abc/avatar".into()),
            created_at: 0,
            has_password: true,
            plex_id: None,
        }
    }

    #[test]
    fn claims_follow_the_scopes() {
        let c = profile_claims(&user(), "s-1", "openid");
        assert_eq!(c.len(), 1);
        let c = profile_claims(&user(), "s-1", "openid profile email groups");
        assert_eq!(c["preferred_username"], "alice");
        assert_eq!(c["picture"], "https://plex.tv/users/abc/avatar");
        assert_eq!(c["email_verified"], true);
        assert_eq!(c["groups"], json!(["User"]));
        assert_eq!(c[GROUP_CLAIM], 4);
    }
}
