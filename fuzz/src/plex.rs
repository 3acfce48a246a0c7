//! Target `plex`: plex.tv's answers (JSON accounts, PINs and resources; XML friends, server lists
//! and error bodies) as the real `PlexClient` reads them from a fake plex.tv. Invariant: no panic,
//! and an answer never produces an account without a token.
//!
//! Input: line 1 names the call (`signin`, `pin`, `checkpin`, `account`, `friends`, `resources`,
//! `pms`, `servers`); the rest is plex.tv's answers (see `upstream`).

use std::sync::OnceLock;
use std::time::Duration;

use url::Url;
use usher::plex::{PlexAccount, PlexClient, PlexClientConfig, PlexError, PlexToken};

use crate::upstream::Fake;

struct Child {
    fake: Fake,
    client: PlexClient,
}

fn child() -> &'static Child {
    static CHILD: OnceLock<Child> = OnceLock::new();
    CHILD.get_or_init(|| {
        let fake = Fake::start();
        let config = PlexClientConfig {
            tv_url: Url::parse(&fake.base).expect("fake URL"),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            ..PlexClientConfig::new("usher-fuzz")
        };
        let client = PlexClient::new(config).expect("plex client");
        Child { fake, client }
    })
}

/// Nothing to prepare before the fork (the fake server is per child).
pub fn prepare() {}

/// One call against one set of answers.
pub fn run(data: &[u8]) {
    let (call, answers) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let c = child();
    let token = PlexToken::from("fuzz-admin-token".to_string());
    let client = &c.client;
    match call.trim_ascii() {
        b"signin" => check_account(c.fake.run(answers, client.sign_in("alice", "pw", None))),
        b"account" => check_account(c.fake.run(answers, client.account(&token))),
        b"pin" => drop(c.fake.run(answers, client.create_pin())),
        b"checkpin" => drop(c.fake.run(answers, client.check_pin(42))),
        b"friends" => drop(c.fake.run(answers, client.friends(&token))),
        b"resources" => drop(c.fake.run(answers, client.resources(&token))),
        b"pms" => drop(c.fake.run(answers, client.pms_servers(&token))),
        b"servers" => drop(c.fake.run(answers, client.servers(&token))),
        _ => {}
    }
}

fn check_account(result: Result<PlexAccount, PlexError>) {
    if let Ok(account) = result {
        assert!(
            !account.token.expose().is_empty(),
            "an account without a token: {account:?}"
        );
    }
}
