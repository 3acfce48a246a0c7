//! Moving and keeping a whole install: `usher db copy` (every row of every table, SQLite ⇄
//! PostgreSQL, ids kept) and `usher backup` (a consistent SQLite snapshot of a running store).
//!
//! The source is read in one snapshot (a read transaction); the target is written in one
//! transaction that is committed only after its row counts equal the source's. Values are copied
//! as stored: encrypted settings and tokens stay encrypted, so the target needs the same secret
//! key (the key check value in `meta` travels with them). This file must never write to the
//! source, never merge into a target that holds data, and never copy a table it does not know.

use std::collections::BTreeSet;
use std::path::Path;

use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Backend, Store, StoreError};

/// A table the copy carries over.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The table's name in both databases.
    pub name: &'static str,
    /// The migrations put rows in it (the built-in groups): a fresh target's rows are replaced,
    /// and they do not make it count as holding data.
    pub seeded_by_migrations: bool,
}

impl Table {
    const fn new(name: &'static str) -> Table {
        Table {
            name,
            seeded_by_migrations: false,
        }
    }

    const fn seeded(name: &'static str) -> Table {
        Table {
            name,
            seeded_by_migrations: true,
        }
    }
}

/// Every table the migrations create, each after the tables it references (rows are inserted
/// in this order). A migration that adds a table adds one line here; the copy refuses to run,
/// and the test `cli::db::every_table_the_migrations_create_is_copied` fails, until it does.
pub const TABLES: &[Table] = &[
    Table::new("meta"),
    Table::new("settings"),
    Table::seeded("groups"),
    Table::new("users"),
    Table::new("sessions"),
    Table::new("session_sso"),
    Table::new("tabs"),
    Table::new("name_claims"),
    Table::new("two_factor"),
    Table::new("two_factor_recovery"),
    Table::new("rate_windows"),
    Table::new("used_plex_pins"),
    Table::new("oidc_clients"),
    Table::new("oidc_subjects"),
    Table::new("oidc_keys"),
    Table::new("oidc_codes"),
    Table::new("oidc_tokens"),
    Table::new("audit_log"),
    Table::new("changes"),
];

/// Why a copy or backup did not happen; nothing was written to the target when it fails.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "the {side} database has a table `{table}` that the copy does not know: add it to TABLES \
         in src/store/copy.rs"
    )]
    UnknownTable { side: &'static str, table: String },
    #[error("the {side} database has no table `{table}` (is it an Usher database?)")]
    MissingTable {
        side: &'static str,
        table: &'static str,
    },
    #[error(
        "the target already holds data (rows in {tables}): copy into an empty database (a new \
         PostgreSQL database or a new SQLite file); nothing was written"
    )]
    TargetNotEmpty { tables: String },
    #[error(
        "table `{table}` has other columns in the source than in the target (run the same Usher \
         version on both)"
    )]
    ColumnsDiffer { table: &'static str },
    #[error("column `{table}.{column}` has a type the copy does not know: {ty}")]
    UnknownColumnType {
        table: &'static str,
        column: String,
        ty: String,
    },
    #[error(
        "`{table}`: {source_rows} rows in the source but {target_rows} in the target; nothing was \
         written"
    )]
    CountMismatch {
        table: &'static str,
        source_rows: i64,
        target_rows: i64,
    },
    #[error("{0} already exists; give a new file name")]
    FileExists(String),
    #[error("cannot create {file}: {reason}")]
    File { file: String, reason: String },
    #[error("the snapshot {file} does not check out: {reason}")]
    BadSnapshot { file: String, reason: String },
}

/// Rows per table, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowCounts(pub Vec<(&'static str, i64)>);

impl std::fmt::Display for RowCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (table, rows) in &self.0 {
            writeln!(f, "  {table:<14} {rows}")?;
        }
        Ok(())
    }
}

/// How a column's values are read and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Text,
    Blob,
}

impl Kind {
    /// SQLite's affinity rules, which also cover PostgreSQL's type names.
    fn of(declared: &str) -> Option<Kind> {
        let t = declared.to_ascii_lowercase();
        if t.contains("int") {
            Some(Kind::Integer)
        } else if t.contains("char") || t.contains("text") || t.contains("clob") {
            Some(Kind::Text)
        } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
            Some(Kind::Real)
        } else if t.contains("blob") || t == "bytea" {
            Some(Kind::Blob)
        } else {
            None
        }
    }
}

