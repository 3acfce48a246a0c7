//! Sign-in flows and account management. Every flow resolves *who this is* into a local user and
//! then ends in [`Core::start_session`], the one place sessions are made.

pub mod accounts;
pub mod groups;
pub mod password;
pub mod plex;
pub mod sessions;
pub mod setup;
pub mod sso;
pub mod sso_debug;
pub mod tabs;
pub mod throttle;
pub mod two_factor;

use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::AuditEvent;
use crate::core::Core;
use crate::domain::session::{hash_hex, TokenHash};
use crate::domain::{now, now_coarse, SessionMethod, SessionToken, SessionView, User};
use crate::store::{Actor, NewSession, StorageProblem, StoreError};
use password::Verified;
use throttle::ThrottleKey;

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
    /// A value refused, naming the field (400).
    #[error("{0}")]
    InvalidField(crate::domain::tab::FieldError),
    /// A change that clashes with what exists, naming the field (409).
    #[error("{0}")]
    FieldConflict(crate::domain::tab::FieldError),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    /// Settings only the Admin (group 0) may change, named (403; nothing was saved).
    #[error("only the Admin (group 0) may change {}; nothing was saved", .0.join(", "))]
    AdminOnlySettings(Vec<String>),
    #[error("{0}")]
    Internal(String),
    /// plex.tv refused or failed (never `BadCredentials`: that is [`AuthError::InvalidCredentials`]).
    #[error("{0}")]
    Plex(crate::plex::PlexError),
    /// The Plex account is real but may not enter (not the owner, not a friend, no share).
    #[error("this Plex account may not sign in here: {0}")]
    PlexNotAllowed(String),
    /// Sign in with Plex is not set up (backend off, no token, OAuth off).
    #[error("{0}")]
    PlexNotConfigured(String),
    /// The owner's token in `plex.token` was refused by plex.tv.
    #[error("plex.tv refused the server owner's Plex token saved in Usher (plex.token); an administrator must retrieve a new one")]
    PlexAdminTokenInvalid,
    /// A Plex PIN that this browser did not start (or no longer holds).
    #[error("this Plex sign-in was not started in this browser; start again")]
    PinNotFound,
    /// A Plex PIN that expired before it was approved.
    #[error("the Plex sign-in took too long and expired; start again")]
    PinExpired,
    /// A Plex PIN that already signed someone in.
    #[error("this Plex sign-in was already used; start again")]
    PinUsed,
    /// The database does not answer (503): nothing that needs it can be vouched for.
    #[error("the store (database) is unavailable; try again shortly")]
    StoreDown,
    /// The store answers but its disk is full (507): nothing can be saved until space is freed.
    #[error("nothing can be saved: the disk that holds Usher's data is full; people already signed in keep their access")]
    StorageFull,
    /// The store answers but is read-only (503): nothing can be saved until it is writable.
    #[error("nothing can be saved: Usher's data is on a read-only disk; people already signed in keep their access")]
    StorageReadOnly,
    /// The password was right and the account has two-factor on: send it again with `code`.
    #[error("enter the 6-digit code from your authenticator app, or a recovery code")]
    TwoFactorRequired,
    /// The two-factor code was wrong, or already used.
    #[error("that two-factor code is wrong or was already used; wait for the next code")]
    WrongTwoFactorCode,
}

impl AuthError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::Locked => "account_locked",
            AuthError::Throttled(_) => "too_many_attempts",
            AuthError::InvalidInput(_) => "invalid_input",
            AuthError::Conflict(_) | AuthError::FieldConflict(_) => "conflict",
            AuthError::InvalidField(_) => "invalid_input",
            AuthError::NotFound => "not_found",
            AuthError::Forbidden(_) | AuthError::AdminOnlySettings(_) => "forbidden",
            AuthError::Internal(_) => "internal",
            AuthError::Plex(e) => match e {
                crate::plex::PlexError::Timeout { .. } => "plex_unreachable",
                e => e.code(),
            },
            AuthError::PlexNotAllowed(_) => "plex_not_allowed",
            AuthError::PlexNotConfigured(_) => "plex_not_configured",
            AuthError::PlexAdminTokenInvalid => "plex_admin_token_invalid",
            AuthError::PinNotFound => "pin_not_found",
            AuthError::PinExpired => "pin_expired",
            AuthError::PinUsed => "pin_used",
            AuthError::StoreDown => "store_unavailable",
            AuthError::StorageFull => "storage_full",
            AuthError::StorageReadOnly => "storage_read_only",
            AuthError::TwoFactorRequired => "two_factor_required",
            AuthError::WrongTwoFactorCode => "wrong_two_factor_code",
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(field) => AuthError::Conflict(field),
            StoreError::NotFound => AuthError::NotFound,
            StoreError::NameTaken { name, retired } => {
                AuthError::FieldConflict(name_taken(&name, retired))
            }
            // Logged with the data dir by the HTTP layer, which knows it (http/error.rs).
            e if e.storage_problem() == Some(StorageProblem::Full) => AuthError::StorageFull,
            e if e.storage_problem() == Some(StorageProblem::ReadOnly) => {
                AuthError::StorageReadOnly
            }
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "store unavailable");
                AuthError::StoreDown
            }
            other => {
                tracing::error!(error = %other, "store error");
                AuthError::Internal("the database could not complete the request".into())
            }
        }
    }
}

