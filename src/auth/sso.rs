//! Single sign-on as part of signing in: after a session starts, sign the person into each app
//! of the SSO plan, record per session what was set (never a cookie value in clear; the
//! localStorage items encrypted), and hand the HTTP layer the cookies. A failing app is logged
//! and recorded — it never fails the login. Sign-out reads the same records to delete exactly
//! what was set.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::core::Core;
use crate::domain::session::{hash_hex, TokenHash};
use crate::domain::{now, SessionMethod, User};
use crate::sso::plan::{applies, plan};
use crate::sso::{run, Care, CookiePlan, Grant, Identity, Outcome, SsoError, StorageItem};
use crate::store::{CookieRecord, SsoRecord};

/// The localStorage key Plex Web reads its token from.
pub const PLEX_STORAGE_KEY: &str = "myPlexAccessToken";

/// What a sign-out must remove from the browser.
#[derive(Debug, Default)]
pub struct SsoSignOut {
    pub cookies: Vec<CookieRecord>,
    pub storage_keys: Vec<String>,
}

impl Core {
    /// Runs SSO for a session that just started and returns the cookies to set. `password` is
    /// the one just typed, if any; the Plex token is used when the person signed in with Plex.
    pub async fn sso_after_sign_in(
        &self,
        session_id: i64,
        user: &User,
        method: SessionMethod,
        password: Option<&str>,
    ) -> Vec<CookiePlan> {
        let plex_token = match method {
            SessionMethod::PlexPassword | SessionMethod::PlexOauth => {
                self.user_plex_token(user.id).await.ok().flatten()
            }
            SessionMethod::Local | SessionMethod::Setup => None,
        };
        let identity = Identity {
            username: user.username.clone(),
            email: user.email.clone(),
            password: password.map(|p| SecretString::from(p.to_string())),
            plex_token: plex_token.map(|t| SecretString::from(t.expose().to_string())),
            plex_id: user.plex_id,
        };
        self.run_sso(session_id, user, identity).await
    }

    /// Signs `identity` into every app of the plan and replaces the session's SSO records.
    pub async fn run_sso(
        &self,
        session_id: i64,
        user: &User,
        identity: Identity,
    ) -> Vec<CookiePlan> {
        self.run_sso_keeping(session_id, user, identity, &[]).await
    }

    /// [`run_sso`](Self::run_sso), keeping a `previous` successful record of any app instance
    /// that now lacks credentials (a refresh has no password; the earlier sign-in still stands).
    pub async fn run_sso_keeping(
        &self,
        session_id: i64,
        user: &User,
        identity: Identity,
        previous: &[SsoRecord],
    ) -> Vec<CookiePlan> {
        let settings = self.settings().clone();
        let plan = plan(&settings, user.group_id);
        let mut records = Vec::new();
        let mut cookies = Vec::new();
        if applies(&settings, "plex", user.group_id) {
            let grant = plex_grant(
                &identity,
                settings.get("sso.plex.mpt_cookie") == Some(&true.into()),
                settings.cookie_domain.clone(),
            );
            let outcome = Outcome {
                app: "Plex",
                instance: "plex.tv".into(),
                result: grant,
                elapsed: std::time::Duration::ZERO,
            };
            records.push(self.record_outcome(user, &outcome, &mut cookies));
        }
        for e in &plan.misconfigured {
            tracing::warn!(user = %user.username, code = e.code(), error = %e, "SSO skipped: misconfigured");
            records.push(failed_record(e, ""));
        }
        if !plan.apps.is_empty() {
            let care = self.sso_care();
            let outcomes = run(
                &plan.apps,
                Arc::new(identity),
                plan.per_app,
                plan.overall,
                Some(&care),
            )
            .await;
            for outcome in &outcomes {
                records.push(self.record_outcome(user, outcome, &mut cookies));
            }
        }
        for r in records.iter_mut() {
            if r.error_code.as_deref() == Some("no_credentials") {
                if let Some(kept) = previous
                    .iter()
                    .find(|p| p.ok && p.app == r.app && p.instance == r.instance)
                {
                    *r = kept.clone();
                }
            }
        }
        if let Err(e) = self.store.replace_session_sso(session_id, &records).await {
            tracing::error!(user = %user.username, error = %e, "could not record the SSO outcome");
        }
        cookies
    }