/// One value on its way from the source to the target.
enum Value {
    Integer(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

impl Value {
    fn read(row: &AnyRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
        Ok(match kind {
            Kind::Integer => Value::Integer(row.try_get(i)?),
            Kind::Real => Value::Real(row.try_get(i)?),
            Kind::Text => Value::Text(row.try_get(i)?),
            Kind::Blob => Value::Blob(row.try_get(i)?),
        })
    }
}

/// Bound parameters per INSERT: below SQLite's 32,766 and PostgreSQL's 65,535.
const PARAMETERS_PER_INSERT: usize = 4000;

impl Store {
    /// The tables in this database, as the migrations left them (sqlx's and SQLite's own
    /// bookkeeping tables left out).
    pub async fn schema_tables(&self) -> Result<BTreeSet<String>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 AND table_name <> '_sqlx_migrations'"
            }
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    /// Rows in every table of [`TABLES`].
    pub async fn row_counts(&self) -> Result<RowCounts, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(count_rows(&mut conn).await?)
    }

    /// Copies every row of this store into `target`, an empty Usher database (migrated by
    /// [`Store::connect`]), keeping ids; returns the row counts both now hold.
    pub async fn copy_to(&self, target: &Store) -> Result<RowCounts, CopyError> {
        check_tables(self, "source").await?;
        check_tables(target, "target").await?;
        let mut source = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // One snapshot for every table, however long the copy takes.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *source)
                .await?;
        }
        let mut dest = target.begin_write().await?;
        make_room(&mut dest).await?;
        for table in TABLES {
            copy_table(table, target.backend, &mut source, &mut dest).await?;
        }
        let source_counts = count_rows(&mut source).await?;
        let target_counts = count_rows(&mut dest).await?;
        for ((table, source_rows), (_, target_rows)) in source_counts.0.iter().zip(&target_counts.0)
        {
            if source_rows != target_rows {
                return Err(CopyError::CountMismatch {
                    table,
                    source_rows: *source_rows,
                    target_rows: *target_rows,
                });
            }
        }
        if target.backend == Backend::Postgres {
            advance_sequences(&mut dest).await?;
        }
        dest.commit().await?;
        source.commit().await?;
        Ok(target_counts)
    }

    /// Writes a consistent snapshot of this store to a new SQLite file while the server may be
    /// running, and checks that the file opens; returns the row counts the snapshot holds.
    ///
    /// SQLite: `VACUUM INTO` (one read transaction, so one point in time). PostgreSQL: the same
    /// copy as `usher db copy` into the new file, read in one REPEATABLE READ snapshot.
    pub async fn backup_to(&self, file: &Path) -> Result<RowCounts, CopyError> {
        create_private(file)?;
        let written = self.write_snapshot(file).await;
        if written.is_err() {
            // The file is the one created above: nothing else to keep.
            let _ = std::fs::remove_file(file);
        }
        written
    }

    async fn write_snapshot(&self, file: &Path) -> Result<RowCounts, CopyError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("VACUUM INTO $1")
                    .bind(file.display().to_string())
                    .execute(&self.pool)
                    .await?;
            }
            Backend::Postgres => {
                let snapshot = Store::connect(&crate::config::sqlite_url(file)).await?;
                let copied = self.copy_to(&snapshot).await;
                snapshot.close().await;
                copied?;
            }
        }
        check_snapshot(file).await
    }
}

/// Creates the empty snapshot file readable by its owner only: it holds password hashes and
/// encrypted tokens. SQLite writes `VACUUM INTO` and a new database into an empty file.
fn create_private(file: &Path) -> Result<(), CopyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(CopyError::FileExists(file.display().to_string()))
        }
        Err(e) => Err(CopyError::File {
            file: file.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Opens a snapshot read-only: SQLite's integrity check passes and every table is there.
async fn check_snapshot(file: &Path) -> Result<RowCounts, CopyError> {
    use sqlx::Connection;
    let bad = |reason: String| CopyError::BadSnapshot {
        file: file.display().to_string(),
        reason,
    };
    let url = format!("sqlite://{}?mode=ro", file.display());
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|e| bad(e.to_string()))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| bad(e.to_string()))?;
    if integrity != "ok" {
        return Err(bad(integrity));
    }
    let counts = count_rows(&mut conn)
        .await
        .map_err(|e| bad(e.to_string()))?;
    conn.close().await?;
    Ok(counts)
}

/// The database holds exactly the tables of [`TABLES`].
async fn check_tables(store: &Store, side: &'static str) -> Result<(), CopyError> {
    let found = store.schema_tables().await?;
    if let Some(table) = found
        .iter()
        .find(|t| !TABLES.iter().any(|known| known.name == t.as_str()))
    {
        return Err(CopyError::UnknownTable {
            side,
            table: table.clone(),
        });
    }
    if let Some(table) = TABLES.iter().find(|t| !found.contains(t.name)) {
        return Err(CopyError::MissingTable {
            side,
            table: table.name,
        });
    }
    Ok(())
}

