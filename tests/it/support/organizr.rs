//! An Organizr v2 install on disk, built from the spec (organizr-reference.md §7): its SQLite
//! database with Organizr's schema, users with real `$2y$10$` bcrypt hashes, custom groups, tabs
//! in two categories, and `config/config.php` exactly as Organizr's `createConfig()` writes it
//! (ksorted, `configVersion` first, tabs, single quotes with `\\` and `\'` escaped, nested
//! arrays), with a fallback password encrypted by OpenSSL's own command line using Organizr's
//! AES-256-CBC parameters and one secret Organizr left in clear.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// The hash key the admin typed in Organizr's wizard (JWT and AES key).
pub const HASH_KEY: &str = "MyOrganizrHashKey-2019";
/// What the encrypted Ombi fallback password decrypts to.
pub const OMBI_FALLBACK_PASSWORD: &str = "ombi guest p@ss";
/// A secret Organizr wrote in clear (set before its encrypt-on-save existed).
pub const OVERSEERR_FALLBACK_PASSWORD: &str = "plain overseerr pw";
/// Two Tautulli instances, comma-separated as Organizr keeps them.
pub const TAUTULLI_URLS: &str = "http://10.0.0.5:8181/tautulli, http://10.0.0.6:8181";

/// An Organizr account and the password its owner types.
#[derive(Debug, Clone)]
pub struct OrgUser {
    pub username: &'static str,
    pub password: &'static str,
    pub email: &'static str,
    pub group_id: i64,
    pub locked: bool,
}

/// Admin (0), Alice in custom group 5 Family, Bob in custom group 6 Friends (with the e-mail
/// Organizr makes up), Carol in 4 User and locked.
pub fn users() -> Vec<OrgUser> {
    vec![
        OrgUser {
            username: "admin",
            password: "admin organizr pw",
            email: "admin@example.com",
            group_id: 0,
            locked: false,
        },
        OrgUser {
            username: "Alice",
            password: "alice in organizr",
            email: "Alice@Example.com",
            group_id: 5,
            locked: false,
        },
        OrgUser {
            username: "bob",
            password: "bob's old password",
            email: "x7Gq2LmPzA@placeholder.eml",
            group_id: 6,
            locked: false,
        },
        OrgUser {
            username: "carol",
            password: "carol pw 12345",
            email: "carol@example.com",
            group_id: 4,
            locked: true,
        },
    ]
}

/// A PHP value as `createConfig()` writes it.
#[derive(Debug, Clone)]
pub enum Php {
    Str(String),
    Bool(bool),
    Int(i64),
    Array(BTreeMap<String, Php>),
}

fn s(v: &str) -> Php {
    Php::Str(v.to_string())
}

/// An Organizr data folder: `config/config.php` and `db/orgdb.db`.
pub struct Organizr {
    pub dir: tempfile::TempDir,
    pub config: BTreeMap<String, Php>,
    pub users: Vec<OrgUser>,
}