    /// How sign-ins treat apps that are down or refused someone ([`crate::sso::guard`]).
    pub fn sso_care(&self) -> Care {
        let down_wait = self
            .settings()
            .get("sso.down_retry_seconds")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(30);
        Care {
            guard: self.sso_guard.clone(),
            down_wait: std::time::Duration::from_secs(down_wait.max(1)),
        }
    }

    /// Logs one app's outcome, collects its cookies, and turns it into a record.
    fn record_outcome(&self, user: &User, o: &Outcome, cookies: &mut Vec<CookiePlan>) -> SsoRecord {
        let elapsed_ms = o.elapsed.as_millis() as i64;
        let result = o.result.as_ref().map_or_else(SsoError::code, |_| "ok");
        self.metrics.sso_attempt(o.app, result, o.elapsed);
        match &o.result {
            Ok(grant) => {
                tracing::info!(user = %user.username, app = o.app, instance = %o.instance, elapsed_ms, fallback = grant.used_fallback, "SSO ok");
                cookies.extend(grant.cookies.iter().cloned());
                self.success_record(o, grant, elapsed_ms)
            }
            Err(e) => {
                tracing::warn!(user = %user.username, app = o.app, instance = %o.instance, elapsed_ms, code = e.code(), error = %e, "SSO failed");
                let mut r = failed_record(e, &o.instance);
                r.elapsed_ms = elapsed_ms;
                r
            }
        }
    }

    fn success_record(&self, o: &Outcome, grant: &Grant, elapsed_ms: i64) -> SsoRecord {
        let t = now();
        let storage = (!grant.storage.is_empty()).then(|| {
            let map: BTreeMap<&str, &str> = grant
                .storage
                .iter()
                .map(|i| (i.key.as_str(), i.value.expose_secret()))
                .collect();
            self.secret_key
                .encrypt(&serde_json::to_string(&map).unwrap_or_default())
        });
        SsoRecord {
            app: o.app.to_string(),
            instance: o.instance.clone(),
            ok: true,
            error_code: None,
            error: None,
            cookies: grant
                .cookies
                .iter()
                .map(|c| CookieRecord {
                    name: c.name.clone(),
                    domain: c.domain.clone(),
                    path: c.path.clone(),
                    http_only: c.http_only,
                    expires_at: c.max_age.map(|s| t + s),
                })
                .collect(),
            storage,
            used_fallback: grant.used_fallback,
            elapsed_ms,
            created_at: t,
            expires_at: grant.lifetime.map(|s| t + s),
        }
    }

