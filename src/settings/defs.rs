//! The declaration of every run-time setting: the one table the API, CLI and validation read.

/// The type of a setting, which decides its validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A non-empty string.
    Text,
    /// An http(s) URL, or null for unset.
    OptionalUrl,
    /// Where Usher itself answers: an http(s) origin with no path, query or fragment, or null.
    PublicUrl,
    /// A parent domain for cookies, or null for host-only cookies.
    CookieDomain,
    /// A cookie name (RFC 6265 token).
    CookieName,
    /// A list of IPs/CIDRs.
    CidrList,
    /// A list of host names.
    HostList,
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
    /// Free text (trimmed, no control characters, at most 1024 characters), or null for unset.
    OptionalText,
    /// An http(s) URL that must always be set (null goes back to the default).
    Url,
    /// A Plex Media Server machine identifier (letters, digits and dashes), or null for unset.
    MachineId,
    /// Comma-separated http(s) URLs (the seed's form for several instances), or null for unset.
    UrlList,
    /// Comma-separated URL paths, each starting with `/`, or null for unset.
    PathList,
    /// The `proxy.rules` list (see [`crate::domain::rules`]).
    ProxyRules,
    /// The group new accounts are put in: never an administrator group
    /// ([`crate::domain::group::check_default_group`]).
    NewAccountGroup,
}

/// Who may change a setting through the API and the settings pages (the CLI, run by whoever
/// holds the data directory, may change every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Only the Admin (group 0): the setting carries identity or a secret, says where a secret or
    /// a typed password is sent, or decides who is trusted or let in. The choice for every new
    /// setting unless it is plainly none of these.
    Admin,
    /// Co-Admins (group 1) too: it only tunes a time limit and hands nobody anything.
    CoAdmin,
}

/// One declared setting.
#[derive(Debug)]
pub struct Def {
    pub key: &'static str,
    pub kind: Kind,
    /// Default as a JSON literal.
    pub default: &'static str,
    /// Secrets are encrypted at rest and masked when shown.
    pub secret: bool,
    /// Who may change it through the API and the settings pages.
    pub change: Change,
    /// The settings page section, as the seed names it.
    pub section: &'static str,
    pub help: &'static str,
}

const AUTH: &str = "System Settings / Main / Authentication";
const GENERAL: &str = "System Settings / Main / General";
const PROXY: &str = "System Settings / Main / Proxy Auth";
const PLEX_SSO: &str = "System Settings / Single Sign-On / Plex";
const SSO: &str = "System Settings / Single Sign-On";
const TAUTULLI_SSO: &str = "System Settings / Single Sign-On / Tautulli";
const OMBI_SSO: &str = "System Settings / Single Sign-On / Ombi";
const OVERSEERR_SSO: &str = "System Settings / Single Sign-On / Overseerr";
const JELLYFIN_SSO: &str = "System Settings / Single Sign-On / Jellyfin";
/// Where the OpenID Connect provider's settings show (docs/oidc.md).
pub const OIDC: &str = "System Settings / Single Sign-On / OpenID Connect";

/// Values of `auth_type`: Usher's own accounts, both, or the backend alone.
pub const AUTH_TYPES: &[&str] = &["local", "local_and_backend", "backend"];
/// Values of `auth_backend`.
pub const AUTH_BACKENDS: &[&str] = &["plex"];

/// Each stored secret and the address setting it is sent to. Changing the address forgets the
/// secret unless the same change sends a new one: a masked secret is never re-sent to a new place
/// by someone who could not read it.
pub const SECRET_DESTINATIONS: &[(&str, &str)] = &[
    ("plex.token", "plex.tv_url"),
    ("sso.tautulli.api_key", "sso.tautulli.url"),
    ("sso.ombi.token", "sso.ombi.url"),
    ("sso.ombi.fallback_password", "sso.ombi.url"),
    ("sso.overseerr.token", "sso.overseerr.url"),
    ("sso.overseerr.fallback_password", "sso.overseerr.url"),
];

/// Secrets Usher only compares what a client sends with; sent nowhere, so they have no address.
pub const INBOUND_SECRETS: &[&str] = &["metrics.token"];

