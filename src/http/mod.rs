//! HTTP: router, extractors, the proxy-auth hot path, the JSON API and the pages.

pub mod api;
pub mod client_ip;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod headers;
pub mod metrics;
pub mod oidc;
mod oidc_client_auth;
mod oidc_logout;
pub mod proxy_auth;
pub mod proxy_auth_conn;
pub mod redirect;
pub mod router;
pub mod serve;
pub mod signin;
pub mod views;
