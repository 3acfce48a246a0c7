//! The one integration-test binary (each file under tests/ would be its own link step).

mod support;

mod api_admin;
mod api_groups;
mod api_login;
mod api_settings;
mod api_tabs;
mod cli;
mod docs;
mod e2e_browser;
mod e2e_forwarding;
mod e2e_nginx;
mod e2e_proxies;
mod e2e_sso;
mod hardening;
mod pages;
mod plex_accounts;
mod plex_admin;
mod plex_browser;
mod plex_client;
mod plex_client_failures;
mod plex_friends;
mod plex_impostor;
mod plex_login;
mod plex_pin;
mod plex_pin_once;
mod proxy_auth;
mod proxy_config;
mod rules;
mod sso_apps;
mod sso_login;
mod sso_records;
mod ui_admin;
mod ui_journey;
