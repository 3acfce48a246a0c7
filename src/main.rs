//! The `usher` command: parse arguments, load the configuration, call into the library.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use usher::auth::accounts::{Acting, CreateUser, EditUser};
use usher::config::{Config, LogFormat, Overrides};
use usher::core::Core;

/// Command handlers that would make this file too long to read.
mod cli {
    pub mod db;
    pub mod groups_tabs;
    pub mod import;
    pub mod oidc;
}
use cli::db::DbAction;
use cli::groups_tabs::{GroupAction, TabAction, GROUP_NUMBERS, TAB_VISIBILITY};
use cli::import::ImportSource;
use cli::oidc::OidcAction;

/// Usher — one sign-in for Plex and everything behind your reverse proxy.
///
/// Usher answers nginx `auth_request` (Organizr-compatible: /api/v2/auth/{group}) so that one
/// login protects every app. Start it with `usher serve`; open the setup link it prints to
/// create the first administrator.
#[derive(Parser, Debug)]
#[command(name = "usher", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log line format: `text` for people, `json` for log collectors [env: USHER_LOG_FORMAT]
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,

    /// Log filter, e.g. `info`, `debug` or `usher=debug,info` [env: USHER_LOG_LEVEL]
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
}

/// Where Usher keeps its data; shared by every command.
///
/// `global` so that `usher user add NAME --data-dir DIR` works as well as
/// `usher user --data-dir DIR add NAME`.
#[derive(Args, Debug, Clone)]
struct StoreArgs {
    /// TOML file with any of: listen, data_dir, database_url, secret_key, log_format, log_level
    /// [env: USHER_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Directory for the database, secret key and setup token [default: ./usher-data]
    /// [env: USHER_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<String>,

