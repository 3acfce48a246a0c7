//! Prometheus metrics: one registry per running Usher, the handles the hot path and the sign-in
//! flows count with, and the text `GET /metrics` serves (docs/metrics.md lists every series).
//!
//! Every series the hot path touches is made at start with its labels resolved, so a proxy-auth
//! request costs two monotonic clock reads, one histogram observation and one atomic add: no
//! string formatting, no map lookup, no lock. Labels never come from a request (no user, host,
//! path or address), so the set of series stays small and fixed; no secret is ever a label.

use std::time::{Duration, Instant};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use crate::auth::AuthError;
use crate::plex::PlexError;

/// Proxy-auth answers take microseconds; the upper buckets catch a store lookup on a miss.
const PROXY_AUTH_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];
/// Upstream calls (SSO apps, plex.tv) take milliseconds to the configured timeouts.
const UPSTREAM_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
];

/// What a proxy-auth request got, as counted in `usher_proxy_auth_requests_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyAuthResult {
    /// 200 with identity headers.
    User = 0,
    /// 200 without identity: allow-listed address, an allow rule, or the guest group.
    Anonymous = 1,
    /// 401 (or the sign-in redirect).
    Refused = 2,
    /// 401 for a request Usher could not read (bad group, bad `X-Forwarded-*`).
    Malformed = 3,
    /// 503: the cookie's session is not cached and the store does not answer.
    StoreDown = 4,
}

const PROXY_AUTH_RESULTS: [&str; 5] = ["user", "anonymous", "refused", "malformed", "store_down"];

/// Which sign-in flow a login went through, as counted in `usher_logins_total{method}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// The sign-in form and `POST /api/v2/login`, whichever password (Usher's or Plex's) it checks.
    Password,
    /// Sign in with Plex (the PIN flow).
    PlexPin,
}

impl LoginMethod {
    fn label(self) -> &'static str {
        match self {
            LoginMethod::Password => "password",
            LoginMethod::PlexPin => "plex_pin",
        }
    }
}

const LOGIN_RESULTS: [&str; 4] = ["success", "failure", "throttled", "error"];

/// The `result` label of a finished sign-in: refused by what the person gave (`failure`), by
/// the throttle, or because something on Usher's side or upstream failed (`error`).
fn login_result<T>(result: &Result<T, AuthError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(AuthError::Throttled(_)) => "throttled",
        Err(AuthError::Plex(PlexError::WrongTwoFactorCode | PlexError::TwoFactorRequired)) => {
            "failure"
        }
        Err(
            AuthError::Internal(_)
            | AuthError::Plex(_)
            | AuthError::PlexNotConfigured(_)
            | AuthError::PlexAdminTokenInvalid,
        ) => "error",
        Err(_) => "failure",
    }
}

/// A latency histogram handed to an upstream client (plex.tv); observes nothing when detached.
#[derive(Clone, Default)]
pub struct UpstreamTimer(Option<Histogram>);

impl UpstreamTimer {
    /// Records the time since `started`.
    pub fn observe(&self, started: Instant) {
        if let Some(h) = &self.0 {
            h.observe(started.elapsed().as_secs_f64());
        }
    }
}

impl std::fmt::Debug for UpstreamTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "UpstreamTimer"
        } else {
            "UpstreamTimer(detached)"
        })
    }
}

/// The registry and every handle Usher counts with.
pub struct Metrics {
    registry: Registry,
    proxy_auth: [IntCounter; 5],
    proxy_auth_duration: Histogram,
    logins: IntCounterVec,
    sso_attempts: IntCounterVec,
    sso_duration: HistogramVec,
    plex_duration: Histogram,
    session_cache_hits: IntCounter,
    session_cache_misses: IntCounter,
    active_sessions: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn registered<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("metric names are unique");
    c
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(
        registry,
        Histogram::with_opts(opts).expect("valid histogram"),
    )
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("valid counter"),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    registered(registry, vec)
}

