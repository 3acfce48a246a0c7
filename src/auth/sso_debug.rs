//! The debug area's SSO checks (the seed's `enabled`, `url`, `api`, `backend`, `cookie`), the
//! last outcome per app, and a hint in words — plus the admin's Test and the portal's refresh.

use std::sync::Arc;

use axum::http::HeaderMap;
use serde::Serialize;

use crate::auth::AuthError;
use crate::core::Core;
use crate::domain::session::hash_hex;
use crate::domain::User;
use crate::settings::AuthType;
use crate::sso::guard::Skipped;
use crate::sso::plan::{applies, plan_for_app, APPS};
use crate::sso::{run, Check, CookiePlan, Identity};
use crate::store::SsoRecord;

/// One app's row in the debug area.
#[derive(Debug, Serialize)]
pub struct AppDebug {
    /// The setting prefix (`tautulli`) and the name people know.
    pub app: &'static str,
    pub name: &'static str,
    pub enabled: bool,
    /// False when the person's group is above the app's `min_group`.
    pub group_allowed: bool,
    /// Reachable and the right product (null when not enabled or not applicable).
    pub url: Option<bool>,
    /// API key accepted (null when none is configured or the app has none).
    pub api: Option<bool>,
    /// The Plex backend is on (null where the app does not need the Plex token).
    pub backend: Option<bool>,
    /// This very request carries the app's cookie(s) (null when not the viewer's own session, or
    /// the app uses no cookie).
    pub cookie: Option<bool>,
    /// What the last sign-in did for this app, per instance.
    pub last: Vec<SsoRecord>,
    /// Instances sign-ins skip for now (down, or asked to be left alone), with the reason.
    pub skipped: Vec<Skipped>,
    /// What the checks found, in words.
    pub details: Vec<String>,
    /// The first thing to fix, in words (null when everything is fine).
    pub hint: Option<String>,
}

/// Name people know for each setting prefix.
pub fn app_name(app: &str) -> &'static str {
    match app {
        "plex" => "Plex",
        "tautulli" => "Tautulli",
        "ombi" => "Ombi",
        "overseerr" => "Overseerr",
        "jellyfin" => "Jellyfin",
        _ => "?",
    }
}

impl Core {
    /// The debug rows for `user`. `own` = the request's own session (its token hash and
    /// headers), so the `cookie` check can look at this very request.
    pub async fn sso_debug(
        &self,
        user: &User,
        own: Option<(&crate::domain::session::TokenHash, &HeaderMap)>,
    ) -> Result<Vec<AppDebug>, AuthError> {
        let records = match own {
            Some((hash, _)) => self.store.session_sso(&hash_hex(hash)).await?,
            None => self.latest_sso_records(user).await?,
        };
        let settings = self.settings().clone();
        let backend_on = settings.auth_type != AuthType::Local;
        let mut rows = Vec::new();
        for app in std::iter::once("plex").chain(APPS.iter().copied()) {
            let name = app_name(app);
            let enabled = settings.get(&format!("sso.{app}.enabled")) == Some(&true.into());
            let last: Vec<SsoRecord> = records.iter().filter(|r| r.app == name).cloned().collect();
            let (url, api, details) = if enabled && app != "plex" {
                checks(&plan_for_app(&settings, app), &self.sso_guard).await
            } else {
                (None, None, Vec::new())
            };
            let skipped: Vec<Skipped> = self
                .sso_guard
                .skipped()
                .into_iter()
                .filter(|s| s.app == name)
                .collect();
            let cookie = own.and_then(|(_, headers)| cookie_present(&last, headers));
            let needs_backend = app == "plex" || user.plex_id.is_some();
            let mut row = AppDebug {
                app,
                name,
                enabled,
                group_allowed: applies(&settings, app, user.group_id) || !enabled,
                url,
                api,
                backend: needs_backend.then_some(backend_on),
                cookie,
                last,
                skipped,
                details,
                hint: None,
            };
            row.hint = hint(&row);
            rows.push(row);
        }
        Ok(rows)
    }