impl Organizr {
    /// The full merged configuration of an install using Plex sign-in and SSO.
    pub fn new() -> Organizr {
        let mut c: BTreeMap<String, Php> = BTreeMap::new();
        let mut set = |k: &str, v: Php| {
            c.insert(k.to_string(), v);
        };
        // Wizard output.
        set("organizrHash", s(HASH_KEY));
        set("organizrAPI", s("q8Wd3kZ0rT5vY1nB7mXc"));
        set("uuid", s("5f0c3d2e-9a41-4b7c-8e21-0d6f1a2b3c4d"));
        set("dbLocation", s("/config/www/organizr/db/"));
        set("dbName", s("orgdb.db"));
        set("driver", s("sqlite3"));
        set("license", s("personal"));
        set(
            "registrationPassword",
            s(&openssl_encrypt("let me in", HASH_KEY)),
        );
        // Authentication.
        set("authType", s("both"));
        set("authBackend", s("plex"));
        set("authBackendHost", s(""));
        set("authBaseDN", s(""));
        set("ldapBindPassword", s(""));
        set("plexToken", s("PLEX-ADMIN-TOKEN-xyz"));
        set("plexID", s("1f3b5d7f9a1c3e5a7c9e1b3d5f7a9c1e3b5d7f9a"));
        set("plexAdmin", s("owner@example.com"));
        set("plexoAuth", Php::Bool(true));
        set("plexStrictFriends", Php::Bool(false));
        set("ignoreTFAIfPlexOAuth", Php::Bool(false));
        set("rememberMe", Php::Bool(true));
        set("rememberMeDays", s("30"));
        set("loginAttempts", s("5"));
        set("loginLockout", s("60000"));
        set("authProxyEnabled", Php::Bool(false));
        set("authProxyHeaderName", s(""));
        set("authProxyWhitelist", s("172.18.0.0/16"));
        set("matchUserAgents", Php::Bool(false));
        set("traefikAuthEnable", Php::Bool(false));
        set("blacklisted", s(""));
        // SSO.
        set("ssoPlex", Php::Bool(true));
        set("ssoTautulli", Php::Bool(true));
        set("tautulliURL", s(TAUTULLI_URLS));
        set("ssoTautulliAuth", s("5"));
        set("ssoOmbi", Php::Bool(true));
        set("ombiURL", s("http://10.0.0.7:3579"));
        set("ombiToken", s("ombi-api-key-123"));
        set("ombiFallbackUser", s("guest"));
        set(
            "ombiFallbackPassword",
            s(&openssl_encrypt(OMBI_FALLBACK_PASSWORD, HASH_KEY)),
        );
        set("ssoOverseerr", Php::Bool(false));
        set("overseerrURL", s("http://10.0.0.8:5055"));
        set("overseerrToken", s(""));
        set("overseerrFallbackUser", s("requests@example.com"));
        set("overseerrFallbackPassword", s(OVERSEERR_FALLBACK_PASSWORD));
        set("ssoJellyfin", Php::Bool(false));
        set("jellyfinURL", s(""));
        set("jellyfinSSOURL", s(""));
        set("ssoPetio", Php::Bool(true));
        set("petioURL", s("http://10.0.0.9:7777"));
        set("ssoKomga", Php::Bool(false));
        set("ssoKomgaAuth", s("4"));
        // Appearance and homepage: a quote and a backslash to escape, and nested arrays.
        set("title", s("Bob's Organizr \\ Home"));
        set("style", s("dark"));
        set("homepageStreamRefresh", s("60000"));
        set("homepageOrderplexrecent", s("8"));
        set("lockoutTimeout", Php::Int(10));
        let mut order = BTreeMap::new();
        order.insert("0".to_string(), s("Movies"));
        order.insert("1".to_string(), s("TV Shows"));
        let mut nested = BTreeMap::new();
        nested.insert("libraries".to_string(), Php::Array(order));
        nested.insert("enabled".to_string(), Php::Bool(true));
        set("homepagePlexRecentSettings", Php::Array(nested));
        Organizr {
            dir: tempfile::tempdir().expect("temp dir"),
            config: c,
            users: users(),
        }
    }

    /// The data folder (what `--from` names).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config").join("config.php")
    }

    pub fn db_path(&self) -> PathBuf {
        self.path().join("db").join("orgdb.db")
    }

    /// Writes config.php and the database.
    pub async fn write(&self) {
        std::fs::create_dir_all(self.path().join("config")).unwrap();
        std::fs::create_dir_all(self.path().join("db")).unwrap();
        std::fs::write(self.config_path(), create_config(&self.config)).unwrap();
        let _ = std::fs::remove_file(self.db_path());
        write_db(&self.db_path(), &self.users).await;
    }

    /// Runs SQL on the written database (to break it).
    pub async fn sql(&self, sql: &str) {
        let mut conn = SqliteConnectOptions::new()
            .filename(self.db_path())
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
}

/// `createConfig()`: `<?php\nreturn array(\n` + ksorted `\t'k' => v` lines joined by `,\n`,
/// `configVersion` first, nested arrays indented one tab more.
pub fn create_config(config: &BTreeMap<String, Php>) -> String {
    let mut lines = vec!["\t'configVersion' => '2.1.2460'".to_string()];
    lines.extend(entries(config, 0));
    format!("<?php\nreturn array(\n{}\n);", lines.join(",\n"))
}

fn entries(map: &BTreeMap<String, Php>, nest: usize) -> Vec<String> {
    map.iter()
        .filter(|(k, _)| k.as_str() != "configVersion")
        .map(|(k, v)| format!("{}'{k}' => {}", "\t".repeat(nest + 1), item(v, nest)))
        .collect()
}

fn item(v: &Php, nest: usize) -> String {
    match v {
        Php::Bool(b) => b.to_string(),
        Php::Int(i) => i.to_string(),
        Php::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Php::Array(m) => format!(
            "array(\n{}\n{})",
            entries(m, nest + 1).join(",\n"),
            "\t".repeat(nest + 1)
        ),
    }
}