impl Metrics {
    /// Makes the registry with every series the hot path uses already present (at zero).
    pub fn new() -> Metrics {
        let r = Registry::new();
        let requests = counter_vec(
            &r,
            "usher_proxy_auth_requests_total",
            "Proxy-auth answers by result: user (200 with identity), anonymous (200 without), refused (401 or sign-in redirect), malformed (401, unreadable request).",
            &["result"],
        );
        let proxy_auth = PROXY_AUTH_RESULTS.map(|result| requests.with_label_values(&[result]));
        let logins = counter_vec(
            &r,
            "usher_logins_total",
            "Finished sign-ins by flow (password, plex_pin) and result (success, failure, throttled, error).",
            &["method", "result"],
        );
        for method in [LoginMethod::Password, LoginMethod::PlexPin] {
            for result in LOGIN_RESULTS {
                logins.with_label_values(&[method.label(), result]);
            }
        }
        let sso_duration = HistogramVec::new(
            HistogramOpts::new(
                "usher_sso_upstream_duration_seconds",
                "Time an app took to answer Usher's SSO sign-in (apps skipped by the guard not included).",
            )
            .buckets(UPSTREAM_BUCKETS.to_vec()),
            &["app"],
        )
        .expect("valid histogram");
        Metrics {
            proxy_auth_duration: histogram(
                &r,
                "usher_proxy_auth_duration_seconds",
                "Time to answer a proxy-auth request, inside Usher (parsing to the last header).",
                PROXY_AUTH_BUCKETS,
            ),
            proxy_auth,
            logins,
            sso_attempts: counter_vec(
                &r,
                "usher_sso_attempts_total",
                "SSO sign-ins into apps at login, by app and result (ok, or the error code shown in the debug area).",
                &["app", "result"],
            ),
            sso_duration: registered(&r, sso_duration),
            plex_duration: histogram(
                &r,
                "usher_plex_upstream_duration_seconds",
                "Time plex.tv took to answer (to the response headers, or to the failure).",
                UPSTREAM_BUCKETS,
            ),
            session_cache_hits: counter(
                &r,
                "usher_session_cache_hits_total",
                "Session lookups answered from memory (a cached session, or a token remembered as unknown).",
            ),
            session_cache_misses: counter(
                &r,
                "usher_session_cache_misses_total",
                "Session lookups that went to the database.",
            ),
            active_sessions: registered(
                &r,
                IntGauge::new(
                    "usher_active_sessions",
                    "Sessions used in the last two minutes: the size of the session cache when scraped.",
                )
                .expect("valid gauge"),
            ),
            registry: r,
        }
    }

    /// Counts one proxy-auth answer and the time since `started`.
    #[inline]
    pub fn proxy_auth(&self, result: ProxyAuthResult, started: Instant) {
        self.proxy_auth_duration
            .observe(started.elapsed().as_secs_f64());
        self.proxy_auth[result as usize].inc();
    }

    /// Counts one session lookup: answered from memory, or from the store.
    #[inline]
    pub fn session_cache(&self, hit: bool) {
        if hit {
            self.session_cache_hits.inc();
        } else {
            self.session_cache_misses.inc();
        }
    }

    /// Counts one finished sign-in.
    pub fn login<T>(&self, method: LoginMethod, result: &Result<T, AuthError>) {
        self.logins
            .with_label_values(&[method.label(), login_result(result)])
            .inc();
    }

    /// Counts one app's SSO at a login; `elapsed` is zero when the app was not contacted.
    pub fn sso_attempt(&self, app: &str, result: &str, elapsed: Duration) {
        let app = app.to_ascii_lowercase();
        self.sso_attempts.with_label_values(&[&app, result]).inc();
        if !elapsed.is_zero() {
            self.sso_duration
                .with_label_values(&[&app])
                .observe(elapsed.as_secs_f64());
        }
    }

    /// The timer the plex.tv client observes its calls with.
    pub fn plex_timer(&self) -> UpstreamTimer {
        UpstreamTimer(Some(self.plex_duration.clone()))
    }

    /// Every series in the Prometheus text format (version 0.0.4), with `active_sessions` (read
    /// by the caller at scrape time) set first.
    pub fn render(&self, active_sessions: u64) -> String {
        self.active_sessions
            .set(i64::try_from(active_sessions).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("the text encoder writes to a Vec");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    /// The `Content-Type` of [`render`](Self::render)'s text.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_path_series_exist_before_anything_is_counted() {
        let text = Metrics::new().render(0);
        for result in PROXY_AUTH_RESULTS {
            assert!(text.contains(&format!(
                "usher_proxy_auth_requests_total{{result=\"{result}\"}} 0"
            )));
        }
        assert!(text.contains("usher_logins_total{method=\"plex_pin\",result=\"error\"} 0"));
    }

    #[test]
    fn counts_land_in_their_series() {
        let m = Metrics::new();
        m.proxy_auth(ProxyAuthResult::Refused, Instant::now());
        m.sso_attempt("Ombi", "app_timeout", Duration::from_millis(20));
        m.login(
            LoginMethod::Password,
            &Err::<(), _>(AuthError::Throttled(5)),
        );
        let text = m.render(3);
        assert!(text.contains("usher_proxy_auth_requests_total{result=\"refused\"} 1"));
        assert!(text.contains("usher_proxy_auth_duration_seconds_count 1"));
        assert!(text.contains("usher_sso_attempts_total{app=\"ombi\",result=\"app_timeout\"} 1"));
        assert!(text.contains("usher_sso_upstream_duration_seconds_count{app=\"ombi\"} 1"));
        assert!(text.contains("usher_logins_total{method=\"password\",result=\"throttled\"} 1"));
        assert!(text.contains("usher_active_sessions 3"));
    }
}