/// Every run-time setting. Later features add their rows here.
pub const DEFS: &[Def] = &[
    Def {
        key: "public_url",
        kind: Kind::PublicUrl,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: GENERAL,
        help: "The address people use to reach Usher, e.g. https://usher.example.com. Cookies are marked Secure when it is https.",
    },
    Def {
        key: "cookie_domain",
        kind: Kind::CookieDomain,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Parent domain for the session cookie (e.g. example.com) so apps on subdomains share the sign-in. Empty = this host only. Public suffixes such as duckdns.org are refused: browsers would drop the cookie.",
    },
    Def {
        key: "cookie_name",
        kind: Kind::CookieName,
        default: "\"usher_session\"",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Name of the session cookie.",
    },
    Def {
        key: "remember_days",
        kind: Kind::Int { min: 1, max: 365 },
        default: "7",
        secret: false,
        change: Change::CoAdmin,
        section: AUTH,
        help: "How many days a \"remember me\" sign-in lasts (otherwise one day).",
    },
    Def {
        key: "two_factor.required_up_to_group",
        kind: Kind::Int { min: -1, max: 998 },
        default: "-1",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Two-factor sign-in is required for groups up to this number (0 = the Admin only, 1 = Admin and Co-Admins; -1 = nobody). People in them who have not turned it on are sent to their profile to do so after signing in, and pass no proxy auth until they have. People who sign in only with Plex have no Usher password to turn it on with: turn on two_factor.skip_for_plex for them.",
    },
    Def {
        key: "two_factor.skip_for_plex",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Do not ask for Usher's two-factor code when people sign in with Plex (Plex has its own two-factor), and do not hold Plex sign-ins to the two-factor requirement above.",
    },
    Def {
        key: "trusted_proxies",
        kind: Kind::CidrList,
        default: "[\"127.0.0.0/8\", \"::1/128\"]",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Proxies whose X-Forwarded-For (read from the right) / X-Real-IP (only without X-Forwarded-For) headers are believed (IPs or CIDRs). Anyone else's are ignored.",
    },
    Def {
        key: "metrics.enabled",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: GENERAL,
        help: "Serve Prometheus metrics at /metrics to clients in trusted_proxies (loopback by default), or to anyone sending the metrics token. Everyone else gets 404.",
    },
    Def {
        key: "metrics.token",
        kind: Kind::OptionalText,
        default: "null",
        secret: true,
        change: Change::Admin,
        section: GENERAL,
        help: "A bearer token that lets a scraper elsewhere read /metrics (Authorization: Bearer <token>). Empty = only trusted_proxies.",
    },
    Def {
        key: "allowed_redirect_hosts",
        kind: Kind::HostList,
        default: "[]",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Hosts the login page may send people back to, besides Usher's own host and hosts under the cookie domain.",
    },
    Def {
        key: "audit.retention_days",
        kind: Kind::Int { min: 1, max: 3650 },
        default: "90",
        secret: false,
        // Admin only: a Co-Admin could otherwise shorten it to erase what they did.
        change: Change::Admin,
        section: AUTH,
        help: "How many days the audit log (sign-ins, changes) is kept; older entries are removed hourly.",
    },
    Def {
        key: "login.max_failures_per_user",
        kind: Kind::Int { min: 1, max: 1000 },
        default: "10",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Failed sign-ins for one account (whichever of its names or e-mail is typed), or for one unknown name, within the throttle window before it is paused.",
    },
    Def {
        key: "login.max_failures_per_ip",
        kind: Kind::Int { min: 1, max: 10000 },
        default: "30",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Failed sign-ins from one client IP within the throttle window before it is paused.",
    },
    Def {
        key: "login.throttle_seconds",
        kind: Kind::Int { min: 10, max: 86400 },
        default: "900",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "The throttle window in seconds: failures older than this are forgotten.",
    },
    Def {
        key: "proxy.rules",
        kind: Kind::ProxyRules,
        default: "[]",
        secret: false,
        change: Change::Admin,
        section: PROXY,
        help: "Access rules for the proxy-auth endpoints, checked in order after the URL's allow/deny lists and before its group number; the first match decides. Each is {\"action\": \"allow\"|\"deny\", \"users\": [names], \"groups\": [numbers or names], \"networks\": [CIDRs], \"hosts\": [host or *.domain], \"paths\": [prefix or glob with *]}; a missing condition means any. Host and path rules need a proxy that sends X-Forwarded-Host/-Uri (Caddy, Traefik, the generated nginx snippet). See docs/proxies/rules.md.",
    },
    Def {
        key: "auth_type",
        kind: Kind::Choice(AUTH_TYPES),
        default: "\"local\"",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Who checks passwords: local (\"Usher DB\"), local_and_backend (\"Usher DB + Backend\": Usher's own password first, then the backend) or backend (\"Backend only\").",
    },
    Def {
        key: "auth_backend",
        kind: Kind::Choice(AUTH_BACKENDS),
        default: "\"plex\"",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "The authentication backend used when auth_type is not local.",
    },
    Def {
        key: "plex.token",
        kind: Kind::OptionalText,
        default: "null",
        secret: true,
        change: Change::Admin,
        section: AUTH,
        help: "The Plex server owner's token (\"Plex Token\"): reads the friends list and the server list. Use the Retrieve button (the admin PIN flow) to fill it in.",
    },
    Def {
        key: "plex.machine_id",
        kind: Kind::MachineId,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "The machine identifier of your Plex Media Server (\"Plex Machine\"); with strict friends only people it is shared with may sign in.",
    },
    Def {
        key: "plex.admin",
        kind: Kind::OptionalText,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: PLEX_SSO,
        help: "Plex username or e-mail of the server owner (\"Admin Username\"); that Plex account may always sign in.",
    },
    Def {
        key: "plex.oauth",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Show \"Sign in with Plex\" (the plex.tv PIN flow) on the sign-in page.",
    },
    Def {
        key: "plex.strict_friends",
        kind: Kind::Bool,
        default: "true",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Only friends the Plex Machine is shared with may sign in (otherwise anyone on the owner's friends list).",
    },
    Def {
        key: "plex.default_group",
        kind: Kind::NewAccountGroup,
        default: "4",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Group of accounts created by a first Plex sign-in (4 = User). The administrator groups 0 (Admin) and 1 (Co-Admin) cannot be chosen.",
    },
    Def {
        key: "plex.friends_refresh_seconds",
        kind: Kind::Int { min: 1, max: 86400 },
        default: "600",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "How often the friends list is re-read from plex.tv; a person whose share was removed loses their Plex sessions within this time.",
    },
    Def {
        key: "plex.timeout_seconds",
        kind: Kind::Int { min: 1, max: 120 },
        default: "15",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "How long a call to plex.tv may take before Usher gives up (connecting may take at most 5 seconds of it).",
    },
    Def {
        key: "plex.tv_url",
        kind: Kind::Url,
        default: "\"https://plex.tv\"",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "Base URL of the plex.tv API (change only for testing).",
    },
    Def {
        key: "plex.auth_url",
        kind: Kind::Url,
        default: "\"https://app.plex.tv/auth\"",
        secret: false,
        change: Change::Admin,
        section: AUTH,
        help: "The plex.tv browser sign-in page the PIN flow sends people to (change only for testing).",
    },
    Def {
        key: "sso.timeout_seconds",
        kind: Kind::Int { min: 1, max: 60 },
        default: "5",
        secret: false,
        change: Change::CoAdmin,
        section: SSO,
        help: "The longest a login waits for all single sign-ons together; apps not done by then are skipped (the login itself never fails because of an app).",
    },
    Def {
        key: "sso.app_timeout_seconds",
        kind: Kind::Int { min: 1, max: 60 },
        default: "3",
        secret: false,
        change: Change::CoAdmin,
        section: SSO,
        help: "The longest one app may take to answer a single sign-on.",
    },
    Def {
        key: "sso.down_retry_seconds",
        kind: Kind::Int { min: 1, max: 300 },
        default: "30",
        secret: false,
        change: Change::CoAdmin,
        section: SSO,
        help: "When an app does not answer a sign-on (timeout or connection refused), sign-ins skip it for this long; Usher then checks it in the background, waiting twice as long after each failed check (up to 5 minutes), and signs people in again once it answers.",
    },
    Def {
        key: "sso.plex.enabled",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: PLEX_SSO,
        help: "Sign people into Plex Web. Works only when Plex is proxied as a subdirectory (/plex/) of Usher's own host: Plex Web keeps its token in the browser's storage for that origin.",
    },
    Def {
        key: "sso.plex.mpt_cookie",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: PLEX_SSO,
        help: "Also set Organizr's mpt cookie holding the Plex token (off: it sends the token with every request to this domain).",
    },
    Def {
        key: "sso.plex.min_group",
        kind: Kind::Int { min: 0, max: 998 },
        default: "998",
        secret: false,
        change: Change::Admin,
        section: PLEX_SSO,
        help: "Highest group number that gets Plex SSO (998 = everyone signed in).",
    },
    Def {
        key: "sso.tautulli.enabled",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: TAUTULLI_SSO,
        help: "Sign people into Tautulli at login. Tautulli lets in its own admin login (Settings / Web Interface: HTTP Username and Password) and Plex users: the Plex server's admin when Allow Plex Admin is on, friends when Allow Guest Access is on in Settings / Web Interface and for them on the Users page (Edit user). Usher asks Tautulli's API first and skips everyone else, so a refused sign-in never counts towards Tautulli locking out Usher's address.",
    },
    Def {
        key: "sso.tautulli.url",
        kind: Kind::UrlList,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: TAUTULLI_SSO,
        help: "Where Usher reaches Tautulli, e.g. http://192.168.1.10:8181/tautulli; several instances as comma-separated values.",
    },
    Def {
        key: "sso.tautulli.api_key",
        kind: Kind::OptionalText,
        default: "null",
        secret: true,
        change: Change::Admin,
        section: TAUTULLI_SSO,
        help: "Tautulli's API key (Settings / Web Interface / API), one per URL, comma-separated. Required: Usher asks Tautulli's API who may sign in before it tries, and the key passes Tautulli's CSRF check (2.17.1 and later).",
    },
    Def {
        key: "sso.tautulli.path",
        kind: Kind::PathList,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: TAUTULLI_SSO,
        help: "Where browsers open each Tautulli (the cookie's path), comma-separated in URL order; empty = the path of its URL.",
    },
    Def {
        key: "sso.tautulli.min_group",
        kind: Kind::Int { min: 0, max: 998 },
        default: "998",
        secret: false,
        change: Change::Admin,
        section: TAUTULLI_SSO,
        help: "Highest group number that gets Tautulli SSO (998 = everyone signed in). Allow the groups whose members sign in with Plex and have your Plex server shared with them, plus the admin whose Usher user name and password are Tautulli's admin login; others are skipped anyway.",
    },
    Def {
        key: "sso.ombi.enabled",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: OMBI_SSO,
        help: "Sign people into Ombi at login: people who signed in with Plex by their Plex token, others by user name and password. The person must already exist in Ombi: import your Plex users in Ombi's User Management settings so they do.",
    },
    Def {
        key: "sso.ombi.url",
        kind: Kind::OptionalUrl,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: OMBI_SSO,
        help: "Where Usher reaches Ombi, e.g. http://192.168.1.10:5000.",
    },
    Def {
        key: "sso.ombi.token",
        kind: Kind::OptionalText,
        default: "null",
        secret: true,
        change: Change::Admin,
        section: OMBI_SSO,
        help: "Ombi's API key (Ombi Settings / Configuration), used to check the setup.",
    },
    Def {
        key: "sso.ombi.fallback_user",
        kind: Kind::OptionalText,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: OMBI_SSO,
        help: "An Ombi account used when a person's own is refused (for example a shared guest account).",
    },
    Def {
        key: "sso.ombi.fallback_password",
        kind: Kind::OptionalText,
        default: "null",
        secret: true,
        change: Change::Admin,
        section: OMBI_SSO,
        help: "The fallback account's password.",
    },
    Def {
        key: "sso.ombi.min_group",
        kind: Kind::Int { min: 0, max: 998 },
        default: "998",
        secret: false,
        change: Change::Admin,
        section: OMBI_SSO,
        help: "Highest group number that gets Ombi SSO (998 = everyone signed in). Allow the groups whose members exist in Ombi (imported Plex users, or Ombi accounts with the same name and password); a refused sign-in is not repeated for 5 minutes.",
    },
    Def {
        key: "sso.overseerr.enabled",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: OVERSEERR_SSO,
        help: "Sign people into Overseerr or Jellyseerr at login (Plex users by their Plex token, others by e-mail and password). Plex users not yet in Overseerr get in only when Enable New Plex Sign-In is on (Overseerr Settings / Users).",
    },
    Def {
        key: "sso.overseerr.url",
        kind: Kind::OptionalUrl,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: OVERSEERR_SSO,
        help: "Where Usher reaches Overseerr, e.g. http://192.168.1.10:5055.",
    },
    Def {
        key: "sso.overseerr.token",
        kind: Kind::OptionalText,
        default: "null",
        secret: true,
        change: Change::Admin,
        section: OVERSEERR_SSO,
        help: "Overseerr's API key (Settings / General), used to check the setup.",
    },
    Def {
        key: "sso.overseerr.fallback_user",
        kind: Kind::OptionalText,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: OVERSEERR_SSO,
        help: "E-mail of an Overseerr account used when a person's own is refused.",
    },
    Def {
        key: "sso.overseerr.fallback_password",
        kind: Kind::OptionalText,
        default: "null",
        secret: true,
        change: Change::Admin,
        section: OVERSEERR_SSO,
        help: "The fallback account's password.",
    },
    Def {
        key: "sso.overseerr.min_group",
        kind: Kind::Int { min: 0, max: 998 },
        default: "998",
        secret: false,
        change: Change::Admin,
        section: OVERSEERR_SSO,
        help: "Highest group number that gets Overseerr SSO (998 = everyone signed in). Allow the groups whose members sign in with a Plex account that has your Plex server shared with them (or have a local Overseerr account under the same e-mail and password); a refused sign-in is not repeated for 5 minutes.",
    },
    Def {
        key: "sso.jellyfin.enabled",
        kind: Kind::Bool,
        default: "false",
        secret: false,
        change: Change::Admin,
        section: JELLYFIN_SSO,
        help: "Sign people into Jellyfin at login with the username and password they typed. Works only when Jellyfin is proxied as a subdirectory of Usher's own host.",
    },
    Def {
        key: "sso.jellyfin.url",
        kind: Kind::OptionalUrl,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: JELLYFIN_SSO,
        help: "Where Usher reaches Jellyfin, e.g. http://192.168.1.10:8096.",
    },
    Def {
        key: "sso.jellyfin.browser_url",
        kind: Kind::OptionalUrl,
        default: "null",
        secret: false,
        change: Change::Admin,
        section: JELLYFIN_SSO,
        help: "Where browsers open Jellyfin, e.g. https://usher.example.com/jellyfin; empty = its URL.",
    },
    Def {
        key: "sso.jellyfin.min_group",
        kind: Kind::Int { min: 0, max: 998 },
        default: "998",
        secret: false,
        change: Change::Admin,
        section: JELLYFIN_SSO,
        help: "Highest group number that gets Jellyfin SSO (998 = everyone signed in). Allow only the groups whose members have a Jellyfin account with the same user name and password: Jellyfin disables an account after a few wrong passwords, so Usher does not repeat a refused password for a day.",
    },
    Def {
        key: "oidc.access_token_seconds",
        kind: Kind::Int { min: 60, max: 86_400 },
        default: "3600",
        secret: false,
        change: Change::Admin,
        section: OIDC,
        help: "How long an OpenID Connect access token works (userinfo) before the app must refresh it.",
    },
    Def {
        key: "oidc.id_token_seconds",
        kind: Kind::Int { min: 60, max: 86_400 },
        default: "3600",
        secret: false,
        change: Change::Admin,
        section: OIDC,
        help: "How long an OpenID Connect id_token is valid; a rotated signing key stays published this long.",
    },
    Def {
        key: "oidc.refresh_token_days",
        kind: Kind::Int { min: 1, max: 365 },
        default: "30",
        secret: false,
        change: Change::Admin,
        section: OIDC,
        help: "How long an OpenID Connect refresh token works (it also ends with the Usher session it came from).",
    },
];
