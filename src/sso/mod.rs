//! Single sign-on into the apps behind Usher: after one login, Usher signs the person into each
//! enabled app and hands the browser what that app reads (a cookie, or a localStorage item for
//! apps served from Usher's own origin).
//!
//! Each app is one module behind the [`SsoApp`] trait; [`run`] signs into all of them at once,
//! each under its own timeout and all under one overall deadline, so a slow or dead app costs
//! only its own SSO, never the login. Nothing here touches the router or the store: the caller
//! (the sign-in flow) turns the [`Outcome`]s into cookies and per-session records.

/// Implements [`SsoApp`] for an app module's type: its `APP` name, `up: Upstream`, and inherent
/// `sign_in_inner` / `check_inner` methods (one place for what every app module shares).
macro_rules! sso_app {
    ($ty:ty) => {
        impl $crate::sso::SsoApp for $ty {
            fn app(&self) -> &'static str {
                APP
            }

            fn instance(&self) -> String {
                self.up.base.to_string()
            }

            fn sign_in<'a>(
                &'a self,
                who: &'a $crate::sso::Identity,
            ) -> $crate::sso::SsoFuture<'a, $crate::sso::Grant> {
                Box::pin(self.sign_in_inner(who))
            }

            fn check(&self) -> $crate::sso::SsoFuture<'_, $crate::sso::Check> {
                Box::pin(self.check_inner())
            }
        }
    };
}

pub mod jellyfin;
pub mod ombi;
pub mod overseerr;
pub mod plan;
pub mod tautulli;
mod upstream;

pub use upstream::{
    endpoint, http_client, parse_base_url, parse_utc, response_cookies, retry_after,
    transport_error, Upstream,
};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

/// The future an [`SsoApp`] returns (boxed so apps can live behind `dyn`).
pub type SsoFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SsoError>> + Send + 'a>>;

/// Who is being signed in, and the credentials Usher may use for them.
#[derive(Debug, Clone)]
pub struct Identity {
    pub username: String,
    pub email: Option<String>,
    /// The password just typed, when the person signed in with one (the seed: same username and
    /// password everywhere).
    pub password: Option<SecretString>,
    /// The person's Plex token, when they signed in through Plex.
    pub plex_token: Option<SecretString>,
}

/// A cookie Usher sets in the browser for an app, exactly as it will later delete it.
#[derive(Debug, Clone)]
pub struct CookiePlan {
    pub name: String,
    pub value: SecretString,
    /// `None` = host-only (Usher's own host).
    pub domain: Option<String>,
    pub path: String,
    /// Seconds; `None` = a browser-session cookie.
    pub max_age: Option<i64>,
    /// False only where the app's own JavaScript must read the cookie (Ombi's `/auth/cookie`).
    pub http_only: bool,
}

/// A localStorage item the portal page writes for an app served from Usher's own origin.
#[derive(Debug, Clone)]
pub struct StorageItem {
    pub key: String,
    pub value: SecretString,
}

/// What a successful sign-in into one app gives the browser.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    pub cookies: Vec<CookiePlan>,
    pub storage: Vec<StorageItem>,
    /// How long the app keeps this sign-in, in seconds, when known (drives refresh).
    pub lifetime: Option<i64>,
    /// Which account was used, when it was not the person's own (a fallback user).
    pub used_fallback: bool,
}

/// What a configuration check of one app found (the debug area's `url` and `api` columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The URL answered and looks like the right product.
    pub url_ok: bool,
    /// The API key was accepted; `None` when no key is configured.
    pub api_ok: Option<bool>,
    /// What was found, in words.
    pub detail: String,
}

