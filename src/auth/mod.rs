//! Sign-in flows and account management. Every flow resolves *who this is* into a local user and
//! then ends in [`Core::start_session`], the one place sessions are made.

pub mod accounts;
pub mod password;
pub mod sessions;
pub mod setup;
pub mod throttle;

use std::net::IpAddr;
use std::sync::Arc;

use crate::core::Core;
use crate::domain::session::{hash_hex, TokenHash};
use crate::domain::{now, SessionMethod, SessionToken, SessionView, User};
use crate::store::{Actor, NewSession, StoreError};
use password::Verified;

/// Errors of sign-in and account operations, each with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("this account is locked; ask an administrator to unlock it")]
    Locked,
    #[error("too many failed sign-ins; try again in {0} seconds")]
    Throttled(u64),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Internal(String),
}

impl AuthError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::Locked => "account_locked",
            AuthError::Throttled(_) => "too_many_attempts",
            AuthError::InvalidInput(_) => "invalid_input",
            AuthError::Conflict(_) => "conflict",
            AuthError::NotFound => "not_found",
            AuthError::Forbidden(_) => "forbidden",
            AuthError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(field) => AuthError::Conflict(field),
            StoreError::NotFound => AuthError::NotFound,
            other => {
                tracing::error!(error = %other, "store error");
                AuthError::Internal("the database could not complete the request".into())
            }
        }
    }
}

impl From<crate::domain::user::InvalidInput> for AuthError {
    fn from(e: crate::domain::user::InvalidInput) -> Self {
        AuthError::InvalidInput(e.to_string())
    }
}

/// Where a request came from, for sessions, throttling and the audit log.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

/// A password sign-in attempt.
#[derive(Debug)]
pub struct PasswordLogin {
    /// Username or email.
    pub login: String,
    pub password: String,
    pub remember: bool,
}

/// The result of any successful sign-in: the session to put in the cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub token: SessionToken,
    pub expires_at: i64,
    /// Cookie lifetime in seconds.
    pub max_age: i64,
}

/// Longest login name accepted before any lookup.
const MAX_LOGIN_CHARS: usize = 254;

impl Core {
    /// Signs in with a local username/email and password.
    pub async fn login_local(
        &self,
        attempt: PasswordLogin,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let login = attempt.login.trim();
        if login.is_empty() || attempt.password.is_empty() {
            return Err(AuthError::InvalidInput(
                "username and password are required".into(),
            ));
        }
        if login.chars().count() > MAX_LOGIN_CHARS
            || attempt.password.len() > crate::domain::user::MAX_PASSWORD_BYTES
        {
            return Err(AuthError::InvalidInput(
                "username or password is too long".into(),
            ));
        }
        if login.chars().any(char::is_control) {
            // No name or email may hold one, and PostgreSQL refuses NUL in text outright.
            return Err(AuthError::InvalidInput(
                "username contains control characters".into(),
            ));
        }
        let user_key = crate::domain::user::fold(login);
        let cfg = self.settings().throttle;
        if let Err(wait) = self.throttle.check(&user_key, client.ip, cfg, now()) {
            tracing::warn!(user = %login, ip = %client.ip, wait_seconds = wait, "login refused: throttled");
            return Err(AuthError::Throttled(wait));
        }
        let found = self.store.find_user_for_login(login).await?;
        let stored_hash = found.as_ref().and_then(|(_, h)| h.clone());
        let verified = password::verify(attempt.password.clone(), stored_hash.clone()).await;
        let (user, rehash) = match (found, verified) {
            (Some((user, _)), Verified::Yes { rehash }) => (user, rehash),
            (found, _) => {
                self.throttle.failure(&user_key, client.ip, cfg, now());
                let reason = if found.is_some() {
                    "wrong password"
                } else {
                    "unknown user"
                };
                tracing::warn!(user = %login, ip = %client.ip, reason, "login failed");
                return Err(AuthError::InvalidCredentials);
            }
        };
        self.throttle.success(&user_key);
        if user.locked {
            tracing::warn!(user = %user.username, ip = %client.ip, reason = "locked", "login refused");
            return Err(AuthError::Locked);
        }
        if let (true, Some(old)) = (rehash, stored_hash) {
            let new_hash = password::hash(attempt.password).await;
            if let Err(e) = self.store.rehash_password(user.id, &old, &new_hash).await {
                tracing::warn!(user = %user.username, error = %e, "could not upgrade bcrypt hash");
            }
        }
        let signed_in = self
            .start_session(user, SessionMethod::Local, attempt.remember, client)
            .await?;
        tracing::info!(user = %signed_in.user.username, ip = %client.ip, method = "local", "login succeeded");
        Ok(signed_in)
    }

    /// Creates the session for a person whose identity a flow has established. The one place
    /// sessions are made (later: SSO plans and two-factor steps hang off here).
    pub async fn start_session(
        &self,
        user: User,
        method: SessionMethod,
        remember: bool,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let days = if remember {
            self.settings().remember_days
        } else {
            1
        };
        let max_age = days * 86_400;
        let expires_at = now() + max_age;
        let token = SessionToken::generate();
        let new = NewSession {
            token_hash: hash_hex(&token.hash()),
            user_id: user.id,
            expires_at,
            ip: Some(client.ip.to_string()),
            user_agent: client.user_agent.clone(),
            remember,
            method,
        };
        let actor = Actor {
            user_id: Some(user.id),
            ip: Some(client.ip.to_string()),
        };
        self.store.create_session(&new, &actor).await?;
        Ok(SignedIn {
            user,
            token,
            expires_at,
            max_age,
        })
    }

    /// The session behind a cookie's token hash: from the cache, else from the store.
    pub async fn session(&self, hash: &TokenHash) -> Option<Arc<SessionView>> {
        if let Some(view) = self.sessions.get(hash) {
            return (view.expires_at > now()).then_some(view);
        }
        let generation = self.sessions.generation();
        match self.store.load_session_view(&hash_hex(hash)).await {
            Ok(Some(view)) => {
                let view = Arc::new(view);
                self.sessions.insert(*hash, view.clone(), generation);
                Some(view)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                None
            }
        }
    }

    /// Ends the session with this hash (sign-out).
    pub async fn logout(&self, hash: &TokenHash, client: &ClientInfo) -> Result<(), AuthError> {
        let user = self.sessions.get(hash).map(|v| v.username.clone());
        self.sessions.invalidate(hash);
        let actor = Actor {
            user_id: None,
            ip: Some(client.ip.to_string()),
        };
        if self.store.end_session(&hash_hex(hash), &actor).await? {
            tracing::info!(user = user.as_deref().unwrap_or("?"), ip = %client.ip, "logout: session ended");
        }
        Ok(())
    }
}
