//! Password hashing: argon2id for new hashes, bcrypt (`$2y$`/`$2b$`, imported from Organizr)
//! accepted and upgraded. All hashing runs on the blocking pool, never on the async runtime.

use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Right password; `rehash` when the stored hash is bcrypt and should become argon2id.
    Yes {
        rehash: bool,
    },
    No,
}

/// Hashes a new password with argon2id (OWASP parameters: 19 MiB, 2 passes).
pub async fn hash(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .expect("hashing task panicked")
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters cannot fail")
        .to_string()
}

/// A hash of a random password, verified against when the account does not exist so that an
/// unknown username costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&crate::crypto::random_token(24)))
}

/// Computes the dummy hash ahead of the first sign-in (so that one is not slower).
pub fn warm_up() {
    let _ = dummy_hash();
}

/// Checks a password against a stored hash, or against the dummy hash when there is none.
pub async fn verify(password: String, stored: Option<String>) -> Verified {
    tokio::task::spawn_blocking(move || verify_blocking(&password, stored.as_deref()))
        .await
        .expect("verification task panicked")
}

fn verify_blocking(password: &str, stored: Option<&str>) -> Verified {
    match stored {
        Some(h) if h.starts_with("$2") => {
            match bcrypt::verify(password, &h.replacen("$2y$", "$2b$", 1)) {
                Ok(true) => Verified::Yes { rehash: true },
                _ => Verified::No,
            }
        }
        Some(h) if h.starts_with("$argon2") => match PasswordHash::new(h) {
            Ok(parsed)
                if Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok() =>
            {
                Verified::Yes { rehash: false }
            }
            _ => Verified::No,
        },
        _ => {
            // No usable hash: spend the same time, then refuse.
            if let Ok(parsed) = PasswordHash::new(dummy_hash()) {
                let _ = Argon2::default().verify_password(password.as_bytes(), &parsed);
            }
            Verified::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2_roundtrip() {
        let h = hash("correct horse".into()).await;
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(
            verify("correct horse".into(), Some(h.clone())).await,
            Verified::Yes { rehash: false }
        );
        assert_eq!(verify("wrong".into(), Some(h)).await, Verified::No);
        assert_eq!(verify("x".into(), None).await, Verified::No);
    }

    #[tokio::test]
    async fn organizr_bcrypt_is_accepted_and_flagged_for_rehash() {
        // PHP password_hash() output uses $2y$.
        let h = bcrypt::hash("organizr-pass", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        assert_eq!(
            verify("organizr-pass".into(), Some(h.clone())).await,
            Verified::Yes { rehash: true }
        );
        assert_eq!(verify("nope".into(), Some(h)).await, Verified::No);
    }
}
