//! Persistence through sqlx's `Any` driver: the same SQL (with `$1` placeholders) runs on SQLite
//! and PostgreSQL. Every mutation writes its row, its audit entry and its change-feed entry in
//! one transaction, so a crash never leaves half a change and every process learns about it.

mod audit_log;
mod changes;
pub mod copy;
mod groups;
mod import;
mod limits;
mod names;
mod oidc;
mod oidc_grants;
mod plex;
mod sessions;
mod settings;
mod sso;
mod tabs;
mod two_factor;
mod users;

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Executor, Row};

use audit_log::{audit, before_after, masked_url};
pub use audit_log::{AuditEntry, AuditPage, AuditQuery};
pub use changes::{Change, ChangeKind, ChangeListener};
pub use import::{ImportBatch, ImportGroup, ImportUser, ImportWriteError};
pub use limits::{Job, RateScope, RateWindow};
pub use names::NameClaim;
pub use oidc::{OidcClient, OidcClientPatch, StoredKey};
pub use oidc_grants::{Grant, NewCode, NewToken, StoredCode, StoredToken};
pub use plex::{NewPlexUser, PlexLink};
pub use sessions::{NewSession, SessionInfo};
pub use sso::{CookieRecord, SsoRecord};
pub use tabs::TabFields;
pub use two_factor::TwoFactorRecord;
pub use users::UserPatch;

use crate::domain::UserId;

/// Longest wait for a PostgreSQL connection. While the database is away every request that
/// needs it waits at most this long before its 503, so it is short; sqlx opens a new connection
/// on a later acquire, and the instance recovers by itself when the database returns. (SQLite
/// keeps its 10 s: a local file is not "away", only busy.)
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Store errors, each with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    /// The name looks like one an account holds, or held (`retired`).
    #[error("the name looks like {name:?}, which is taken")]
    NameTaken { name: String, retired: bool },
}

impl StoreError {
    /// True when the database could not be reached (connection refused or lost, pool timed
    /// out, server shutting down), as opposed to a statement it refused.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Protocol(_) => true,
                // SQLSTATE class 08 (connection exception), 57P01..03 (shutdown, cannot connect now).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
                _ => false,
            },
            _ => false,
        }
    }

    /// The store answered but cannot write: its disk is full or it is read-only. SQLite gives
    /// its (extended) result code as a number, PostgreSQL a five-character SQLSTATE.
    pub fn storage_problem(&self) -> Option<StorageProblem> {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return None;
        };
        let code = db.code()?;
        if code.len() == 5 {
            // 53100 disk_full; 25006 read_only_sql_transaction (a standby, or a read-only default).
            return match code.as_ref() {
                "53100" => Some(StorageProblem::Full),
                "25006" => Some(StorageProblem::ReadOnly),
                _ => None,
            };
        }
        // The primary SQLite code is the low byte: SQLITE_FULL 13, SQLITE_READONLY 8.
        match code.parse::<i32>().ok()? & 0xff {
            13 => Some(StorageProblem::Full),
            8 => Some(StorageProblem::ReadOnly),
            _ => None,
        }
    }

    /// Maps unique-constraint violations to [`StoreError::Conflict`] naming the field.
    fn from_write(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                let msg = db.message();
                // Two look-alike names created at once: the second meets the first's claim.
                if msg.contains("name_claims") {
                    return StoreError::Conflict("username");
                }
                if msg.contains("username") {
                    return StoreError::Conflict("username");
                }
                if msg.contains("email") {
                    return StoreError::Conflict("email");
                }
                // groups.name_lc, tabs.name_lc (SQLite) or groups_name_lc_key (PostgreSQL).
                if msg.contains("name_lc") {
                    return StoreError::Conflict("name");
                }
                return StoreError::Conflict("value");
            }
        }
        StoreError::Database(e)
    }
}

/// Why a store that answers cannot save anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageProblem {
    /// No space left on the device that holds the database.
    Full,
    /// The database (or the file system it is on) is read-only.
    ReadOnly,
}

/// Who made a change, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The signed-in user who acted; `None` for the CLI or Usher itself.
    pub user_id: Option<UserId>,
    pub ip: Option<String>,
}

impl Actor {
    /// The command-line tool.
    pub fn cli() -> Self {
        Actor::default()
    }

    /// Someone not (yet) signed in, known by where they came from.
    pub fn from_client(client: &crate::auth::ClientInfo) -> Self {
        Actor {
            user_id: None,
            ip: Some(client.ip.to_string()),
        }
    }
}

/// The database handle shared by the whole process.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static MIGRATE_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MIGRATE_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let mut opts = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(if backend == Backend::Sqlite {
                Duration::from_secs(10)
            } else {
                PG_ACQUIRE_TIMEOUT
            });
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL for concurrent readers; FULL sync so a committed account survives a crash.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    Ok(())
                })
            });
            opts = opts.after_release(|conn, _| {
                Box::pin(async move {
                    // A COMMIT that failed (disk full) leaves sqlx counting a transaction SQLite
                    // has already rolled back, and every later BEGIN on that connection fails:
                    // close it instead of reusing it. The ping waits for the queued rollback.
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            });
        }
        let pool = opts.connect(url).await?;
        match backend {
            Backend::Sqlite => MIGRATE_SQLITE.run(&pool).await?,
            Backend::Postgres => MIGRATE_POSTGRES.run(&pool).await?,
        }
        let store = Store { pool, backend };
        store.backfill_name_claims().await?;
        store.warn_list_separator_groups().await?;
        Ok(store)
    }

    /// The backend kind.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a transaction that reads first and writes later cannot upgrade its
    /// lock while another writer is waiting, and fails with SQLITE_BUSY instead of waiting for
    /// the busy timeout. PostgreSQL needs nothing special.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Reads a value of the meta table.
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    /// Sets a meta value unless one exists; returns the value in force.
    pub async fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(self
            .meta_get(key)
            .await?
            .unwrap_or_else(|| value.to_string()))
    }
}