async fn count_rows(conn: &mut sqlx::AnyConnection) -> Result<RowCounts, sqlx::Error> {
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
            .fetch_one(&mut *conn)
            .await?;
        counts.push((table.name, rows));
    }
    Ok(RowCounts(counts))
}

/// Refuses a target holding data; clears the rows the migrations seeded.
async fn make_room(dest: &mut Transaction<'static, Any>) -> Result<(), CopyError> {
    let holding: Vec<String> = count_rows(dest)
        .await?
        .0
        .into_iter()
        .zip(TABLES)
        .filter(|((_, rows), table)| *rows > 0 && !table.seeded_by_migrations)
        .map(|((name, rows), _)| format!("{name}: {rows}"))
        .collect();
    if !holding.is_empty() {
        return Err(CopyError::TargetNotEmpty {
            tables: holding.join(", "),
        });
    }
    for table in TABLES.iter().filter(|t| t.seeded_by_migrations) {
        sqlx::query(&format!("DELETE FROM {}", table.name))
            .execute(&mut **dest)
            .await?;
    }
    Ok(())
}

/// The target's columns of a table with their kinds, in the table's order.
async fn columns(
    table: &'static str,
    backend: Backend,
    conn: &mut sqlx::AnyConnection,
) -> Result<Vec<(String, Kind)>, CopyError> {
    let sql = match backend {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows = sqlx::query(sql).bind(table).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            let (column, ty): (String, String) = (r.get(0), r.get(1));
            match Kind::of(&ty) {
                Some(kind) => Ok((column, kind)),
                None => Err(CopyError::UnknownColumnType { table, column, ty }),
            }
        })
        .collect()
}

/// Streams one table from the source into the target, a few thousand values per INSERT.
async fn copy_table(
    table: &Table,
    target_backend: Backend,
    source: &mut Transaction<'static, Any>,
    dest: &mut Transaction<'static, Any>,
) -> Result<(), CopyError> {
    let cols = columns(table.name, target_backend, dest).await?;
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    let list = names.join(", ");
    let select = format!("SELECT {list} FROM {} ORDER BY 1", table.name);
    let per_insert = (PARAMETERS_PER_INSERT / cols.len().max(1)).max(1);
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_insert);
    let mut rows = sqlx::query(&select).fetch(&mut **source);
    while let Some(row) = rows.try_next().await? {
        let values = cols
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| Value::read(&row, i, *kind))
            .collect::<Result<Vec<_>, _>>()?;
        batch.push(values);
        if batch.len() == per_insert {
            insert(table.name, &list, std::mem::take(&mut batch), dest).await?;
        }
    }
    if !batch.is_empty() {
        insert(table.name, &list, batch, dest).await?;
    }
    Ok(())
}

async fn insert(
    table: &str,
    list: &str,
    batch: Vec<Vec<Value>>,
    dest: &mut Transaction<'static, Any>,
) -> Result<(), sqlx::Error> {
    let width = batch[0].len();
    let tuples: Vec<String> = (0..batch.len())
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!("INSERT INTO {table} ({list}) VALUES {}", tuples.join(", "));
    let mut query = sqlx::query(&sql);
    for value in batch.into_iter().flatten() {
        query = match value {
            Value::Integer(v) => query.bind(v),
            Value::Real(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
            Value::Blob(v) => query.bind(v),
        };
    }
    query.execute(&mut **dest).await?;
    Ok(())
}

/// PostgreSQL: each serial `id` continues after the highest copied id (SQLite's AUTOINCREMENT
/// counter follows inserted ids by itself).
async fn advance_sequences(dest: &mut Transaction<'static, Any>) -> Result<(), CopyError> {
    for table in TABLES {
        let cols = columns(table.name, Backend::Postgres, dest).await?;
        if !cols.iter().any(|(c, _)| c == "id") {
            continue;
        }
        let sequence: Option<String> =
            sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
                .bind(table.name)
                .fetch_one(&mut **dest)
                .await?;
        let Some(sequence) = sequence else { continue };
        let sql = format!(
            "SELECT setval($1::regclass, (SELECT COALESCE(MAX(id), 0) + 1 FROM {}), false)",
            table.name
        );
        sqlx::query(&sql)
            .bind(sequence)
            .execute(&mut **dest)
            .await?;
    }
    Ok(())
}
