//! `usher import organizr`: moves an Organizr install — users with their bcrypt passwords,
//! groups, tabs and the SSO/Plex settings of `config.php` — into Usher in one transaction.
//!
//! The path is straight: find the two files ([`Sources`]), read them ([`config_php`], [`db`]),
//! map and check every row ([`plan`], [`mapping`]), then either print the plan (dry run) or
//! write it all at once ([`crate::store::Store::write_import`]). Nothing is written unless
//! every row passed; a refused row is named. Never executes PHP, never renames a person, never
//! prints a secret.

pub mod config_php;
pub mod db;
pub mod mapping;
mod plan;
mod report;
pub mod secrets;

use std::path::{Path, PathBuf};

use crate::core::Core;
use crate::store::{Actor, ImportWriteError, StoreError};

pub use plan::Plan;

/// The two files an import reads.
#[derive(Debug, Clone)]
pub struct Sources {
    pub config: PathBuf,
    pub db: PathBuf,
}

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Print what would be imported; write nothing.
    pub dry_run: bool,
    /// Import into an Usher that already has users: Usher's users, tabs, group names and
    /// explicitly set settings win; Organizr's colliding rows are skipped and reported.
    pub merge: bool,
}

/// Why an import stopped; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Sources(String),
    #[error("{path}: {source}")]
    Config {
        path: String,
        source: config_php::ParseError,
    },
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("the import was refused, nothing was written:\n  - {}", .0.join("\n  - "))]
    Refused(Vec<String>),
    #[error("Usher already has {0} user(s); run again with --merge to add Organizr's users next to them (Usher's own users, tabs and settings win; see docs/migrating-from-organizr.md), nothing was written")]
    NotEmpty(i64),
    #[error("writing the import failed, nothing was written: {0}")]
    Write(#[from] ImportWriteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the import was written, but reloading it failed: {0}")]
    Reload(#[from] crate::auth::AuthError),
}

impl Sources {
    /// Organizr's data folder: `config/config.php`, and the database its `dbLocation` and
    /// `dbName` name — looked up under `dir` when the recorded path does not exist here (the
    /// path is the one inside Organizr's container).
    pub fn from_dir(dir: &Path) -> Result<Sources, ImportError> {
        let candidates = [
            dir.join("config").join("config.php"),
            dir.join("data").join("config").join("config.php"),
        ];
        let config = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            ImportError::Sources(format!(
                "no Organizr config.php under {} (looked for {})",
                dir.display(),
                list(&candidates)
            ))
        })?;
        let parsed = read_config(config)?;
        let text = |key: &str| match parsed.get(key) {
            Some(config_php::PhpValue::Str(s)) if !s.trim().is_empty() => {
                Some(s.trim().to_string())
            }
            _ => None,
        };
        let (Some(location), Some(name)) = (text("dbLocation"), text("dbName")) else {
            return Err(ImportError::Sources(format!(
                "{} names no database (dbLocation and dbName): use --db FILE --config FILE",
                config.display()
            )));
        };
        let recorded = Path::new(&location).join(&name);
        let mut tried = vec![recorded.clone()];
        // `/config/www/organizr/db/` inside the container → DIR/www/organizr/db, …, DIR/db, DIR.
        let parts: Vec<_> = Path::new(&location)
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        for skip in 0..=parts.len() {
            let mut p = dir.to_path_buf();
            p.extend(&parts[skip..]);
            tried.push(p.join(&name));
        }
        match tried.iter().find(|p| p.is_file()) {
            Some(db) => Ok(Sources {
                config: config.clone(),
                db: db.clone(),
            }),
            None => Err(ImportError::Sources(format!(
                "Organizr's database {name} was not found (looked for {}): use --db FILE",
                list(&tried)
            ))),
        }
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads and parses `config.php`.
fn read_config(path: &Path) -> Result<config_php::PhpValue, ImportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ImportError::Sources(format!("cannot read {}: {e}", path.display())))?;
    config_php::parse(&text).map_err(|source| ImportError::Config {
        path: path.display().to_string(),
        source,
    })
}

/// Runs an import; returns the report to print (also for a dry run).
pub async fn import(
    core: &Core,
    sources: &Sources,
    options: Options,
) -> Result<String, ImportError> {
    let config = read_config(&sources.config)?;
    let organizr = db::read(&sources.db).await?;
    let usher = plan::UsherNow::read(core).await?;
    if !options.merge && !usher.users.is_empty() {
        return Err(ImportError::NotEmpty(usher.users.len() as i64));
    }
    let plan = Plan::build(&config, &organizr, &usher, options, &core.secret_key)?;
    let report = report::render(&plan, sources, options);
    if options.dry_run {
        return Ok(report);
    }
    core.store
        .write_import(&plan.batch, &Actor::cli())
        .await
        .map_err(|e| match e {
            ImportWriteError::NotEmpty(n) => ImportError::NotEmpty(n),
            e => ImportError::Write(e),
        })?;
    // This process's caches; other servers follow the change feed within a second.
    core.sessions.invalidate_all();
    core.reload_tabs().await?;
    core.reload_settings().await?;
    tracing::info!(
        users = plan.batch.users.len(),
        tabs = plan.batch.tabs.len(),
        settings = plan.batch.settings.len(),
        "Organizr import written"
    );
    Ok(report)
}
