//! The authorization request: which parameters are accepted, when the person must sign in (or
//! sign in again), and where they come back to afterwards. Until the client and the redirect
//! URI are known to belong together nothing is ever redirected (Usher shows its own page);
//! after that, every refusal goes back to the client as `error` + `state`.

use serde::Deserialize;

use super::clients::redirect_registered;
use super::{has_scope, is_pkce_value, known_scopes, OidcError};
use crate::store::OidcClient;

/// The query of `/oidc/authorize` (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    /// Usher's own: the sign-in must be at least this recent (epoch seconds). Set when Usher
    /// sent the person to sign in again for `prompt=login` or `max_age`, so that coming back
    /// does not ask again.
    pub usher_fresh: Option<i64>,
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub max_age: Option<i64>,
}

/// The redirect URI the request names, when it is one of the client's; `None` means the
/// answer is Usher's own error page, never a redirect.
pub fn redirect_target<'p>(client: &OidcClient, params: &'p AuthorizeParams) -> Option<&'p str> {
    params
        .redirect_uri
        .as_deref()
        .filter(|u| redirect_registered(client, u))
}

/// Checks the rest of the request (the client and redirect URI are already known good).
pub fn check(client: &OidcClient, params: &AuthorizeParams) -> Result<Checked, OidcError> {
    let redirect_uri = params.redirect_uri.clone().unwrap_or_default();
    if params.response_type.as_deref() != Some("code") {
        return Err(OidcError::UnsupportedResponseType);
    }
    if params
        .response_mode
        .as_deref()
        .is_some_and(|m| m != "query")
    {
        return Err(OidcError::InvalidRequest(
            "only response_mode=query is supported".into(),
        ));
    }
    let scope = known_scopes(params.scope.as_deref().unwrap_or(""));
    if !has_scope(&scope, "openid") {
        return Err(OidcError::InvalidScope("the scope must include openid"));
    }
    let code_challenge = match (
        &params.code_challenge,
        params.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if is_pkce_value(c) => Some(c.clone()),
        (Some(_), Some("S256")) => {
            return Err(OidcError::InvalidRequest(
                "code_challenge is malformed".into(),
            ))
        }
        (Some(_), _) => {
            return Err(OidcError::InvalidRequest(
                "code_challenge_method must be S256".into(),
            ))
        }
        (None, _) if client.public => {
            return Err(OidcError::InvalidRequest(
                "a public client must send a PKCE code_challenge (S256)".into(),
            ))
        }
        (None, _) => None,
    };
    let prompts: Vec<&str> = params
        .prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return Err(OidcError::InvalidRequest(
            "prompt=none cannot be combined".into(),
        ));
    }
    let max_age = match params.max_age.as_deref() {
        None | Some("") => None,
        Some(m) => Some(m.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
            OidcError::InvalidRequest("max_age must be a number of seconds".into())
        })?),
    };
    if params.nonce.as_deref().is_some_and(|n| n.len() > 512)
        || params.state.as_deref().is_some_and(|s| s.len() > 1024)
    {
        return Err(OidcError::InvalidRequest(
            "state or nonce is too long".into(),
        ));
    }
    Ok(Checked {
        redirect_uri,
        state: params.state.clone(),
        scope,
        nonce: params.nonce.clone(),
        code_challenge,
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        max_age,
    })
}

/// Whether the person must (re)enter their credentials first: `None` when the session may be
/// used as it is, `Some(true)` when it is too old for the request, `Some(false)` when there is
/// none. `auth_time` is when the session began.
pub fn sign_in_needed(
    checked: &Checked,
    params: &AuthorizeParams,
    auth_time: Option<i64>,
    now: i64,
) -> Option<bool> {
    let Some(auth_time) = auth_time else {
        return Some(false);
    };
    // Back from the sign-in Usher asked for: only a session begun since then will do.
    if let Some(t) = params.usher_fresh {
        return (auth_time < t).then_some(true);
    }
    let too_old = checked.max_age.is_some_and(|m| now - auth_time > m);
    (checked.prompt_login || too_old).then_some(true)
}

/// Where the sign-in page sends the person back: this request again, without `prompt=login`,
/// and with the freshness marker when a new sign-in was asked for.
pub fn return_path(params: &AuthorizeParams, fresh_since: Option<i64>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let prompt = params.prompt.as_deref().map(|p| {
        p.split(' ')
            .filter(|p| !p.is_empty() && *p != "login")
            .collect::<Vec<_>>()
            .join(" ")
    });
    let fields = [
        ("client_id", params.client_id.as_deref()),
        ("redirect_uri", params.redirect_uri.as_deref()),
        ("response_type", params.response_type.as_deref()),
        ("response_mode", params.response_mode.as_deref()),
        ("scope", params.scope.as_deref()),
        ("state", params.state.as_deref()),
        ("nonce", params.nonce.as_deref()),
        ("code_challenge", params.code_challenge.as_deref()),
        (
            "code_challenge_method",
            params.code_challenge_method.as_deref(),
        ),
        ("prompt", prompt.as_deref().filter(|p| !p.is_empty())),
        ("max_age", params.max_age.as_deref()),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    if let Some(t) = fresh_since.or(params.usher_fresh) {
        q.append_pair("usher_fresh", &t.to_string());
    }
    format!("/oidc/authorize?{}", q.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(prompt_login: bool, max_age: Option<i64>) -> Checked {
        Checked {
            redirect_uri: String::new(),
            state: None,
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            prompt_none: false,
            prompt_login,
            max_age,
        }
    }

    #[test]
    fn fresh_sign_in_rules() {
        let p = AuthorizeParams::default();
        assert_eq!(
            sign_in_needed(&checked(false, None), &p, None, 100),
            Some(false)
        );
        assert_eq!(
            sign_in_needed(&checked(false, None), &p, Some(1), 100),
            None
        );
        assert_eq!(
            sign_in_needed(&checked(true, None), &p, Some(99), 100),
            Some(true)
        );
        assert_eq!(
            sign_in_needed(&checked(false, Some(10)), &p, Some(80), 100),
            Some(true)
        );
        assert_eq!(
            sign_in_needed(&checked(false, Some(10)), &p, Some(95), 100),
            None
        );
        let back = AuthorizeParams {
            usher_fresh: Some(90),
            ..Default::default()
        };
        assert_eq!(
            sign_in_needed(&checked(true, Some(0)), &back, Some(95), 100),
            None
        );
        assert_eq!(
            sign_in_needed(&checked(true, None), &back, Some(80), 100),
            Some(true)
        );
    }

    #[test]
    fn the_return_path_drops_prompt_login() {
        let p = AuthorizeParams {
            client_id: Some("app".into()),
            prompt: Some("login consent".into()),
            state: Some("a b&c".into()),
            ..Default::default()
        };
        let path = return_path(&p, Some(42));
        assert_eq!(
            path,
            "/oidc/authorize?client_id=app&state=a+b%26c&prompt=consent&usher_fresh=42"
        );
    }
}
