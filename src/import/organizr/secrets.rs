//! Organizr's encryption of `*password*` settings: PHP's
//! `openssl_encrypt($value, 'AES-256-CBC', $organizrHash, 0, fillString($organizrHash, 16))`,
//! i.e. base64 of AES-256-CBC with PKCS#7 padding, the key being the `organizrHash` text
//! zero-padded (or cut) to 32 bytes and the IV its first 16 characters padded from a fixed
//! alphabet. This file only decrypts; it never logs a value.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// What Organizr's `fillString()` pads a short IV with.
const IV_FILLER: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz!@#$%^&*";

/// The key and IV Organizr derives from `organizrHash`.
pub fn key_and_iv(organizr_hash: &str) -> ([u8; 32], [u8; 16]) {
    let hash = organizr_hash.as_bytes();
    // OpenSSL (through PHP) zero-pads a short key and ignores the bytes after the 32nd.
    let mut key = [0u8; 32];
    let n = hash.len().min(32);
    key[..n].copy_from_slice(&hash[..n]);
    let mut iv = [0u8; 16];
    let n = hash.len().min(16);
    iv[..n].copy_from_slice(&hash[..n]);
    iv[n..].copy_from_slice(&IV_FILLER[..16 - n]);
    (key, iv)
}

/// How a stored setting value reads.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// It decrypted with the key.
    Decrypted(String),
    /// It cannot be Organizr ciphertext (Organizr saved it in clear): kept as it is.
    Clear(String),
    /// It has the shape of Organizr ciphertext but does not decrypt: a wrong `organizrHash`.
    WrongKey,
}

/// Decrypts a value as Organizr does, telling clear text from a wrong key.
pub fn decrypt(stored: &str, organizr_hash: &str) -> Stored {
    let Some(raw) = B64
        .decode(stored.trim())
        .ok()
        .filter(|r| !r.is_empty() && r.len() % 16 == 0)
    else {
        return Stored::Clear(stored.to_string());
    };
    let (key, iv) = key_and_iv(organizr_hash);
    Aes256CbcDec::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&raw)
        .ok()
        .and_then(|plain| String::from_utf8(plain).ok())
        .map_or(Stored::WrongKey, Stored::Decrypted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_key_and_iv_like_php() {
        let (key, iv) = key_and_iv("short");
        assert_eq!(&key[..5], b"short");
        assert!(key[5..].iter().all(|&b| b == 0));
        assert_eq!(&iv, b"short0123456789a");
        let (key, iv) = key_and_iv(&"k".repeat(40));
        assert_eq!(key, [b'k'; 32]);
        assert_eq!(iv, [b'k'; 16]);
    }

    #[test]
    fn decrypts_what_php_openssl_encrypt_wrote() {
        // What PHP's openssl_encrypt("fallback pw", "AES-256-CBC", "organizr-hash-key", 0,
        // "organizr-hash-ke") returns, computed independently with `openssl enc -aes-256-cbc -base64`.
        let hash = "organizr-hash-key";
        let stored = "HHRYEOcKMj3CTwFe7IdUSQ==";
        assert_eq!(
            decrypt(stored, hash),
            Stored::Decrypted("fallback pw".into())
        );
        assert_eq!(decrypt(stored, "another-hash-key"), Stored::WrongKey);
        assert_eq!(
            decrypt("plain words", hash),
            Stored::Clear("plain words".into())
        );
    }
}
