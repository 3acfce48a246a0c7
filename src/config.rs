//! Bootstrap configuration: what is needed before the database opens.
//!
//! Precedence: command-line flag > environment (`USHER_*`) > TOML file > default. Any key may be
//! given as `USHER_<KEY>_FILE` (or `<key>_file` in TOML) to read the value from a file, which is
//! how container secrets are usually passed. Unknown keys and invalid values stop startup with a
//! message naming the key, the value and what is allowed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// Default listen address: loopback only, so a fresh install is never exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8420";
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./usher-data";

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved bootstrap configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Overrides `<data_dir>/secret.key` when set (`USHER_SECRET_KEY`).
    pub secret_key: Option<SecretString>,
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `usher=debug,info`.
    pub log_level: String,
    /// How often a server polls the change feed: the safety net under PostgreSQL's notifications,
    /// and the only way on SQLite. Not a user setting (tests lengthen it).
    pub change_poll: std::time::Duration,
}

/// See [`Config::change_poll`].
pub const CHANGE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Values given on the command line (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
}

/// A configuration problem, worded for the person starting Usher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid value {value:?} for `{key}` (from {source_name}): {allowed}")]
    Invalid {
        key: String,
        value: String,
        source_name: String,
        allowed: String,
    },
    #[error("unknown configuration key `{key}` (from {source_name}); known keys: {known}")]
    Unknown {
        key: String,
        source_name: String,
        known: String,
    },
    #[error(
        "`{key}` is given twice in {source_name} ({first} and {second}): set only one of them"
    )]
    Conflict {
        key: String,
        source_name: String,
        first: String,
        second: String,
    },
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: String,
        path: String,
        reason: String,
    },
}

/// Every bootstrap key, as written in TOML; env names are `USHER_` + upper case.
pub const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "secret_key",
    "log_format",
    "log_level",
];

impl Config {
    /// Resolves the configuration from flags, the process environment, and the TOML file.
    pub fn load(overrides: Overrides) -> Result<Config, ConfigError> {
        Self::load_from(overrides, std::env::vars())
    }

    /// Same as [`load`](Self::load) with an explicit environment (for tests).
    pub fn load_from(
        overrides: Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("USHER_"))
            .collect();
        let file_path = overrides
            .config_file
            .clone()
            .or_else(|| env.get("USHER_CONFIG").map(PathBuf::from));
        let mut layers = Layers::default();
        if let Some(path) = &file_path {
            layers.file = read_toml(path)?;
        }
        layers.env = read_env(&env)?;
        layers.flags = [
            ("listen", &overrides.listen),
            ("data_dir", &overrides.data_dir),
            ("database_url", &overrides.database_url),
            ("log_format", &overrides.log_format),
            ("log_level", &overrides.log_level),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.clone()
                .map(|v| (k.to_string(), (v, "the command line".to_string())))
        })
        .collect();

        let (listen, src) = layers
            .get("listen")
            .unwrap_or((DEFAULT_LISTEN.into(), "the default".into()));
        let listen = listen.parse().map_err(|_| {
            invalid(
                "listen",
                &listen,
                &src,
                "expected IP:port, such as 127.0.0.1:8420 or 0.0.0.0:8420",
            )
        })?;
        let data_dir = PathBuf::from(
            layers
                .get("data_dir")
                .map(|v| v.0)
                .unwrap_or(DEFAULT_DATA_DIR.into()),
        );
        let database_url = match layers.get("database_url") {
            Some((url, src)) => validate_database_url(&url, &src)?,
            None => sqlite_url(&data_dir.join("usher.db")),
        };
        let secret_key = match layers.get("secret_key") {
            None => None,
            Some((key, src)) => {
                // Checked here so the message names where the key came from (never the key itself).
                crate::crypto::SecretKey::parse(&key).map_err(|_| {
                    invalid(
                        "secret_key",
                        &key,
                        &src,
                        "expected 64 hex digits or the base64 of 32 bytes (e.g. `openssl rand -hex 32`)",
                    )
                })?;
                Some(SecretString::from(key))
            }
        };
        let log_format = match layers.get("log_format") {
            None => LogFormat::Text,
            Some((v, _)) if v == "text" => LogFormat::Text,
            Some((v, _)) if v == "json" => LogFormat::Json,
            Some((v, src)) => {
                return Err(invalid("log_format", &v, &src, "expected `text` or `json`"))
            }
        };
        let (log_level, log_level_src) = layers
            .get("log_level")
            .unwrap_or_else(|| ("info".into(), "the default".into()));
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid(
                "log_level",
                &log_level,
                &log_level_src,
                "expected a level such as info, debug or usher=debug,info",
            ));
        }
        Ok(Config {
            listen,
            data_dir,
            database_url,
            secret_key,
            log_format,
            log_level,
            change_poll: CHANGE_POLL,
        })
    }

    /// A configuration for tests and embedding: loopback on a free port, given data dir, SQLite.
    pub fn for_data_dir(data_dir: &Path) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("static address"),
            data_dir: data_dir.to_path_buf(),
            database_url: sqlite_url(&data_dir.join("usher.db")),
            secret_key: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            change_poll: CHANGE_POLL,
        }
    }
}