    /// Database: sqlite://PATH (default: <data-dir>/usher.db) or postgres://USER@HOST/DB for
    /// several instances [env: USHER_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    ///
    /// Settings come from flags, then USHER_* environment variables (USHER_X_FILE reads X from a
    /// file), then the TOML file, then defaults.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on [default: 127.0.0.1:8420] [env: USHER_LISTEN]
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Manage accounts (works whether or not the server runs; it sees changes within seconds).
    User {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Read and change run-time settings (values are JSON; secrets are shown masked).
    Settings {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: SettingsAction,
    },
    /// Manage groups: rename, add and delete custom groups, choose the default group.
    ///
    /// A running server sees the change within a second.
    #[command(after_help = GROUP_NUMBERS)]
    Group {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: GroupAction,
    },
    /// Manage the portal's tabs: add, change, delete, reorder.
    ///
    /// A tab's name also works as a proxy-auth URL (/api/v2/auth/TABNAME). A running server sees
    /// the change within a second.
    #[command(after_help = TAB_VISIBILITY)]
    Tab {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: TabAction,
    },
    /// OpenID Connect provider: register apps (`usher oidc client add ID --redirect-uri URL`)
    /// and rotate the signing key; see docs/oidc.md.
    Oidc {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: OidcAction,
    },
    /// Move an install to another database: `usher db copy --to URL` (SQLite ⇄ PostgreSQL).
    Db {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: DbAction,
    },
    /// Write a consistent snapshot (a SQLite file) while the server runs; see docs/backup.md.
    ///
    /// From SQLite this is SQLite's own VACUUM INTO; from PostgreSQL, the rows of one
    /// transaction snapshot copied into the file (pg_dump is the PostgreSQL-native alternative).
    Backup {
        #[command(flatten)]
        store: StoreArgs,
        /// The new file to write (refused if it exists).
        file: PathBuf,
    },
    /// Move from another portal: `usher import organizr --from DIR [--dry-run] [--merge]`.
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Print a ready reverse-proxy snippet (nginx, Caddy or Traefik) that puts one or several
    /// apps behind Usher; needs no database.
    ///
    /// Example: usher proxy-config --proxy nginx --mode subdirectory --app
    /// calibre-web,path=/books,header-auth --app tautulli
    ProxyConfig(ProxyConfigArgs),
    /// Exit 0 when the server answers /healthz (for container health checks).
    Healthcheck {
        /// Health URL [default: http://<listen>/healthz from the configuration]
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Args, Debug)]
struct ProxyConfigArgs {
    /// The reverse proxy in front of the apps.
    #[arg(long, value_enum)]
    proxy: usher::proxy_config::Proxy,
    /// An app to put behind Usher; repeat it for several apps (the shared part is printed once).
    /// APP is a name (grafana, nzbhydra2, calibre-web, plex, tautulli, ombi, overseerr,
    /// jellyfin, or any other name with an upstream), optionally followed by its own choices:
    /// NAME,path=/books,upstream=URL,group=N,header-auth.
    /// Example: --app calibre-web,path=/books,header-auth --app tautulli
    #[arg(long, required = true, value_name = "APP")]
    app: Vec<String>,
    /// With one --app: where it lives on Usher's host (subdirectory mode) [default: /APP]
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// With one --app: where the proxy reaches it [default: the known app's usual port on
    /// 127.0.0.1]
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Highest group let in: 0 Admin, 1 Co-Admin, 2 Super User, 3 Power User, 4 User,
    /// 998 anyone signed in, 999 everyone; for every --app that does not say group=N
    /// [default: 4]
    #[arg(long)]
    group: Option<i64>,
    /// `subdomain` (app.example.com) or `subdirectory` (example.com/app/).
    #[arg(long, value_enum, default_value = "subdomain")]
    mode: usher::proxy_config::Mode,
    /// With one --app: pass the signed-in person to it in X-WEBAUTH-USER/-EMAIL/-GROUP
    /// (Grafana, NZBHydra2, Calibre-Web); client-sent identity headers are always stripped.
    #[arg(long)]
    header_auth: bool,
    /// Where the proxy reaches Usher.
    #[arg(long, value_name = "URL", default_value = usher::proxy_config::DEFAULT_USHER)]
    usher: String,
    /// Your domain: apps at APP.DOMAIN (subdomain) or DOMAIN/APP/ (subdirectory).
    #[arg(long, default_value = usher::proxy_config::DEFAULT_DOMAIN)]
    domain: String,
    /// nginx: keep connections to Usher open for the auth checks. Adds an `upstream` block that
    /// goes at http level, outside every server block; through one nginx worker a protected
    /// app then serves about twice the requests per second (BENCHMARKS.md).
    #[arg(long)]
    keepalive: bool,
}

/// The apps of `usher proxy-config`: each `--app` with its own parts, the single-app flags
/// added to a lone `--app`.
fn proxy_site(a: &ProxyConfigArgs) -> anyhow::Result<usher::proxy_config::Site> {
    use usher::proxy_config::App;
    let single_flags = a.path.is_some() || a.upstream.is_some() || a.header_auth;
    if a.app.len() > 1 && single_flags {
        anyhow::bail!(
            "--path, --upstream and --header-auth go with one --app; for several, give each its own: --app NAME,path=/x,upstream=URL,header-auth"
        );
    }
    let mut apps = Vec::new();
    for spec in &a.app {
        let mut app: App = spec.parse()?;
        let says_group = spec.split(',').any(|p| p.trim().starts_with("group="));
        if let (Some(g), false) = (a.group, says_group) {
            app.group = g;
        }
        app.path = a.path.clone().or(app.path);
        app.upstream = a.upstream.clone().or(app.upstream);
        app.header_auth |= a.header_auth;
        apps.push(app);
    }
    Ok(usher::proxy_config::Site {
        proxy: a.proxy,
        mode: a.mode,
        usher: a.usher.clone(),
        domain: a.domain.clone(),
        apps,
        keepalive: a.keepalive,
    })
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Create an account. Without --password-stdin a random password is generated and printed.
    Add {
        /// Login name (unique, compared ignoring case and look-alike letters; no '@' or '/', no
        /// invisible characters).
        name: String,
        /// Email address (unique; may also be used to sign in).
        #[arg(long)]
        email: String,
        /// Group number: 0 Admin, 1 Co-Admin, 2 Super User, 3 Power User, 4 User (default)
        #[arg(long)]
        group: Option<i64>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Give this account the name of a deleted or renamed account on purpose (apps behind
        /// Usher that key on the name will take the new account for the old person).
        #[arg(long)]
        reuse_retired_name: bool,
    },
    /// List accounts.
    List,
    /// Set a password (read from standard input); signs the user out everywhere.
    Passwd {
        /// Login name of the account.
        name: String,
        /// Read the new password from the first line of standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Lock an account: sign-in and every protected app refuse it at once.
    Lock {
        /// Login name of the account.
        name: String,
    },
    /// Unlock an account.
    Unlock {
        /// Login name of the account.
        name: String,
    },
    /// Turn off someone's two-factor sign-in (lost phone and recovery codes); they sign in with
    /// their password alone and may turn it on again.
    ResetTwoFactor {
        /// Login name of the account.
        name: String,
    },
    /// Delete an account and its sessions.
    Delete {
        /// Login name of the account.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum SettingsAction {
    /// Every setting with its value (secrets masked).
    List,
    /// One setting's value.
    Get {
        /// Setting name, as shown by `usher settings list`.
        key: String,
    },
    /// Set a value, given as JSON (`7`, `true`, `'"text"'`, `'["a","b"]'`); plain text is taken as
    /// a string. `null` resets the default.
    Set {
        /// Setting name, as shown by `usher settings list`.
        key: String,
        /// New value: JSON, or plain text taken as a string.
        value: String,
    },
}

fn overrides(store: &StoreArgs, cli: &Cli, listen: Option<String>) -> Overrides {
    Overrides {
        config_file: store.config.clone(),
        listen,
        data_dir: store.data_dir.clone(),
        database_url: store.database_url.clone(),
        log_format: cli.log_format.clone(),
        log_level: cli.log_level.clone(),
    }
}

fn init_logging(config: &Config, quiet: bool) {
    let filter = if quiet && std::env::var_os("USHER_LOG_LEVEL").is_none() {
        "warn".to_string()
    } else {
        config.log_level.clone()
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("usher: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Serve { store, listen } => {
            let config = Config::load(overrides(store, &cli, listen.clone()))?;
            init_logging(&config, false);
            let app = usher::build_app(config).await?;
            app.run().await.context("server stopped with an error")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User { store, action } => {
            let config = Config::load(overrides(store, &cli, None))?;
            init_logging(&config, true);
            let core = Core::open(config).await?;
            user_command(&core, action).await?;
            core.store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Settings { store, action } => {
            let config = Config::load(overrides(store, &cli, None))?;
            init_logging(&config, true);
            let core = Core::open(config).await?;
            settings_command(&core, action).await?;
            core.store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Group { store, action } => {
            let config = Config::load(overrides(store, &cli, None))?;
            init_logging(&config, true);
            let core = Core::open(config).await?;
            let done = cli::groups_tabs::group_command(&core, action).await;
            core.store.close().await;
            done?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tab { store, action } => {
            let config = Config::load(overrides(store, &cli, None))?;
            init_logging(&config, true);
            let core = Core::open(config).await?;
            let done = cli::groups_tabs::tab_command(&core, action).await;
            core.store.close().await;
            done?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Oidc { store, action } => {
            let config = Config::load(overrides(store, &cli, None))?;
            init_logging(&config, true);
            let core = Core::open(config).await?;
            let done = cli::oidc::oidc_command(&core, action).await;
            core.store.close().await;
            done?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Db { store, action } => {
            let config = Config::load(overrides(store, &cli, None))?;
            init_logging(&config, true);
            cli::db::db_command(&config, action).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { store, file } => {
            let config = Config::load(overrides(store, &cli, None))?;
            init_logging(&config, true);
            cli::db::backup_command(&config, file).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { source } => {
            let (data_dir, database_url) = source.usher_store();
            let config = Config::load(Overrides {
                data_dir,
                database_url,
                log_format: cli.log_format.clone(),
                log_level: cli.log_level.clone(),
                ..Default::default()
            })?;
            init_logging(&config, true);
            let core = Core::open(config).await?;
            let done = cli::import::import_command(&core, source).await;
            core.store.close().await;
            done?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ProxyConfig(a) => {
            let site = proxy_site(a)?;
            print!("{}", usher::proxy_config::generate_site(&site)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { url, store } => {
            let url = match url {
                Some(u) => u.clone(),
                None => {
                    let config = Config::load(overrides(store, &cli, None))?;
                    format!("http://{}/healthz", config.listen)
                }
            };
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?;
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
                Ok(r) => {
                    eprintln!("usher: {url} answered {}", r.status());
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => {
                    eprintln!("usher: {url} did not answer: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    Ok(pw)
}

async fn user_command(core: &Core, action: &UserAction) -> anyhow::Result<()> {
    let acting = Acting::cli();
    match action {
        UserAction::Add {
            name,
            email,
            group,
            password_stdin,
            reuse_retired_name,
        } => {
            let (password, generated) = if *password_stdin {
                (read_password_line()?, false)
            } else {
                (usher::crypto::random_token(12), true)
            };
            let req = CreateUser {
                username: name.clone(),
                email: Some(email.clone()),
                password: Some(password.clone()),
                group_id: *group,
                reuse_retired_name: *reuse_retired_name,
            };
            let user = core
                .create_user(req, &acting)
                .await
                .map_err(|e| anyhow!("cannot add {name}: {e}"))?;
            println!(
                "added {} (id {}, group {} {})",
                user.username, user.id, user.group_id, user.group_name
            );
            if generated {
                println!("password: {password}");
            }
        }
        UserAction::List => {
            let users = core.store.list_users().await?;
            println!(
                "{:<6} {:<24} {:<32} {:<14} locked",
                "id", "username", "email", "group"
            );
            for u in users {
                println!(
                    "{:<6} {:<24} {:<32} {:<14} {}",
                    u.id,
                    u.username,
                    u.email.unwrap_or_default(),
                    format!("{} {}", u.group_id, u.group_name),
                    if u.locked { "yes" } else { "no" }
                );
            }
        }
        UserAction::Passwd { name, .. } => {
            let user = core
                .user_by_name(name)
                .await
                .map_err(|_| anyhow!("no user named {name}"))?;
            let password = read_password_line()?;
            core.edit_user(
                user.id,
                EditUser {
                    password: Some(password),
                    ..Default::default()
                },
                &acting,
            )
            .await
            .map_err(|e| anyhow!("cannot change the password of {name}: {e}"))?;
            println!(
                "password of {} changed; their sessions were ended",
                user.username
            );
        }
        UserAction::Lock { name } | UserAction::Unlock { name } => {
            let lock = matches!(action, UserAction::Lock { .. });
            let user = core
                .user_by_name(name)
                .await
                .map_err(|_| anyhow!("no user named {name}"))?;
            core.edit_user(
                user.id,
                EditUser {
                    locked: Some(lock),
                    ..Default::default()
                },
                &acting,
            )
            .await
            .map_err(|e| anyhow!("cannot change {name}: {e}"))?;
            println!(
                "{} {}",
                user.username,
                if lock { "locked" } else { "unlocked" }
            );
        }
        UserAction::ResetTwoFactor { name } => {
            let user = core
                .user_by_name(name)
                .await
                .map_err(|_| anyhow!("no user named {name}"))?;
            core.reset_two_factor(user.id, &acting)
                .await
                .map_err(|e| anyhow!("cannot reset the two-factor sign-in of {name}: {e}"))?;
            println!("two-factor sign-in of {} turned off", user.username);
        }
        UserAction::Delete { name } => {
            let user = core
                .user_by_name(name)
                .await
                .map_err(|_| anyhow!("no user named {name}"))?;
            core.delete_user(user.id, &acting)
                .await
                .map_err(|e| anyhow!("cannot delete {name}: {e}"))?;
            println!("{} deleted", user.username);
        }
    }
    Ok(())
}

async fn settings_command(core: &Core, action: &SettingsAction) -> anyhow::Result<()> {
    match action {
        SettingsAction::List => {
            for d in usher::settings::DEFS {
                println!("{} = {}", d.key, core.settings().shown(d.key));
            }
        }
        SettingsAction::Get { key } => {
            if usher::settings::def(key).is_none() {
                bail!("unknown setting `{key}` (see `usher settings list`)");
            }
            println!("{}", core.settings().shown(key));
        }
        SettingsAction::Set { key, value } => {
            let parsed = serde_json::from_str(value)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
            let mut patch = serde_json::Map::new();
            patch.insert(key.clone(), parsed);
            match core
                .update_settings(&patch, &usher::auth::accounts::Acting::cli())
                .await?
            {
                Ok(_) => println!("{key} = {}", core.settings().shown(key)),
                Err(errors) => {
                    let msg = errors
                        .into_iter()
                        .map(|(k, v)| format!("`{k}`: {v}"))
                        .collect::<Vec<_>>()
                        .join("; ");
                    bail!("not saved: {msg}");
                }
            }
        }
    }
    Ok(())
}
