//! Reads Organizr's SQLite database (schema: spec §7) read-only: users, groups, tabs and their
//! categories. Columns are CAST in SQL because SQLite lets Organizr store `'1'` where a number
//! belongs. Never writes to the file.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

/// A row of Organizr's `users`.
#[derive(Debug, Clone)]
pub struct OrgUser {
    pub id: i64,
    pub username: String,
    /// bcrypt (`$2y$…`), or empty for backend-only accounts.
    pub password: Option<String>,
    pub email: Option<String>,
    pub plex_token: Option<String>,
    pub group_id: Option<i64>,
    pub locked: bool,
    pub image: Option<String>,
    /// `internal`, `google::<secret>` (two-factor) or `oidc::<provider>`.
    pub auth_service: Option<String>,
}

/// A row of Organizr's `groups`.
#[derive(Debug, Clone)]
pub struct OrgGroup {
    pub group_id: i64,
    pub name: String,
    pub is_default: bool,
}

/// A row of Organizr's `tabs`, with its category's name.
#[derive(Debug, Clone)]
pub struct OrgTab {
    pub id: i64,
    pub order: i64,
    pub name: String,
    pub url: String,
    pub image: Option<String>,
    pub group_id: i64,
    pub group_id_max: i64,
    pub enabled: bool,
    /// 0 Organizr page, 1 iFrame, 2 new window.
    pub kind: i64,
    pub category: Option<String>,
}

/// Everything the import reads from the database.
#[derive(Debug, Clone)]
pub struct OrganizrDb {
    pub users: Vec<OrgUser>,
    pub groups: Vec<OrgGroup>,
    pub tabs: Vec<OrgTab>,
}

/// Why the database could not be read; names the file or the table.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the Organizr database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the Organizr database has no `{0}` table (is this Organizr's database?)")]
    MissingTable(&'static str),
    #[error("reading Organizr's `{table}` table: {reason}")]
    Read { table: &'static str, reason: String },
}

const TABLES: [&str; 4] = ["users", "groups", "tabs", "categories"];

/// Reads the database at `path` without changing it.
pub async fn read(path: &Path) -> Result<OrganizrDb, DbError> {
    let open_err = |e: sqlx::Error| DbError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if !path.is_file() {
        return Err(DbError::Open {
            path: path.display().to_string(),
            reason: "no such file".into(),
        });
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(open_err)?;
    for table in TABLES {
        let found = sqlx::query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(table)
            .fetch_optional(&mut conn)
            .await
            .map_err(open_err)?;
        if found.is_none() {
            return Err(DbError::MissingTable(table));
        }
    }
    let db = OrganizrDb {
        users: rows(&mut conn, "users", USERS, user).await?,
        groups: rows(&mut conn, "groups", GROUPS, group).await?,
        tabs: rows(&mut conn, "tabs", TABS, tab).await?,
    };
    let _ = conn.close().await;
    Ok(db)
}

const USERS: &str = "SELECT CAST(id AS INTEGER), CAST(username AS TEXT), CAST(password AS TEXT), \
    CAST(email AS TEXT), CAST(plex_token AS TEXT), CAST(group_id AS INTEGER), \
    CAST(COALESCE(locked, 0) AS INTEGER), CAST(image AS TEXT), CAST(auth_service AS TEXT) \
    FROM users ORDER BY id";

const GROUPS: &str = "SELECT CAST(group_id AS INTEGER), CAST(\"group\" AS TEXT), \
    CAST(COALESCE(\"default\", 0) AS INTEGER) FROM groups ORDER BY group_id";

const TABS: &str = "SELECT CAST(t.id AS INTEGER), CAST(COALESCE(t.\"order\", 0) AS INTEGER), \
    CAST(t.name AS TEXT), CAST(COALESCE(t.url, '') AS TEXT), CAST(t.image AS TEXT), \
    CAST(COALESCE(t.group_id, 0) AS INTEGER), CAST(COALESCE(t.group_id_max, 0) AS INTEGER), \
    CAST(COALESCE(t.enabled, 0) AS INTEGER), CAST(COALESCE(t.type, 1) AS INTEGER), \
    CAST(c.category AS TEXT) \
    FROM tabs t LEFT JOIN categories c ON c.category_id = t.category_id \
    ORDER BY COALESCE(c.\"order\", 0), COALESCE(t.\"order\", 0), t.id";

async fn rows<T>(
    conn: &mut SqliteConnection,
    table: &'static str,
    sql: &str,
    from_row: fn(&SqliteRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, DbError> {
    let read_err = |e: sqlx::Error| DbError::Read {
        table,
        reason: e.to_string(),
    };
    let found = sqlx::query(sql).fetch_all(conn).await.map_err(read_err)?;
    found
        .iter()
        .map(from_row)
        .collect::<Result<_, _>>()
        .map_err(read_err)
}

fn user(r: &SqliteRow) -> Result<OrgUser, sqlx::Error> {
    let id: i64 = r.try_get(0)?;
    Ok(OrgUser {
        id,
        username: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
        password: non_empty(r.try_get(2)?),
        email: non_empty(r.try_get(3)?),
        plex_token: non_empty(r.try_get(4)?),
        group_id: r.try_get(5)?,
        locked: r.try_get::<i64, _>(6)? != 0,
        image: non_empty(r.try_get(7)?),
        auth_service: non_empty(r.try_get(8)?),
    })
}

fn group(r: &SqliteRow) -> Result<OrgGroup, sqlx::Error> {
    Ok(OrgGroup {
        group_id: r.try_get(0)?,
        name: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
        is_default: r.try_get::<i64, _>(2)? != 0,
    })
}

fn tab(r: &SqliteRow) -> Result<OrgTab, sqlx::Error> {
    Ok(OrgTab {
        id: r.try_get(0)?,
        order: r.try_get(1)?,
        name: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
        url: r.try_get(3)?,
        image: non_empty(r.try_get(4)?),
        group_id: r.try_get(5)?,
        group_id_max: r.try_get(6)?,
        enabled: r.try_get::<i64, _>(7)? != 0,
        kind: r.try_get(8)?,
        category: non_empty(r.try_get(9)?),
    })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}
