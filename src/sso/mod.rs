//! Single sign-on into the apps behind Usher: after one login, Usher signs the person into each
//! enabled app and hands the browser what that app reads (a cookie, or a localStorage item for
//! apps served from Usher's own origin).
//!
//! Each app is one module behind the [`SsoApp`] trait; [`run`] signs into all of them at once,
//! each under its own timeout and all under one overall deadline, so a slow or dead app costs
//! only its own SSO, never the login. Nothing here touches the router or the store: the caller
//! (the sign-in flow) turns the [`Outcome`]s into cookies and per-session records.

/// Implements [`SsoApp`] for an app module's type: its `APP` name, `up: Upstream`, inherent
/// `sign_in_inner` / `check_inner` methods, and how long the app holds a refused sign-in against
/// Usher (one place for what every app module shares).
macro_rules! sso_app {
    ($ty:ty, lockout_window = $window:expr) => {
        impl $crate::sso::SsoApp for $ty {
            fn app(&self) -> &'static str {
                APP
            }

            fn instance(&self) -> String {
                self.up.base.to_string()
            }

            fn timeout(&self) -> std::time::Duration {
                self.up.timeout
            }

            fn lockout_window(&self) -> std::time::Duration {
                $window
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

pub mod guard;
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
    /// The person's Plex account id, when their account is linked to Plex (how apps that keep
    /// a Plex user list, like Tautulli, know them).
    pub plex_id: Option<i64>,
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

/// The longest Usher keeps an app's sign-in or lets its cookie live: browsers cap cookies at
/// 400 days anyway (RFC 6265bis), and an app's answer (a `Max-Age`, an expiry) must not push
/// Usher's clock arithmetic out of range (a huge `Max-Age` panicked `app_cookie`; shown with
/// the `sso` fuzz target).
pub const MAX_LIFETIME_SECONDS: i64 = 400 * 86_400;

impl Grant {
    /// This grant with every lifetime within `0..=MAX_LIFETIME_SECONDS`.
    pub fn bounded(mut self) -> Grant {
        let bound = |s: i64| s.clamp(0, MAX_LIFETIME_SECONDS);
        self.lifetime = self.lifetime.map(bound);
        for c in &mut self.cookies {
            c.max_age = c.max_age.map(bound);
        }
        self
    }
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
    #[error("{app} at {url} would refuse {user}, so Usher did not try (no failed sign-in there): {reason}")]
    NotAllowed {
        app: &'static str,
        url: String,
        user: String,
        reason: String,
    },
    #[error("{app} at {url} refused {user} with these same credentials a moment ago; Usher tries again in {wait} s at the earliest, so {app} does not lock anyone out")]
    RefusedBefore {
        app: &'static str,
        url: String,
        user: String,
        wait: u64,
    },
    #[error("{app} at {url} is skipped for now: {reason}")]
    Skipped {
        app: &'static str,
        url: String,
        reason: String,
    },
}

impl SsoError {
    /// The app the error is about.
    pub fn app(&self) -> &'static str {
        match self {
            SsoError::Unreachable { app, .. }
            | SsoError::Timeout { app, .. }
            | SsoError::Rejected { app, .. }
            | SsoError::RateLimited { app, .. }
            | SsoError::BadApiKey { app, .. }
            | SsoError::NoCredentials { app, .. }
            | SsoError::Unexpected { app, .. }
            | SsoError::Config { app, .. }
            | SsoError::NotAllowed { app, .. }
            | SsoError::RefusedBefore { app, .. }
            | SsoError::Skipped { app, .. } => app,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SsoError::Unreachable { .. } => "app_unreachable",
            SsoError::Timeout { .. } => "app_timeout",
            SsoError::Rejected { .. } => "app_rejected_user",
            SsoError::RateLimited { .. } => "app_rate_limited",
            SsoError::BadApiKey { .. } => "app_bad_api_key",
            SsoError::NoCredentials { .. } => "no_credentials",
            SsoError::Unexpected { .. } => "app_unexpected_answer",
            SsoError::Config { .. } => "app_misconfigured",
            SsoError::NotAllowed { .. } => "app_user_not_allowed",
            SsoError::RefusedBefore { .. } => "app_refused_recently",
            SsoError::Skipped { .. } => "app_skipped",
        }
    }
}

/// What a person reads on the portal next to an app whose SSO failed (no server-side URL, no
/// configuration detail: those are for the debug area).
pub fn failure_in_words(app: &str, code: &str) -> String {
    match code {
        "app_unreachable" | "app_timeout" | "app_skipped" => {
            format!("{app} did not answer when you signed in, so you are not signed into it yet.")
        }
        "app_rejected_user" | "app_refused_recently" => {
            format!("{app} did not accept your sign-in: your account there has another password, or does not exist.")
        }
        "app_user_not_allowed" => {
            format!("{app} does not let your account in, so Usher did not sign you in there; ask your administrator.")
        }
        "no_credentials" if app == "Plex" => {
            "You did not sign in with Plex, so Usher has no Plex sign-in to hand over; use Sign in with Plex.".into()
        }
        "no_credentials" => format!(
            "You did not sign in with anything {app} accepts (a password {app} knows, or Plex); sign in that way to be signed into {app} too."
        ),
        "app_rate_limited" => {
            format!("{app} is refusing sign-ins for a few minutes; try again later.")
        }
        _ => format!("{app} is not set up for single sign-on correctly; ask your administrator."),
    }
}

/// One app Usher signs people into.
pub trait SsoApp: Send + Sync {
    /// The app's name as people know it ("Tautulli").
    fn app(&self) -> &'static str;
    /// The instance, for logs and the debug area (its server-side URL).
    fn instance(&self) -> String;
    /// The time this instance may take to answer.
    fn timeout(&self) -> Duration;
    /// How long the app holds a refused sign-in against Usher (its lockout window): the same
    /// refused credentials are not tried again within it.
    fn lockout_window(&self) -> Duration;
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

/// How a sign-in treats the apps' memory ([`guard::Guard`]): a login skips apps that are down
/// and credentials refused a moment ago; the admin's Test tries the app whatever happened.
#[derive(Clone)]
pub struct Care {
    pub guard: Arc<guard::Guard>,
    /// How long an app that is down is skipped before its first background check.
    pub down_wait: Duration,
}

/// Signs `who` into every app at once: each under `per_app`, all under `overall`. Apps still
/// running at the deadline are abandoned and reported as timed out; the order of the outcomes
/// is the order of `apps`. With `care`, apps the guard says to skip are not contacted, and
/// every result teaches the guard.
pub async fn run(
    apps: &[Arc<dyn SsoApp>],
    who: Arc<Identity>,
    per_app: Duration,
    overall: Duration,
    care: Option<&Care>,
) -> Vec<Outcome> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + overall;
    let mut set = tokio::task::JoinSet::new();
    let mut results: Vec<Option<(Result<Grant, SsoError>, Duration)>> =
        apps.iter().map(|_| None).collect();
    for (index, app) in apps.iter().enumerate() {
        let skip = care.and_then(|c| {
            c.guard
                .skip(app.as_ref())
                .or_else(|| c.guard.refused_before(app.as_ref(), &who))
        });
        if let Some(e) = skip {
            results[index] = Some((Err(e), Duration::ZERO));
            continue;
        }
        let app = app.clone();
        let who = who.clone();
        let care = care.cloned();
        set.spawn(async move {
            let began = Instant::now();
            let result = match tokio::time::timeout(per_app, app.sign_in(&who)).await {
                Ok(result) => result.map(Grant::bounded),
                Err(_) => Err(timeout_error(app.as_ref(), per_app)),
            };
            if let Some(c) = care {
                c.guard.learn(&app, &who, &result, c.down_wait);
            }
            (index, result, began.elapsed())
        });
    }
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
            let (result, elapsed) = done.unwrap_or_else(|| {
                let abandoned = Err(timeout_error(app.as_ref(), overall));
                if let Some(c) = care {
                    c.guard.learn(app, &who, &abandoned, c.down_wait);
                }
                (abandoned, start.elapsed())
            });
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
            plex_id: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An app whose answer gave a lifetime far beyond any clock.
    struct Forever;

    impl SsoApp for Forever {
        fn app(&self) -> &'static str {
            "Forever"
        }
        fn instance(&self) -> String {
            "http://forever".into()
        }
        fn timeout(&self) -> Duration {
            Duration::from_secs(1)
        }
        fn lockout_window(&self) -> Duration {
            Duration::ZERO
        }
        fn sign_in<'a>(&'a self, _: &'a Identity) -> SsoFuture<'a, Grant> {
            Box::pin(async {
                Ok(Grant {
                    cookies: vec![CookiePlan {
                        name: "tautulli_token_ab".into(),
                        value: SecretString::from("t"),
                        domain: None,
                        path: "/".into(),
                        max_age: Some(i64::MAX),
                        http_only: true,
                    }],
                    lifetime: Some(i64::MIN),
                    ..Grant::default()
                })
            })
        }
        fn check(&self) -> SsoFuture<'_, Check> {
            Box::pin(async {
                Err(SsoError::NoCredentials {
                    app: "Forever",
                    reason: String::new(),
                })
            })
        }
    }

    #[tokio::test]
    async fn lifetimes_from_an_answer_are_bounded() {
        let who = Arc::new(Identity {
            username: "alice".into(),
            email: None,
            password: None,
            plex_token: None,
            plex_id: None,
        });
        let apps: [Arc<dyn SsoApp>; 1] = [Arc::new(Forever)];
        let t = Duration::from_secs(1);
        let outcomes = run(&apps, who, t, t, None).await;
        let grant = outcomes[0].result.as_ref().expect("signed in");
        assert_eq!(grant.cookies[0].max_age, Some(MAX_LIFETIME_SECONDS));
        assert_eq!(grant.lifetime, Some(0));
    }
}