/// PHP's `openssl_encrypt($plain, 'AES-256-CBC', $hash, 0, fillString($hash, 16))`, done by the
/// `openssl` command (an implementation independent of the one Usher uses).
pub fn openssl_encrypt(plain: &str, hash: &str) -> String {
    assert!(
        hash.len() >= 16 && hash.len() <= 32,
        "keep the fixture simple"
    );
    let mut key = hex(hash.as_bytes());
    key.push_str(&"00".repeat(32 - hash.len()));
    let iv = hex(&hash.as_bytes()[..16]);
    let mut child = Command::new("openssl")
        .args([
            "enc",
            "-aes-256-cbc",
            "-K",
            &key,
            "-iv",
            &iv,
            "-base64",
            "-A",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the openssl command is installed");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plain.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Organizr's schema (`defaultTables()`), its built-in groups and two custom ones, the seeded
/// Settings/Homepage tabs and three app tabs in two categories.
async fn write_db(path: &Path, users: &[OrgUser]) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(SCHEMA).execute(&mut conn).await.unwrap();
    sqlx::raw_sql(DATA).execute(&mut conn).await.unwrap();
    for u in users {
        // PHP's password_hash(PASSWORD_BCRYPT): cost 10, `$2y$`.
        let hash = bcrypt::hash(u.password, 10)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        sqlx::query(
            "INSERT INTO users (username, password, email, plex_token, `group`, group_id, locked, image, register_date, auth_service) \
             VALUES (?, ?, ?, ?, (SELECT `group` FROM groups WHERE group_id = ?), ?, ?, ?, '2021-03-04 05:06:07', 'internal')",
        )
        .bind(u.username)
        .bind(hash)
        .bind(u.email)
        .bind(if u.group_id == 0 { Some("admin-plex-token") } else { None })
        .bind(u.group_id)
        .bind(u.group_id)
        .bind(if u.locked { "1" } else { "0" })
        .bind(format!("https://www.gravatar.com/avatar/{}?s=100&d=mm", u.username.len()))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();
}

const SCHEMA: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT UNIQUE, password TEXT, email TEXT, plex_token TEXT, `group` TEXT, group_id INTEGER, locked INTEGER, image TEXT, register_date DATETIME, auth_service TEXT DEFAULT 'internal');
CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT UNIQUE, user_id INTEGER, browser TEXT, ip TEXT, created DATETIME, expires DATETIME);
CREATE TABLE groups (id INTEGER PRIMARY KEY AUTOINCREMENT, `group` TEXT UNIQUE, group_id INTEGER, image TEXT, `default` INTEGER);
CREATE TABLE categories (id INTEGER PRIMARY KEY AUTOINCREMENT, `order` INTEGER, category TEXT UNIQUE, category_id INTEGER, image TEXT, `default` INTEGER);
CREATE TABLE tabs (id INTEGER PRIMARY KEY AUTOINCREMENT, `order` INTEGER, category_id INTEGER, name TEXT, url TEXT, url_local TEXT, `default` INTEGER, enabled INTEGER, group_id INTEGER, group_id_max INTEGER DEFAULT '0', add_to_admin INTEGER DEFAULT '0', image TEXT, type INTEGER, splash INTEGER, ping INTEGER, ping_url TEXT, timeout INTEGER, timeout_ms INTEGER, preload INTEGER);
CREATE TABLE options (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, value TEXT);
CREATE TABLE invites (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT UNIQUE, date DATETIME, email TEXT, username TEXT, dateused TIMESTAMP, usedby TEXT, ip TEXT, valid TEXT, type TEXT, invitedby TEXT);
";

const DATA: &str = "
INSERT INTO groups (`group`, group_id, image, `default`) VALUES
  ('Admin', 0, 'plugins/images/groups/admin.png', 0),
  ('Co-Admin', 1, 'plugins/images/groups/coadmin.png', 0),
  ('Super User', 2, 'plugins/images/groups/superuser.png', 0),
  ('Power User', 3, 'plugins/images/groups/poweruser.png', 0),
  ('User', 4, 'plugins/images/groups/user.png', 0),
  ('Family', 5, 'plugins/images/groups/user.png', 1),
  ('Friends', 6, 'plugins/images/groups/user.png', 0),
  ('Guest', 999, 'plugins/images/groups/guest.png', 0);
INSERT INTO categories (`order`, category, category_id, image, `default`) VALUES
  (1, 'Media', 1, 'plugins/images/categories/media.png', 1),
  (2, 'Admin tools', 2, 'plugins/images/categories/admin.png', 0);
INSERT INTO tabs (`order`, category_id, name, url, url_local, `default`, enabled, group_id, group_id_max, image, type, splash, ping, ping_url, timeout, timeout_ms, preload) VALUES
  (1, 0, 'Settings', 'api/v2/page/settings', '', 0, 1, 1, 0, 'fontawesome::cog', 0, NULL, NULL, NULL, NULL, NULL, NULL),
  (2, 0, 'Homepage', 'api/v2/page/homepage', '', 0, 0, 4, 0, 'fontawesome::home', 0, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, 1, 'Plex', 'https://plex.example.com/web', '', 1, 1, 6, 0, 'plugins/images/tabs/plex.png', 1, 0, 0, '', 0, 0, 0),
  (4, 1, 'Requests', 'https://ombi.example.com/', '', 0, 1, 6, 0, 'https://cdn.example.com/ombi.png', 2, 0, 0, '', 0, 0, 0),
  (5, 2, 'Sonarr', '/sonarr/', '', 0, 1, 0, 0, 'fontawesome::tv', 1, 0, 0, '', 0, 0, 0);
";
