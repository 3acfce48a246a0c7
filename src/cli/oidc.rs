//! `usher oidc …`: register the apps that sign people in through Usher's OpenID Connect
//! provider, and rotate its signing key. A secret is printed once, when it is made, and never
//! again (only its hash is kept).

use std::io::BufRead;

use anyhow::{bail, Context};
use clap::Subcommand;
use usher::core::Core;
use usher::oidc::clients::{self, NewClient};
use usher::store::{Actor, OidcClient};

/// `usher oidc …`
#[derive(Subcommand, Debug)]
pub enum OidcAction {
    /// Register, list, show and delete the apps (clients) that sign in through Usher.
    Client {
        #[command(subcommand)]
        action: ClientAction,
    },
    /// Make a new signing key. The previous one stays in the JWKS until the id_tokens it signed
    /// have expired (oidc.id_token_seconds), so apps keep accepting them meanwhile.
    RotateKey {
        /// Drop the previous key from the JWKS at once (it may be compromised): id_tokens it
        /// signed stop verifying.
        #[arg(long)]
        drop_previous: bool,
    },
}

/// `usher oidc client …`
#[derive(Subcommand, Debug)]
pub enum ClientAction {
    /// Register an app. A confidential client gets a generated secret, printed once, unless
    /// --secret-stdin gives one; --public makes a client without a secret that must use PKCE.
    ///
    /// Example: usher oidc client add grafana --redirect-uri https://grafana.example.com/login/generic_oauth --name Grafana --group 2
    Add {
        /// The client_id the app is configured with (letters, digits, '-', '_', '.').
        id: String,
        /// Where the app receives the answer; exact match. Repeat for several.
        #[arg(long = "redirect-uri", required = true, value_name = "URL")]
        redirect_uris: Vec<String>,
        /// A name for people (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// Highest group let in: 0 Admin, 1 Co-Admin, 2 Super User, 3 Power User, 4 User
        /// (default 4); others get access_denied.
        #[arg(long)]
        group: Option<i64>,
        /// A public client (a browser or mobile app that cannot keep a secret): PKCE only.
        #[arg(long)]
        public: bool,
        /// Read the client secret (at least 32 characters) from the first line of standard input.
        #[arg(long)]
        secret_stdin: bool,
        /// Allow plain http redirect URIs on hosts other than loopback.
        #[arg(long)]
        allow_http: bool,
    },
    /// List the registered apps.
    List,
    /// Show one app and the addresses to configure it with.
    Show { id: String },
    /// Delete an app and every token it holds.
    Delete { id: String },
    /// Give an app a new secret (printed once); the old one stops working.
    Secret { id: String },
}

/// Runs `usher oidc …`.
pub async fn oidc_command(core: &Core, action: &OidcAction) -> anyhow::Result<()> {
    let issuer = usher::http::oidc::issuer(&core.settings());
    if issuer.is_none() {
        eprintln!("note: public_url is not set, so the OpenID Connect provider does not answer yet (usher settings set public_url '\"https://usher.example.com\"')");
    }
    let actor = Actor::cli();
    match action {
        OidcAction::RotateKey { drop_previous } => {
            let keep = if *drop_previous {
                0
            } else {
                core.settings().oidc.id_token_seconds
            };
            let kid = usher::oidc::keys::rotate(&core.store, &core.secret_key, keep).await?;
            println!("new signing key {kid}; the previous key stays published for {keep} seconds");
        }
        OidcAction::Client { action } => client_command(core, action, &actor, issuer).await?,
    }
    Ok(())
}

async fn client_command(
    core: &Core,
    action: &ClientAction,
    actor: &Actor,
    issuer: Option<String>,
) -> anyhow::Result<()> {
    let store = &core.store;
    match action {
        ClientAction::Add {
            id,
            redirect_uris,
            name,
            group,
            public,
            secret_stdin,
            allow_http,
        } => {
            let secret = if *secret_stdin {
                Some(read_line().context("reading the client secret from standard input")?)
            } else {
                None
            };
            let new = NewClient {
                id: id.clone(),
                name: name.clone(),
                redirect_uris: redirect_uris.clone(),
                max_group: *group,
                public: *public,
                allow_http: *allow_http,
                secret,
            };
            let (client, secret) = clients::add(store, new, actor).await?;
            show(&client, issuer.as_deref());
            match secret {
                Some(s) if !*secret_stdin => {
                    println!("client_secret: {s}\n(shown once: store it in the app's settings now)")
                }
                _ => {}
            }
        }
        ClientAction::List => {
            let all = store.oidc_clients().await?;
            if all.is_empty() {
                println!("no clients; add one with `usher oidc client add ID --redirect-uri URL`");
            }
            for c in all {
                let kind = if c.public { "public" } else { "confidential" };
                println!(
                    "{}\t{}\t{kind}\tgroup<={}\t{}",
                    c.id,
                    c.name,
                    c.max_group,
                    c.redirect_uris.join(" ")
                );
            }
        }
        ClientAction::Show { id } => show(&clients::get(store, id).await?, issuer.as_deref()),
        ClientAction::Delete { id } => {
            clients::delete(store, id, actor).await?;
            println!("deleted client {id} and its tokens");
        }
        ClientAction::Secret { id } => {
            let s = clients::new_secret(store, id, actor).await?;
            println!("client_secret: {s}\n(shown once; the previous secret no longer works)");
        }
    }
    Ok(())
}

fn show(c: &OidcClient, issuer: Option<&str>) {
    println!("client_id: {}", c.id);
    println!("name: {}", c.name);
    println!(
        "type: {}",
        if c.public {
            "public (PKCE, no secret)"
        } else {
            "confidential (client_secret_basic or client_secret_post)"
        }
    );
    println!("admits groups: 0 to {}", c.max_group);
    for u in &c.redirect_uris {
        println!("redirect_uri: {u}");
    }
    if let Some(iss) = issuer {
        println!("issuer: {iss}");
        println!("discovery: {iss}/.well-known/openid-configuration");
    }
}

fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let s = line.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        bail!("nothing on standard input");
    }
    Ok(s)
}