/// The SQLite URL for a file, created when missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The file of a SQLite database URL (`sqlite://PATH?…` or `sqlite:PATH`); `None` for PostgreSQL.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or_default()))
}

/// The directory that holds a SQLite database file (`.` for a bare file name); `None` for
/// PostgreSQL and for an in-memory database.
pub fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let file = sqlite_file(url)?;
    if file.as_os_str() == ":memory:" || url.contains("mode=memory") {
        return None;
    }
    Some(match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    })
}

/// Checks a database URL given in `src` (a flag, a variable, a file), adding `mode=rwc` to a
/// SQLite URL so the file is created when missing.
pub fn validate_database_url(url: &str, src: &str) -> Result<String, ConfigError> {
    let ok = url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://");
    if !ok {
        return Err(invalid(
            "database_url",
            &redact_url(url),
            src,
            "expected sqlite://PATH or postgres://USER@HOST:PORT/DB",
        ));
    }
    if url.starts_with("sqlite:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        return Ok(format!("{url}{sep}mode=rwc"));
    }
    Ok(url.to_string())
}

/// Hides a password in a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn invalid(key: &str, value: &str, src: &str, allowed: &str) -> ConfigError {
    let value = if key == "secret_key" {
        "****".to_string()
    } else {
        value.to_string()
    };
    ConfigError::Invalid {
        key: key.into(),
        value,
        source_name: src.into(),
        allowed: allowed.into(),
    }
}

type Layer = BTreeMap<String, (String, String)>;

#[derive(Default)]
struct Layers {
    flags: Layer,
    env: Layer,
    file: Layer,
}

impl Layers {
    fn get(&self, key: &str) -> Option<(String, String)> {
        self.flags
            .get(key)
            .or_else(|| self.env.get(key))
            .or_else(|| self.file.get(key))
            .cloned()
    }
}

fn read_secret_file(key: &str, path: &str, src: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|e| ConfigError::Read {
            what: format!("the file for `{key}` (from {src})"),
            path: path.into(),
            reason: e.to_string(),
        })
}

fn read_env(env: &BTreeMap<String, String>) -> Result<Layer, ConfigError> {
    let mut out = Layer::new();
    for (name, value) in env {
        let rest = &name["USHER_".len()..];
        // USHER_CONFIG names the file itself; USHER_TEST_* belong to the test suite.
        if rest == "CONFIG" || rest.starts_with("TEST_") {
            continue;
        }
        let lower = rest.to_ascii_lowercase();
        let (key, value) = match lower.strip_suffix("_file") {
            Some(base) if KEYS.contains(&base) => {
                (base.to_string(), read_secret_file(base, value, name)?)
            }
            _ => (lower, value.clone()),
        };
        if !KEYS.contains(&key.as_str()) {
            return Err(ConfigError::Unknown {
                key: name.clone(),
                source_name: "the environment".into(),
                known: known_env(),
            });
        }
        if let Some((_, first)) = out.get(&key) {
            return Err(ConfigError::Conflict {
                key,
                source_name: "the environment".into(),
                first: first.clone(),
                second: name.clone(),
            });
        }
        out.insert(key, (value, name.clone()));
    }
    Ok(out)
}

