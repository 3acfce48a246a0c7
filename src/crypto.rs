//! The instance secret key and encryption of stored secrets (Plex tokens, API keys, passwords of
//! fallback users, TOTP secrets).

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Marks an encrypted value in the store.
const PREFIX: &str = "enc:v1:";

/// Why the key could not be loaded or a value not decrypted.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("secret key: {0}")]
    Key(String),
    #[error("a stored secret could not be decrypted (was the secret key changed?)")]
    Decrypt,
}

/// The 256-bit key that encrypts secrets at rest. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(****)")
    }
}

impl SecretKey {
    /// Parses a key given as 64 hex digits or 32 bytes of base64.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| CryptoError::Key(e.to_string()))?
        } else {
            B64.decode(text).map_err(|_| {
                CryptoError::Key("expected 64 hex digits or base64 of 32 bytes".into())
            })?
        };
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::Key("the key must be exactly 32 bytes".into()))?;
        Ok(SecretKey {
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    /// Loads `<data_dir>/secret.key`, creating it (mode 0600, written atomically) with a random
    /// key on first start. A file that is there but holds no key (empty, cut short) is refused
    /// with what to do: a new key would not read the secrets the old one encrypted.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|_| unusable_key_file(path, &text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let text = hex::encode(key);
                write_private(path, &text)
                    .map_err(|e| CryptoError::Key(format!("{}: {e}", path.display())))?;
                Self::parse(&text)
            }
            Err(e) => Err(CryptoError::Key(format!("{}: {e}", path.display()))),
        }
    }

    /// Encrypts a secret for the store.
    pub fn encrypt(&self, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .expect("XChaCha20Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Decrypts a value written by [`encrypt`](Self::encrypt).
    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let raw = stored
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|r| r.len() > 24)
            .ok_or(CryptoError::Decrypt)?;
        let (nonce, sealed) = raw.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }

    /// True when a stored value is in encrypted form.
    pub fn is_encrypted(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

/// What to say about a key file that holds no key; never shows what it holds.
fn unusable_key_file(path: &Path, text: &str) -> CryptoError {
    let found = match text.trim().len() {
        0 => "is empty".to_string(),
        n => format!("holds {n} characters, not a key (64 hex digits)"),
    };
    CryptoError::Key(format!(
        "the key file {path} {found}, perhaps left by a crash or a full disk. If this install \
         has never been used (no accounts, no settings), delete {path} and start again: Usher \
         makes a new key. Otherwise put the original key back in it (from a backup, or \
         another instance's secret.key) or give it as USHER_SECRET_KEY: a new key could not \
         read the secrets this install keeps",
        path = path.display()
    ))
}

/// Writes a file readable only by its owner, atomically: a temporary file in the same
/// directory, flushed to disk, renamed over `path`, then the directory flushed. A crash leaves
/// the old file or the new one, never an empty or half-written one; the temporary file such a
/// crash leaves behind (a copy of a secret) is removed by the next write of the same file.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let prefix = format!(".{}.", name.to_string_lossy());
    remove_leftovers(dir, &prefix);
    let temp = dir.join(format!("{prefix}{}.tmp", random_token(6)));
    let written = write_new_private(&temp, contents).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    sync_dir(dir)
}

/// Removes `PREFIX*.tmp` files in `dir`: temporary files of an earlier write that a crash cut
/// short. Best effort: what cannot be read or removed stays.
fn remove_leftovers(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        if name.starts_with(prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates `path` (which must not exist) with mode 0600 and `contents`, synced to disk.
fn write_new_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

/// Makes a rename in `dir` durable (the directory entry itself is flushed).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A random URL-safe string of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_tamper() {
        let key = SecretKey::parse(&"ab".repeat(32)).unwrap();
        let c = key.encrypt("plex-token-123");
        assert!(SecretKey::is_encrypted(&c));
        assert!(!c.contains("plex-token"));
        assert_eq!(key.decrypt(&c).unwrap(), "plex-token-123");
        let other = SecretKey::parse(&"cd".repeat(32)).unwrap();
        assert!(other.decrypt(&c).is_err());
        assert!(SecretKey::parse("short").is_err());
    }

    #[test]
    fn creates_key_file_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.key");
        let k1 = SecretKey::load_or_create(&p).unwrap();
        let k2 = SecretKey::load_or_create(&p).unwrap();
        assert_eq!(k2.decrypt(&k1.encrypt("x")).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn a_key_file_without_a_key_is_refused_with_its_path_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.key");
        for (content, says) in [("", "is empty"), ("0123456789abcdef\n", "16 characters")] {
            std::fs::write(&p, content).unwrap();
            let e = SecretKey::load_or_create(&p).unwrap_err().to_string();
            for needle in [&p.display().to_string(), says, "delete", "USHER_SECRET_KEY"] {
                assert!(e.contains(needle), "no {needle:?} in: {e}");
            }
            assert!(!e.contains("0123456789abcdef"), "never shows the file: {e}");
            assert_eq!(
                std::fs::read_to_string(&p).unwrap(),
                content,
                "left as it was"
            );
        }
    }

    #[test]
    fn a_temporary_file_left_by_a_crash_is_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret.key");
        // What a crash between writing the temporary file and renaming it leaves behind.
        std::fs::write(dir.path().join(".secret.key.AbCdEfGh.tmp"), "a key").unwrap();
        std::fs::write(dir.path().join(".setup-token.AbCdEfGh.tmp"), "other file's").unwrap();
        write_private(&p, "the key").unwrap();
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".setup-token.AbCdEfGh.tmp", "secret.key"]);
    }

    #[test]
    fn write_private_replaces_the_whole_file_at_once() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("setup-token");
        write_private(&p, "old token").unwrap();
        // A reader holding the old file sees it whole: the new one is renamed over it, never
        // truncated and rewritten in place.
        let mut reader = std::fs::File::open(&p).unwrap();
        write_private(&p, "new token").unwrap();
        let mut old = String::new();
        reader.read_to_string(&mut old).unwrap();
        assert_eq!(old, "old token");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new token");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["setup-token"], "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
