//! Password sign-in as `auth_type` says (Usher's own password, Plex's, or both), and the sign-in
//! with a Plex token that the PIN flow ends in. Both end in [`Core::start_session`].

use super::access::{decide, is_named_admin, Access, Who};
use crate::auth::throttle::ThrottleKey;
use crate::auth::{check_login_input, AuthError, ClientInfo, PasswordLogin, SignedIn};
use crate::core::Core;
use crate::domain::SessionMethod;
use crate::metrics::LoginMethod;
use crate::plex::{PlexAccount, PlexError, PlexToken};
use crate::settings::AuthType;
use crate::store::Actor;

impl Core {
    /// Password sign-in (`POST /api/v2/login`, the login form) according to `auth_type`:
    /// `local` checks Usher's own password; `local_and_backend` Usher's own password first, then
    /// plex.tv (so local accounts work while plex.tv is down); `backend` plex.tv only.
    pub async fn login(
        &self,
        attempt: PasswordLogin,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let result = self.password_login(attempt, client).await;
        self.metrics.login(LoginMethod::Password, &result);
        result
    }

    async fn password_login(
        &self,
        attempt: PasswordLogin,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let auth_type = self.settings().auth_type;
        if auth_type == AuthType::Local {
            return self.login_local(attempt, client).await;
        }
        let login = check_login_input(&attempt)?;
        let found = self.store.find_user_for_login(login).await?;
        let account = match &found {
            Some((user, _)) => Some(user.id),
            // The name plex.tv knows a linked account by counts against that account too.
            None => self.store.find_user_by_plex_username(login).await?,
        };
        let user_key = ThrottleKey::of(account, login);
        self.check_throttle(&user_key, login, client).await?;
        if auth_type == AuthType::LocalAndBackend {
            if let Ok(user) = self.local_password(found, &attempt.password).await? {
                self.check_second_factor(&user, attempt.code.as_deref(), &user_key, client)
                    .await?;
                self.throttle.success(&user_key).await?;
                return self
                    .start_local_session(user, attempt.remember, client)
                    .await;
            }
        }
        let plex = self.plex_client()?;
        let answer = plex
            .sign_in(login, &attempt.password, attempt.code.as_deref())
            .await;
        let account = match answer {
            Ok(account) => account,
            Err(PlexError::BadCredentials) => {
                self.login_failed(
                    &user_key,
                    login,
                    SessionMethod::PlexPassword,
                    "plex.tv refused the password",
                    client,
                )
                .await?;
                return Err(AuthError::InvalidCredentials);
            }
            Err(PlexError::WrongTwoFactorCode) => {
                self.login_failed(
                    &user_key,
                    login,
                    SessionMethod::PlexPassword,
                    "wrong Plex two-factor code",
                    client,
                )
                .await?;
                return Err(AuthError::Plex(PlexError::WrongTwoFactorCode));
            }
            Err(PlexError::TwoFactorRequired) => {
                tracing::info!(user = %login, ip = %client.ip, "Plex asks for a two-factor code");
                return Err(AuthError::Plex(PlexError::TwoFactorRequired));
            }
            Err(e) => {
                tracing::warn!(user = %login, ip = %client.ip, code = e.code(), error = %e, "Plex sign-in failed");
                return Err(AuthError::Plex(e));
            }
        };
        self.throttle.success(&user_key).await?;
        self.admit(
            &account,
            SessionMethod::PlexPassword,
            attempt.remember,
            attempt.code.as_deref(),
            client,
        )
        .await
    }

    /// Signs in the Plex account behind a token (the end of the PIN flow).
    pub async fn login_plex_token(
        &self,
        token: &PlexToken,
        remember: bool,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let account = self.plex_client()?.account(token).await.map_err(|e| {
            tracing::warn!(ip = %client.ip, code = e.code(), error = %e, "Plex token sign-in failed");
            AuthError::Plex(e)
        })?;
        self.admit(&account, SessionMethod::PlexOauth, remember, None, client)
            .await
    }

    /// Decides whether a Plex account may enter, resolves its local user and starts the session.
    async fn admit(
        &self,
        account: &PlexAccount,
        method: SessionMethod,
        remember: bool,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let name = account.display_name().to_string();
        let settings = self.settings().plex.clone();
        let who = Who::from(account);
        let access = match self.friends_for_sign_in().await {
            Ok(snapshot) => decide(who, &snapshot, &settings),
            // The owner named in plex.admin gets in even when the friends list cannot be read.
            Err(e) if is_named_admin(who, &settings, None) => {
                tracing::warn!(plex_user = %name, code = e.code(), error = %e, "cannot read the Plex friends list; admitting the account named in plex.admin");
                Access::Owner
            }
            Err(e) => {
                tracing::warn!(plex_user = %name, code = e.code(), error = %e, "cannot read the Plex friends list");
                return Err(e);
            }
        };
        if let Access::Denied(why) = access {
            tracing::warn!(plex_user = %name, plex_id = account.id, ip = %client.ip, reason = %why, "Plex sign-in refused");
            let known = self
                .store
                .find_user_by_plex_id(account.id)
                .await?
                .map(|u| u.id);
            self.refused(method, known, "not allowed on this Plex server", client);
            return Err(AuthError::PlexNotAllowed(why));
        }
        let actor = Actor {
            user_id: None,
            ip: Some(client.ip.to_string()),
        };
        let user = self
            .plex_user(account, matches!(access, Access::Owner), &actor)
            .await?;
        if user.locked {
            tracing::warn!(user = %user.username, ip = %client.ip, reason = "locked", "login refused");
            self.refused(method, Some(user.id), "locked", client);
            return Err(AuthError::Locked);
        }
        // A linked account with Usher's two-factor on is asked for its code here too, unless
        // the Admin lets Plex sign-ins rely on Plex's own two-factor.
        if !self.settings().two_factor.skip_for_plex {
            let key = ThrottleKey::Account(user.id);
            match self.check_second_factor(&user, code, &key, client).await {
                // "Sign in with Plex" has no place to type a code.
                Err(AuthError::TwoFactorRequired) if method == SessionMethod::PlexOauth => {
                    return Err(AuthError::PlexNotAllowed(
                        "this account has Usher's two-factor sign-in on: sign in with the username, password and code instead".into(),
                    ));
                }
                other => other?,
            }
        }
        let signed_in = self.start_session(user, method, remember, client).await?;
        tracing::info!(
            user = %signed_in.user.username,
            plex_id = account.id,
            ip = %client.ip,
            method = method.as_str(),
            owner = matches!(access, Access::Owner),
            "login succeeded"
        );
        Ok(signed_in)
    }
}