/// Why an app's SSO did not work, in words a homelab admin acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoError {
    #[error("{app} at {url} could not be reached: {reason}")]
    Unreachable {
        app: &'static str,
        url: String,
        reason: String,
    },
    #[error("{app} at {url} did not answer within {seconds} s")]
    Timeout {
        app: &'static str,
        url: String,
        seconds: u64,
    },
    #[error("{app} at {url} refused the sign-in of {user}: wrong password, or the user does not exist in {app}")]
    Rejected {
        app: &'static str,
        url: String,
        user: String,
    },
    #[error("{app} at {url} answered 403: CSRF token missing or wrong — set its API key in Usher")]
    Csrf { app: &'static str, url: String },
    #[error("{app} at {url} is refusing sign-ins for now (too many attempts); it says to wait {retry_after} s")]
    RateLimited {
        app: &'static str,
        url: String,
        retry_after: u64,
    },
    #[error("{app} at {url} rejected the API key")]
    BadApiKey { app: &'static str, url: String },
    #[error("{app}: {reason}")]
    NoCredentials { app: &'static str, reason: String },
    #[error("{app} at {url} answered unexpectedly: {detail}")]
    Unexpected {
        app: &'static str,
        url: String,
        detail: String,
    },
    #[error("{app}: configuration problem: {reason}")]
    Config { app: &'static str, reason: String },
}

impl SsoError {
    /// The app the error is about.
    pub fn app(&self) -> &'static str {
        match self {
            SsoError::Unreachable { app, .. }
            | SsoError::Timeout { app, .. }
            | SsoError::Rejected { app, .. }
            | SsoError::Csrf { app, .. }
            | SsoError::RateLimited { app, .. }
            | SsoError::BadApiKey { app, .. }
            | SsoError::NoCredentials { app, .. }
            | SsoError::Unexpected { app, .. }
            | SsoError::Config { app, .. } => app,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SsoError::Unreachable { .. } => "app_unreachable",
            SsoError::Timeout { .. } => "app_timeout",
            SsoError::Rejected { .. } => "app_rejected_user",
            SsoError::Csrf { .. } => "app_csrf",
            SsoError::RateLimited { .. } => "app_rate_limited",
            SsoError::BadApiKey { .. } => "app_bad_api_key",
            SsoError::NoCredentials { .. } => "no_credentials",
            SsoError::Unexpected { .. } => "app_unexpected_answer",
            SsoError::Config { .. } => "app_misconfigured",
        }
    }
}

/// One app Usher signs people into.
pub trait SsoApp: Send + Sync {
    /// The app's name as people know it ("Tautulli").
    fn app(&self) -> &'static str;
    /// The instance, for logs and the debug area (its server-side URL).
    fn instance(&self) -> String;
    /// Signs `who` in and returns what the browser needs.
    fn sign_in<'a>(&'a self, who: &'a Identity) -> SsoFuture<'a, Grant>;
    /// Checks the configuration without signing anybody in.
    fn check(&self) -> SsoFuture<'_, Check>;
}

/// The result of one app's SSO at a login.
#[derive(Debug)]
pub struct Outcome {
    pub app: &'static str,
    pub instance: String,
    pub result: Result<Grant, SsoError>,
    pub elapsed: Duration,
}

/// Signs `who` into every app at once: each under `per_app`, all under `overall`. Apps still
/// running at the deadline are abandoned and reported as timed out; the order of the outcomes
/// is the order of `apps`.
pub async fn run(
    apps: &[Arc<dyn SsoApp>],
    who: Arc<Identity>,
    per_app: Duration,
    overall: Duration,
) -> Vec<Outcome> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + overall;
    let mut set = tokio::task::JoinSet::new();
    for (index, app) in apps.iter().enumerate() {
        let app = app.clone();
        let who = who.clone();
        set.spawn(async move {
            let began = Instant::now();
            let result = match tokio::time::timeout(per_app, app.sign_in(&who)).await {
                Ok(result) => result,
                Err(_) => Err(timeout_error(app.as_ref(), per_app)),
            };
            (index, result, began.elapsed())
        });
    }
    let mut results: Vec<Option<(Result<Grant, SsoError>, Duration)>> =
        apps.iter().map(|_| None).collect();
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, set.join_next()).await {
        match joined {
            Ok((index, result, elapsed)) => results[index] = Some((result, elapsed)),
            Err(e) => tracing::error!(error = %e, "an SSO task failed"),
        }
    }
    set.abort_all();
    apps.iter()
        .zip(results)
        .map(|(app, done)| {
            let (result, elapsed) = done
                .unwrap_or_else(|| (Err(timeout_error(app.as_ref(), overall)), start.elapsed()));
            Outcome {
                app: app.app(),
                instance: app.instance(),
                result,
                elapsed,
            }
        })
        .collect()
}

fn timeout_error(app: &dyn SsoApp, after: Duration) -> SsoError {
    SsoError::Timeout {
        app: app.app(),
        url: app.instance(),
        seconds: after.as_secs().max(1),
    }
}

/// The password of `who`, or a typed error naming the app.
pub fn password_of<'a>(app: &'static str, who: &'a Identity) -> Result<&'a str, SsoError> {
    who.password
        .as_ref()
        .map(|p| p.expose_secret())
        .ok_or_else(|| SsoError::NoCredentials {
            app,
            reason: format!(
                "{} signed in without a password and has no Plex token to offer",
                who.username
            ),
        })
}

/// A fallback account an app's SSO may use when the person's own is refused (seed: Ombi and
/// Overseerr "fallback user").
#[derive(Debug, Clone)]
pub struct Fallback {
    pub username: String,
    pub password: SecretString,
}

impl Fallback {
    /// The identity to sign in as instead of `who`.
    pub fn identity(&self) -> Identity {
        Identity {
            username: self.username.clone(),
            email: Some(self.username.clone()),
            password: Some(self.password.clone()),
            plex_token: None,
        }
    }
}

/// Runs `attempt` as `who`; when the app refuses that person (or they have no usable
/// credentials) and a fallback user is configured, runs it again as the fallback user.
/// Returns the result and whether the fallback was used.
pub async fn with_fallback<T, F, Fut>(
    fallback: Option<&Fallback>,
    who: &Identity,
    attempt: F,
) -> Result<(T, bool), SsoError>
where
    F: Fn(Identity) -> Fut,
    Fut: Future<Output = Result<T, SsoError>>,
{
    match attempt(who.clone()).await {
        Ok(v) => Ok((v, false)),
        Err(SsoError::Rejected { .. } | SsoError::NoCredentials { .. }) if fallback.is_some() => {
            let fallback = fallback.expect("checked above").identity();
            Ok((attempt(fallback).await?, true))
        }
        Err(e) => Err(e),
    }
}
