//! `usher import organizr …`: finds Organizr's files, runs the import through the library
//! (src/import/organizr/) and prints its report. Everything it decides lives there.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use usher::core::Core;
use usher::import::organizr::{self, Options, Sources};

#[derive(Subcommand, Debug)]
pub enum ImportSource {
    /// Users (with their passwords), groups, tabs and the Plex/SSO settings of an Organizr v2
    /// install, in one transaction.
    ///
    /// Give Organizr's data folder (--from: config/config.php and the database it names), or
    /// the two files (--db and --config). Run with --dry-run first: it prints every user, tab and
    /// setting it would import and every Organizr setting it would not, and writes nothing.
    #[command(
        after_help = "See docs/migrating-from-organizr.md for the mapping and a rollback note."
    )]
    Organizr(OrganizrArgs),
}

#[derive(Args, Debug)]
pub struct OrganizrArgs {
    /// Organizr's data folder (as mounted into its container), holding config/config.php.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["db", "config"])]
    from: Option<PathBuf>,
    /// Organizr's SQLite database file (with --config).
    #[arg(long, value_name = "FILE", requires = "config")]
    db: Option<PathBuf>,
    /// Organizr's config.php (with --db). Here --config names Organizr's file; Usher's own
    /// TOML file comes from USHER_CONFIG.
    #[arg(long, value_name = "FILE", requires = "db")]
    config: Option<PathBuf>,
    /// Print what would be imported and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Import although Usher already has users: Usher's users, tabs, group names and settings
    /// win, and the report names every Organizr row skipped.
    #[arg(long)]
    merge: bool,
    /// Usher's data directory [default: ./usher-data] [env: USHER_DATA_DIR]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Usher's database: sqlite://PATH or postgres://USER@HOST/DB [env: USHER_DATABASE_URL]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

impl ImportSource {
    /// Where Usher's own data is: `(data_dir, database_url)` as given.
    pub fn usher_store(&self) -> (Option<String>, Option<String>) {
        let ImportSource::Organizr(a) = self;
        (a.data_dir.clone(), a.database_url.clone())
    }
}

/// Runs `usher import organizr`.
pub async fn import_command(core: &Core, source: &ImportSource) -> anyhow::Result<()> {
    let ImportSource::Organizr(args) = source;
    let sources = match (&args.from, &args.db, &args.config) {
        (Some(dir), None, None) => Sources::from_dir(dir)?,
        (None, Some(db), Some(config)) => Sources {
            config: config.clone(),
            db: db.clone(),
        },
        _ => bail!(
            "give Organizr's data folder (--from DIR) or both files (--db FILE --config FILE)"
        ),
    };
    let options = Options {
        dry_run: args.dry_run,
        merge: args.merge,
    };
    let report = organizr::import(core, &sources, options).await?;
    print!("{report}");
    Ok(())
}