    /// The SSO records of the user's newest session (what an admin sees for someone else).
    async fn latest_sso_records(&self, user: &User) -> Result<Vec<SsoRecord>, AuthError> {
        let sessions = self.store.list_sessions(Some(user.id)).await?;
        match sessions.first() {
            Some(s) => Ok(self.store.session_sso(&s.token_hash).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Tries one app with the given identity, signing nobody in (the admin's Test button).
    pub async fn sso_test(&self, app: &str, identity: Identity) -> Vec<crate::sso::Outcome> {
        let settings = self.settings().clone();
        let plan = plan_for_app(&settings, app);
        let mut outcomes: Vec<_> = plan
            .misconfigured
            .into_iter()
            .map(|e| crate::sso::Outcome {
                app: e.app(),
                instance: String::new(),
                result: Err(e),
                elapsed: std::time::Duration::ZERO,
            })
            .collect();
        // The admin's Test tries the app whatever Usher remembers of it.
        outcomes.extend(
            run(
                &plan.apps,
                Arc::new(identity),
                plan.per_app,
                plan.overall,
                None,
            )
            .await,
        );
        outcomes
    }

    /// Runs SSO again for a live session with what Usher still holds — the person's Plex token —
    /// keeping the earlier outcome of apps that would need the password typed at sign-in.
    pub async fn sso_refresh(
        &self,
        hash: &crate::domain::session::TokenHash,
        user: &User,
        session_id: i64,
    ) -> Result<Vec<CookiePlan>, AuthError> {
        let previous = self.store.session_sso(&hash_hex(hash)).await?;
        let plex_token = self.user_plex_token(user.id).await.ok().flatten();
        let identity = Identity {
            username: user.username.clone(),
            email: user.email.clone(),
            password: None,
            plex_token: plex_token.map(|t| secrecy::SecretString::from(t.expose().to_string())),
            plex_id: user.plex_id,
        };
        Ok(self
            .run_sso_keeping(session_id, user, identity, &previous)
            .await)
    }
}

/// Runs every instance's configuration check (concurrently, each under the app timeout); an
/// instance that answers is no longer skipped at sign-in.
async fn checks(
    plan: &crate::sso::plan::Plan,
    guard: &Arc<crate::sso::guard::Guard>,
) -> (Option<bool>, Option<bool>, Vec<String>) {
    if plan.apps.is_empty() {
        let details = plan.misconfigured.iter().map(|e| e.to_string()).collect();
        return (Some(false), None, details);
    }
    let mut set = tokio::task::JoinSet::new();
    for app in &plan.apps {
        let app = app.clone();
        let limit = plan.per_app;
        let guard = guard.clone();
        set.spawn(async move {
            match tokio::time::timeout(limit, app.check()).await {
                Ok(Ok(c)) => {
                    guard.answered(app.as_ref());
                    c
                }
                Ok(Err(e)) => Check {
                    url_ok: false,
                    api_ok: None,
                    detail: e.to_string(),
                },
                Err(_) => Check {
                    url_ok: false,
                    api_ok: None,
                    detail: format!(
                        "{} did not answer within {} s",
                        app.instance(),
                        limit.as_secs()
                    ),
                },
            }
        });
    }
    let mut all = Vec::new();
    while let Some(Ok(c)) = set.join_next().await {
        all.push(c);
    }
    let url = all.iter().all(|c| c.url_ok);
    let keys: Vec<bool> = all.iter().filter_map(|c| c.api_ok).collect();
    let api = (!keys.is_empty()).then(|| keys.iter().all(|k| *k));
    (Some(url), api, all.into_iter().map(|c| c.detail).collect())
}

/// Path of the debug endpoint: a cookie scoped to another path never reaches it.
const DEBUG_PATH: &str = "/api/v2/sso/debug";

/// Whether the request carries every cookie the last sign-in set for this app. Cookies scoped
/// to the app's own path (Tautulli's) are not sent to this endpoint, so they cannot be checked
/// here: only their record tells.
fn cookie_present(last: &[SsoRecord], headers: &HeaderMap) -> Option<bool> {
    let set: Vec<&crate::store::CookieRecord> = last
        .iter()
        .filter(|r| r.ok)
        .flat_map(|r| r.cookies.iter())
        .collect();
    let names: Vec<&str> = set
        .iter()
        .filter(|c| DEBUG_PATH.starts_with(c.path.trim_end_matches('/')) || c.path == "/")
        .map(|c| c.name.as_str())
        .collect();
    if !set.is_empty() && names.is_empty() {
        return None;
    }
    if names.is_empty() {
        // Nothing was set: false when the app failed (so no cookie), else not applicable.
        return last.iter().any(|r| !r.ok).then_some(false);
    }
    Some(names.iter().all(|n| {
        crate::http::cookies::cookie_values(headers, n)
            .next()
            .is_some()
    }))
}

/// What to do about an app's failure code, where the error alone does not say it.
fn fix_for(app: &str, code: &str) -> Option<&'static str> {
    Some(match (app, code) {
        ("ombi", "app_rejected_user") => "The user most likely does not exist in Ombi: add the user, or import your Plex users in Ombi's User Management settings.",
        ("tautulli", "app_rejected_user" | "app_user_not_allowed") => "Sign in to Usher with Plex (Tautulli then needs Allow Guest Access on in Settings / Web Interface and for this person on its Users page), or use Tautulli's admin login: the same user name and password in Usher as Tautulli's HTTP Username and Password.",
        ("jellyfin", "app_rejected_user") => "Give the person a Jellyfin account with the same user name and password as in Usher; check that Jellyfin has not disabled the account after wrong passwords.",
        (_, "app_refused_recently") => "Fix the account in the app; the person's next sign-in after the wait tries again.",
        _ => return None,
    })
}

/// `text` ending in exactly one full stop, so a fix can follow it as its own sentence.
fn sentence(text: &str) -> String {
    let t = text.trim_end();
    if t.ends_with(['.', '!', '?']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

fn hint(row: &AppDebug) -> Option<String> {
    let key = row.app;
    if !row.enabled {
        return Some(format!("SSO is not enabled: turn on sso.{key}.enabled."));
    }
    if !row.group_allowed {
        return Some(format!(
            "This person's group is above sso.{key}.min_group, so no SSO is tried."
        ));
    }
    if let Some(skipped) = row.skipped.first() {
        let what_next = if skipped.down {
            format!("Start it or fix sso.{key}.url; the next background check is in {} s, and opening this page checks it too.", skipped.next_check_in)
        } else {
            format!("Usher tries it again in {} s.", skipped.next_check_in)
        };
        return Some(format!(
            "{} at {} is skipped at sign-in for now: {}. {what_next}",
            row.name, skipped.instance, skipped.reason
        ));
    }
    if row.url == Some(false) {
        return Some(format!(
            "The URL is wrong or {} is down: check sso.{key}.url.",
            row.name
        ));
    }
    if row.api == Some(false) {
        return Some(format!(
            "The API key is wrong: copy it again from {}'s settings.",
            row.name
        ));
    }
    if row.backend == Some(false) {
        return Some(
            "The Plex backend is not enabled: set auth_type to local_and_backend or backend."
                .into(),
        );
    }
    if let Some(failed) = row.last.iter().find(|r| !r.ok) {
        let said = failed.error.as_deref().unwrap_or("the last sign-in failed");
        let fix = failed
            .error_code
            .as_deref()
            .and_then(|code| fix_for(key, code))
            .map(|f| format!(" {f}"))
            .unwrap_or_default();
        return Some(format!("{}{fix}", sentence(said)));
    }
    if row.cookie == Some(false) {
        return Some(format!("This browser does not hold {}'s cookie: sign out and in again; if it stays false, the cookie domain or path does not match where {} is opened.", row.name, row.name));
    }
    None
}