fn known_env() -> String {
    KEYS.iter()
        .map(|k| format!("USHER_{}", k.to_ascii_uppercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_toml(path: &Path) -> Result<Layer, ConfigError> {
    let src = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        what: "the configuration file".into(),
        path: src.clone(),
        reason: e.to_string(),
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Read {
            what: "the configuration file".into(),
            path: src.clone(),
            reason: e.message().to_string(),
        })?;
    let mut out = Layer::new();
    let mut seen = BTreeMap::new();
    for (name, value) in table {
        let key = name.clone();
        let text = match &value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            other => {
                return Err(invalid(&key, &other.to_string(), &src, "expected a string"));
            }
        };
        let (key, text) = match key.strip_suffix("_file") {
            Some(base) if KEYS.contains(&base) => {
                (base.to_string(), read_secret_file(base, &text, &src)?)
            }
            _ => (key, text),
        };
        if !KEYS.contains(&key.as_str()) {
            return Err(ConfigError::Unknown {
                key,
                source_name: src.clone(),
                known: KEYS.join(", "),
            });
        }
        if let Some(first) = seen.insert(key.clone(), name.clone()) {
            return Err(ConfigError::Conflict {
                key,
                source_name: src.clone(),
                first,
                second: name,
            });
        }
        out.insert(key, (text, src.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn precedence_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("usher.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1000\"\nlog_format = \"json\"\ndata_dir = \"/x\"\n",
        )
        .unwrap();
        let over = Overrides {
            config_file: Some(file.clone()),
            ..Default::default()
        };
        let c =
            Config::load_from(over.clone(), env(&[("USHER_LISTEN", "127.0.0.1:2000")])).unwrap();
        assert_eq!(c.listen.port(), 2000);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.database_url, "sqlite:///x/usher.db?mode=rwc");
        let over = Overrides {
            listen: Some("127.0.0.1:3000".into()),
            ..over
        };
        let c = Config::load_from(over, env(&[("USHER_LISTEN", "127.0.0.1:2000")])).unwrap();
        assert_eq!(c.listen.port(), 3000);
        let c = Config::load_from(Overrides::default(), env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn errors_name_key_value_and_allowed() {
        let e =
            Config::load_from(Overrides::default(), env(&[("USHER_LISTEN", "nope")])).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("`listen`") && msg.contains("\"nope\"") && msg.contains("USHER_LISTEN"),
            "{msg}"
        );
        let e = Config::load_from(Overrides::default(), env(&[("USHER_LISTN", "x")])).unwrap_err();
        assert!(e.to_string().contains("USHER_LISTN"));
        let e = Config::load_from(
            Overrides {
                database_url: Some("mysql://x".into()),
                ..Default::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("database_url"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("u.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = Config::load_from(
            Overrides {
                config_file: Some(file),
                ..Default::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`lisen`"));
    }

    #[test]
    fn file_variables_read_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        let key = "ab".repeat(32);
        std::fs::write(&f, format!("{key}\n")).unwrap();
        let c = Config::load_from(
            Overrides::default(),
            env(&[("USHER_SECRET_KEY_FILE", f.to_str().unwrap())]),
        )
        .unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(c.secret_key.unwrap().expose_secret(), key);
        std::fs::write(&f, "ab\n").unwrap();
        let e = Config::load_from(
            Overrides::default(),
            env(&[("USHER_SECRET_KEY_FILE", f.to_str().unwrap())]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`secret_key`") && e.contains("USHER_SECRET_KEY_FILE") && !e.contains("ab"),
            "{e}"
        );
    }

    #[test]
    fn a_value_and_its_file_form_together_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        std::fs::write(&f, "ab".repeat(32)).unwrap();
        let e = Config::load_from(
            Overrides::default(),
            env(&[
                ("USHER_SECRET_KEY", &"cd".repeat(32)),
                ("USHER_SECRET_KEY_FILE", f.to_str().unwrap()),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`secret_key`")
                && e.contains("USHER_SECRET_KEY_FILE")
                && !e.contains("cdcd")
                && !e.contains("abab"),
            "{e}"
        );
        let file = dir.path().join("u.toml");
        std::fs::write(
            &file,
            format!(
                "secret_key = \"{}\"\nsecret_key_file = \"{}\"\n",
                "cd".repeat(32),
                f.display()
            ),
        )
        .unwrap();
        let e = Config::load_from(
            Overrides {
                config_file: Some(file),
                ..Default::default()
            },
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("secret_key_file") && !e.contains("cdcd"), "{e}");
    }

    #[test]
    fn the_directory_of_a_sqlite_database() {
        let dir = |url: &str| sqlite_dir(url).map(|d| d.display().to_string());
        assert_eq!(
            dir("sqlite:///var/lib/usher/usher.db?mode=rwc").as_deref(),
            Some("/var/lib/usher")
        );
        assert_eq!(dir("sqlite:usher.db").as_deref(), Some("."));
        assert_eq!(dir("sqlite::memory:"), None);
        assert_eq!(dir("postgres://usher@db/usher"), None);
    }
}
