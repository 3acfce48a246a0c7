//! `usher db copy --to URL` and `usher backup FILE`: the command-line side of moving and
//! keeping a whole install (the work itself is in `usher::store::copy`). Nothing here may write
//! to the source store, and no database password may reach the terminal.

use std::path::Path;

use anyhow::{bail, Context};
use clap::Subcommand;
use usher::config::{redact_url, validate_database_url, Config};
use usher::store::Store;

/// `usher db …`
#[derive(Subcommand, Debug)]
pub enum DbAction {
    /// Copy every row of this install (accounts, sessions, groups, tabs, settings, audit log…)
    /// into another, empty database, keeping ids; checked by row counts, written in one
    /// transaction. Secrets are copied encrypted: serve the copy with the same secret key.
    ///
    /// Example: usher db copy --data-dir /var/lib/usher --to postgres://usher@db/usher
    Copy {
        /// The empty target: postgres://USER@HOST/DB (create the database first) or
        /// sqlite://PATH (a new file).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// Runs `usher db copy`.
pub async fn db_command(config: &Config, action: &DbAction) -> anyhow::Result<()> {
    let DbAction::Copy { to } = action;
    let to = validate_database_url(to, "--to")?;
    if to == config.database_url {
        bail!("--to names the database Usher reads from; give another one");
    }
    let (from_shown, to_shown) = (redact_url(&config.database_url), redact_url(&to));
    let source = open_source(config).await?;
    let target = Store::connect(&to)
        .await
        .with_context(|| format!("cannot open {to_shown}"));
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            source.close().await;
            return Err(e);
        }
    };
    let copied = source.copy_to(&target).await;
    target.close().await;
    source.close().await;
    let counts = copied.with_context(|| format!("cannot copy {from_shown} to {to_shown}"))?;
    println!("copied {from_shown} to {to_shown}; rows per table (same in both):\n{counts}");
    println!("{}", same_key_note(config));
    Ok(())
}

/// The store the server uses; a SQLite file that is not there is an error, not a new install.
async fn open_source(config: &Config) -> anyhow::Result<Store> {
    let url = &config.database_url;
    if let Some(path) = usher::config::sqlite_file(url) {
        if !path.exists() {
            bail!(
                "no Usher database at {}: give the --data-dir or --database-url the server uses",
                path.display()
            );
        }
    }
    Store::connect(url)
        .await
        .with_context(|| format!("cannot open {}", redact_url(url)))
}

/// Runs `usher backup FILE`.
pub async fn backup_command(config: &Config, file: &Path) -> anyhow::Result<()> {
    let shown = redact_url(&config.database_url);
    let store = open_source(config).await?;
    let written = store.backup_to(file).await;
    store.close().await;
    let counts = written.with_context(|| format!("cannot back up {shown}"))?;
    println!(
        "wrote a snapshot of {shown} to {} (SQLite; it opens and checks out); rows per table:\n{counts}",
        file.display()
    );
    println!("{}", same_key_note(config));
    Ok(())
}

/// Where the secret key is that the copy or snapshot needs.
fn same_key_note(config: &Config) -> String {
    let key = match &config.secret_key {
        Some(_) => "the USHER_SECRET_KEY in use".to_string(),
        None => config.data_dir.join("secret.key").display().to_string(),
    };
    format!(
        "Encrypted values were copied as they are: keep the secret key ({key}) with it; Usher \
         refuses to start on it with another key. See docs/backup.md."
    )
}