/// Why a username that looks like a held or retired one is refused, for the admin who chose it.
fn name_taken(existing: &str, retired: bool) -> crate::domain::tab::FieldError {
    let reason = if retired {
        format!("looks like \"{existing}\", the name of an account that was deleted or renamed; apps behind Usher may still know that person by it. To give it to this account on purpose, repeat with reuse_retired_name (CLI: --reuse-retired-name)")
    } else {
        format!("looks like the existing account \"{existing}\" (names are compared ignoring case, width, invisible characters and look-alike letters)")
    };
    crate::domain::tab::FieldError::new("username", reason)
}

impl From<crate::domain::tab::FieldError> for AuthError {
    fn from(e: crate::domain::tab::FieldError) -> Self {
        AuthError::InvalidField(e)
    }
}

impl From<crate::domain::user::InvalidInput> for AuthError {
    /// Names the field, so forms can show the reason next to it (`error.fields`).
    fn from(e: crate::domain::user::InvalidInput) -> Self {
        use crate::domain::user::InvalidInput as I;
        let field = match e {
            I::UsernameLength | I::UsernameChars | I::UsernameInvisible => "username",
            I::Email | I::EmailInvisible => "email",
            I::PasswordLength => "password",
            I::Group(_) => "group_id",
        };
        let text = e.to_string();
        // "password must be …" → field "password", reason "must be …".
        let reason = text
            .strip_prefix(field)
            .map(str::trim_start)
            .unwrap_or(&text)
            .to_string();
        AuthError::InvalidField(crate::domain::tab::FieldError::new(field, reason))
    }
}

/// Where a request came from, for sessions, throttling and the audit log.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

/// A password sign-in attempt. `Debug` masks the password and the code.
pub struct PasswordLogin {
    /// Username or email.
    pub login: String,
    pub password: String,
    pub remember: bool,
    /// The two-factor code (Usher's own, or Plex's), sent again with the password after a
    /// `two_factor_required` answer.
    pub code: Option<String>,
}

impl std::fmt::Debug for PasswordLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordLogin")
            .field("login", &self.login)
            .field("password", &"********")
            .field("remember", &self.remember)
            .field("code", &self.code.as_ref().map(|_| "******"))
            .finish()
    }
}

/// The result of any successful sign-in: the session to put in the cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub token: SessionToken,
    /// The session's row id (its SSO records hang off it).
    pub session_id: i64,
    /// How the person signed in (decides whether SSO may use their Plex token).
    pub method: SessionMethod,
    pub expires_at: i64,
    /// Cookie lifetime in seconds.
    pub max_age: i64,
}

/// Longest login name accepted before any lookup.
const MAX_LOGIN_CHARS: usize = 254;

/// Checks the shape of a password sign-in; returns the trimmed login.
pub(crate) fn check_login_input(attempt: &PasswordLogin) -> Result<&str, AuthError> {
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
    Ok(login)
}