    /// What sign-out must remove for the session with this token hash (read before it ends).
    pub async fn sso_sign_out(&self, hash: &TokenHash) -> SsoSignOut {
        let records = match self.store.session_sso(&hash_hex(hash)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "could not read the SSO records at sign-out");
                return SsoSignOut::default();
            }
        };
        let mut out = SsoSignOut::default();
        for r in records {
            out.cookies.extend(r.cookies);
            out.storage_keys.extend(
                self.decrypt_storage(r.storage.as_deref())
                    .into_iter()
                    .map(|(k, _)| k),
            );
        }
        out
    }

    /// True when an app is about to forget (or has forgotten) this session's sign-in: within an
    /// hour of the lifetime it announced. The portal then calls refresh.
    pub async fn sso_refresh_due(&self, hash: &TokenHash) -> bool {
        let soon = now() + 3600;
        self.store
            .session_sso(&hash_hex(hash))
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| r.ok && r.expires_at.is_some_and(|at| at <= soon))
    }

    /// For each of `tabs` whose app's SSO failed at this session's sign-in: the failure in words
    /// for the person (tab id → words). A tab is an app's when its name holds the app's name or
    /// its URL opens the instance's path.
    pub async fn sso_failures_by_tab(
        &self,
        hash: &TokenHash,
        tabs: &[crate::domain::Tab],
    ) -> BTreeMap<i64, String> {
        let records = self
            .store
            .session_sso(&hash_hex(hash))
            .await
            .unwrap_or_default();
        let mut out = BTreeMap::new();
        for r in records.iter().filter(|r| !r.ok) {
            let code = r.error_code.as_deref().unwrap_or_default();
            for tab in tabs.iter().filter(|t| tab_is_app(t, &r.app, &r.instance)) {
                out.entry(tab.id)
                    .or_insert_with(|| crate::sso::failure_in_words(&r.app, code));
            }
        }
        out
    }

    /// The localStorage items of this session's successful SSOs (for the portal page to write).
    pub async fn sso_storage(&self, hash: &TokenHash) -> BTreeMap<String, String> {
        let records = self
            .store
            .session_sso(&hash_hex(hash))
            .await
            .unwrap_or_default();
        records
            .iter()
            .filter(|r| r.ok)
            .flat_map(|r| self.decrypt_storage(r.storage.as_deref()))
            .collect()
    }

    fn decrypt_storage(&self, stored: Option<&str>) -> Vec<(String, String)> {
        let Some(stored) = stored else {
            return Vec::new();
        };
        match self.secret_key.decrypt(stored) {
            Ok(json) => serde_json::from_str::<BTreeMap<String, String>>(&json)
                .map(|m| m.into_iter().collect())
                .unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, "stored SSO items cannot be decrypted");
                Vec::new()
            }
        }
    }
}

/// Plex SSO: Plex Web reads `localStorage.myPlexAccessToken` on Usher's own origin; the
/// Organizr-style `mpt` cookie only when asked for.
fn plex_grant(who: &Identity, mpt_cookie: bool, domain: Option<String>) -> Result<Grant, SsoError> {
    let token = who
        .plex_token
        .clone()
        .ok_or_else(|| SsoError::NoCredentials {
            app: "Plex",
            reason: format!(
                "{} did not sign in with Plex, so there is no Plex token to hand over",
                who.username
            ),
        })?;
    let cookies = if mpt_cookie {
        vec![CookiePlan {
            name: "mpt".into(),
            value: token.clone(),
            domain,
            path: "/".into(),
            max_age: None,
            http_only: true,
        }]
    } else {
        Vec::new()
    };
    Ok(Grant {
        cookies,
        storage: vec![StorageItem {
            key: PLEX_STORAGE_KEY.into(),
            value: token,
        }],
        lifetime: None,
        used_fallback: false,
    })
}

/// Whether `tab` opens `app` (by name) or the instance at `instance` (by its URL path).
fn tab_is_app(tab: &crate::domain::Tab, app: &str, instance: &str) -> bool {
    if tab.name.to_lowercase().contains(&app.to_lowercase()) {
        return true;
    }
    let path = |u: &str| {
        url::Url::parse(u)
            .or_else(|_| url::Url::parse("http://usher.invalid/")?.join(u))
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default()
    };
    let app_path = path(instance);
    !app_path.is_empty() && path(&tab.url) == app_path
}

fn failed_record(e: &SsoError, instance: &str) -> SsoRecord {
    SsoRecord {
        app: e.app().to_string(),
        instance: instance.to_string(),
        ok: false,
        error_code: Some(e.code().to_string()),
        error: Some(e.to_string()),
        cookies: Vec::new(),
        storage: None,
        used_fallback: false,
        elapsed_ms: 0,
        created_at: now(),
        expires_at: None,
    }
}
