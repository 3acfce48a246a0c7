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

    /// Loads `<data_dir>/secret.key`, creating it (mode 0600) with a random key on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
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

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
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
}