impl Core {
    /// Signs in with a local username/email and password.
    pub async fn login_local(
        &self,
        attempt: PasswordLogin,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let login = check_login_input(&attempt)?;
        let found = self.store.find_user_for_login(login).await?;
        let key = ThrottleKey::of(found.as_ref().map(|(u, _)| u.id), login);
        self.check_throttle(&key, login, client).await?;
        match self.local_password(found, &attempt.password).await? {
            Ok(user) => {
                self.check_second_factor(&user, attempt.code.as_deref(), &key, client)
                    .await?;
                self.throttle.success(&key).await?;
                self.start_local_session(user, attempt.remember, client)
                    .await
            }
            Err(reason) => {
                self.login_failed(&key, login, SessionMethod::Local, reason, client)
                    .await?;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Refuses a sign-in while the account (or name) or the client IP is throttled. The account
    /// is looked up before this for known and unknown names alike, so the answer and its
    /// timing do not tell them apart.
    pub(crate) async fn check_throttle(
        &self,
        key: &ThrottleKey,
        login: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let cfg = self.settings().throttle;
        if let Err(wait) = self.throttle.check(key, client.ip, cfg, now()).await? {
            tracing::warn!(user = %login, ip = %client.ip, wait_seconds = wait, "login refused: throttled");
            return Err(AuthError::Throttled(wait));
        }
        Ok(())
    }

    /// Counts, logs and audits a failed sign-in (the audit entry names the account, never the
    /// typed text: see src/audit.rs).
    pub(crate) async fn login_failed(
        &self,
        key: &ThrottleKey,
        login: &str,
        method: SessionMethod,
        reason: &'static str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        tracing::warn!(user = %login, ip = %client.ip, reason, "login failed");
        let user = match key {
            ThrottleKey::Account(id) => Some(*id),
            ThrottleKey::Unknown(_) => None,
        };
        self.refused(method, user, reason, client);
        let cfg = self.settings().throttle;
        Ok(self.throttle.failure(key, client.ip, cfg, now()).await?)
    }

    /// Audits a refused sign-in that the throttle does not count (a locked account, a Plex
    /// account without access).
    pub(crate) fn refused(
        &self,
        method: SessionMethod,
        user: Option<crate::domain::UserId>,
        reason: &'static str,
        client: &ClientInfo,
    ) {
        let event = AuditEvent::SignInFailed {
            method,
            user,
            reason,
        };
        self.record_failure(event, &Actor::from_client(client));
    }

    /// Checks a local password against the account a sign-in named (from
    /// [`Store::find_user_for_login`](crate::store::Store::find_user_for_login)): the user, or
    /// why not (for the log). Upgrades old bcrypt hashes.
    pub(crate) async fn local_password(
        &self,
        found: Option<(User, Option<String>)>,
        password: &str,
    ) -> Result<Result<User, &'static str>, AuthError> {
        let stored_hash = found.as_ref().and_then(|(_, h)| h.clone());
        let verified = password::verify(password.to_string(), stored_hash.clone()).await;
        let (user, rehash) = match (found, verified) {
            (Some((user, _)), Verified::Yes { rehash }) => (user, rehash),
            (Some(_), _) => return Ok(Err("wrong password")),
            (None, _) => return Ok(Err("unknown user")),
        };
        if let (true, Some(old)) = (rehash, stored_hash) {
            let new_hash = password::hash(password.to_string()).await;
            if let Err(e) = self.store.rehash_password(user.id, &old, &new_hash).await {
                tracing::warn!(user = %user.username, error = %e, "could not upgrade bcrypt hash");
            }
        }
        Ok(Ok(user))
    }

    /// Starts the session of a local-password sign-in (refusing locked accounts).
    pub(crate) async fn start_local_session(
        &self,
        user: User,
        remember: bool,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        if user.locked {
            tracing::warn!(user = %user.username, ip = %client.ip, reason = "locked", "login refused");
            self.refused(SessionMethod::Local, Some(user.id), "locked", client);
            return Err(AuthError::Locked);
        }
        let signed_in = self
            .start_session(user, SessionMethod::Local, remember, client)
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
        let session_id = self.store.create_session(&new, &actor).await?;
        Ok(SignedIn {
            user,
            token,
            session_id,
            method,
            expires_at,
            max_age,
        })
    }

    /// The session behind a cookie's token hash: from the cache, else from the store.
    /// `Err(StoreDown)` when it is not cached and the store does not answer: the caller cannot
    /// say whether it is valid, so must not answer as if it knew (never a pass, never "signed
    /// out" as if the store had said so).
    pub async fn session(&self, hash: &TokenHash) -> Result<Option<Arc<SessionView>>, AuthError> {
        // One coarse clock read for the cache's time to live and the session's expiry.
        let at = now_coarse();
        if let Some(view) = self.sessions.get(hash, at) {
            self.metrics.session_cache(true);
            return Ok((view.expires_at > at).then_some(view));
        }
        if self.sessions.is_missing(hash) {
            self.metrics.session_cache(true);
            return Ok(None);
        }
        self.metrics.session_cache(false);
        let generation = self.sessions.generation();
        match self.store.load_session_view(&hash_hex(hash)).await {
            Ok(Some(view)) => Ok(Some(self.sessions.insert(*hash, view, generation, at))),
            Ok(None) => {
                self.sessions.mark_missing(*hash);
                Ok(None)
            }
            Err(e) if e.is_unavailable() => {
                self.store_went_away();
                tracing::error!(error = %e, "session lookup failed: store unavailable");
                Err(AuthError::StoreDown)
            }
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                Ok(None)
            }
        }
    }

    /// Ends the session with this hash (sign-out).
    pub async fn logout(&self, hash: &TokenHash, client: &ClientInfo) -> Result<(), AuthError> {
        let view = self.sessions.get(hash, now_coarse());
        let user = view.as_ref().map(|v| v.username.clone());
        self.sessions.invalidate(hash);
        // The person signing out is who acted (when their session is cached; else the entry's
        // target still names them).
        let actor = Actor {
            user_id: view.map(|v| v.user_id),
            ip: Some(client.ip.to_string()),
        };
        if self.store.end_session(&hash_hex(hash), &actor).await? {
            tracing::info!(user = user.as_deref().unwrap_or("?"), ip = %client.ip, "logout: session ended");
        }
        Ok(())
    }
}
