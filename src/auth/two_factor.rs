//! Two-factor sign-in for local accounts: TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps,
//! one step of clock drift either way) through `totp-rs`, the QR code drawn here as SVG by
//! `qrcode`, and ten one-time recovery codes.
//!
//! Must never: start a session before the second factor is checked, accept a code twice (the
//! store keeps the last time step used), keep the secret unencrypted (instance key) or a
//! recovery code unhashed, or log a code or a secret.

use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};

use super::throttle::ThrottleKey;
use super::{AuthError, ClientInfo};
use crate::core::Core;
use crate::domain::{now, SessionMethod, User, UserId};
use crate::store::Actor;

/// RFC 6238 time step, seconds.
const STEP: u64 = 30;
/// How many recovery codes an enrolment gets.
const RECOVERY_CODES: usize = 10;
/// Where people turn two-factor on.
pub const ENROL_PAGE: &str = "/account#two-factor";
/// Shown in authenticator apps next to the account name.
const ISSUER: &str = "Usher";

/// What the profile page shows to add Usher to an authenticator app.
#[derive(Debug, serde::Serialize)]
pub struct Enrolment {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    pub otpauth_uri: String,
    /// The otpauth URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// A sign-in's second factor as typed: a 6-digit code or a recovery code.
enum SecondFactor {
    Totp(String),
    Recovery(String),
}

impl SecondFactor {
    fn parse(typed: &str) -> SecondFactor {
        let compact: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.len() == 6 && compact.bytes().all(|b| b.is_ascii_digit()) {
            SecondFactor::Totp(compact)
        } else {
            SecondFactor::Recovery(normalize_recovery(&compact))
        }
    }
}

/// A recovery code as stored: lowercase, without dashes.
fn normalize_recovery(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn recovery_hash(code: &str) -> String {
    hex::encode(Sha256::digest(normalize_recovery(code).as_bytes()))
}

/// Ten fresh recovery codes, `xxxxx-xxxxx` from 32 letters and digits (50 random bits each).
fn new_recovery_codes() -> Vec<String> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code: String = (0..10)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            code.insert(5, '-');
            code
        })
        .collect()
}

fn totp(secret: Vec<u8>, account: &str) -> Result<TOTP, AuthError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        secret,
        Some(ISSUER.into()),
        account.into(),
    )
    .map_err(|e| AuthError::Internal(format!("two-factor secret: {e}")))
}

/// The time step a 6-digit code belongs to within ±1 step of `at`, if any.
fn matching_step(totp: &TOTP, code: &str, at: u64) -> Option<i64> {
    let current = at / STEP;
    [current, current.saturating_sub(1), current + 1]
        .into_iter()
        .find(|step| {
            let expected = totp.generate(step * STEP);
            subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into()
        })
        .map(|s| s as i64)
}

fn actor(user: UserId, client: &ClientInfo) -> Actor {
    Actor {
        user_id: Some(user),
        ip: Some(client.ip.to_string()),
    }
}

impl Core {
    /// Starts enrolment for a signed-in person who typed their password: a new secret, waiting
    /// for its first code. Refused while two-factor is already on.
    pub async fn begin_two_factor(
        &self,
        user_id: UserId,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Enrolment, AuthError> {
        let user = self.confirm_password(user_id, password, client).await?;
        let mut secret = [0u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let totp = totp(secret.to_vec(), &user.username)?;
        let stored = self.secret_key.encrypt(&totp.get_secret_base32());
        if !self
            .store
            .begin_two_factor(user.id, &stored, &actor(user.id, client))
            .await?
        {
            return Err(AuthError::Conflict("two-factor sign-in"));
        }
        let otpauth_uri = totp.get_url();
        let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
            .map_err(|e| AuthError::Internal(format!("QR code: {e}")))?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        tracing::info!(user = %user.username, "two-factor enrolment started");
        Ok(Enrolment {
            secret: totp.get_secret_base32(),
            otpauth_uri,
            qr_svg,
        })
    }

    /// Confirms a pending enrolment with a code from the app; returns the recovery codes (shown
    /// once: only their hashes are kept). From now on sign-in asks for a code.
    pub async fn confirm_two_factor(
        &self,
        user_id: UserId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, AuthError> {
        let record = self
            .store
            .two_factor_of(user_id)
            .await?
            .filter(|r| !r.confirmed)
            .ok_or_else(|| {
                AuthError::InvalidField(crate::domain::tab::FieldError::new(
                    "code",
                    "no two-factor enrolment is waiting; start again",
                ))
            })?;
        let user = self
            .store
            .get_user(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let totp = self.totp_of(&record.secret, &user.username)?;
        let Some(step) = matching_step(&totp, code.trim(), now() as u64) else {
            return Err(AuthError::InvalidField(crate::domain::tab::FieldError::new(
                "code",
                "this code does not match; check the authenticator app's clock and try the next code",
            )));
        };
        let codes = new_recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        if !self
            .store
            .confirm_two_factor(user_id, step, &hashes, &actor(user_id, client))
            .await?
        {
            return Err(AuthError::Conflict("two-factor sign-in"));
        }
        self.sessions.invalidate_user(user_id);
        tracing::info!(user = %user.username, "two-factor sign-in turned on");
        Ok(codes)
    }

    /// Turns two-factor off for a person who typed their password and a current code.
    pub async fn disable_two_factor(
        &self,
        user_id: UserId,
        password: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let user = self.confirm_password(user_id, password, client).await?;
        let key = ThrottleKey::Account(user.id);
        if !self.second_factor_ok(&user, code).await? {
            self.login_failed(
                &key,
                &user.username,
                SessionMethod::Local,
                "wrong two-factor code",
                client,
            )
            .await?;
            return Err(AuthError::InvalidField(
                crate::domain::tab::FieldError::new("code", "this code does not match"),
            ));
        }
        self.store
            .remove_two_factor(user.id, "two_factor.disable", &actor(user.id, client))
            .await?;
        self.sessions.invalidate_user(user.id);
        tracing::info!(user = %user.username, "two-factor sign-in turned off");
        Ok(())
    }

    /// An administrator turns someone's two-factor off (lost phone and recovery codes). A
    /// Co-Admin may not touch the Admin; the CLI (no group) may.
    pub async fn reset_two_factor(
        &self,
        target: UserId,
        by: &super::accounts::Acting,
    ) -> Result<(), AuthError> {
        let user = self
            .store
            .get_user(target)
            .await?
            .ok_or(AuthError::NotFound)?;
        if let Some(group) = by.group {
            if !crate::domain::group::may_manage(group, user.group_id) {
                return Err(AuthError::Forbidden(
                    "a Co-Admin may not reset the Admin's two-factor sign-in".into(),
                ));
            }
        }
        self.store
            .remove_two_factor(user.id, "two_factor.reset", &by.actor)
            .await?;
        self.sessions.invalidate_user(user.id);
        tracing::info!(user = %user.username, "two-factor sign-in reset by an administrator");
        Ok(())
    }

    /// The second step of a sign-in whose password (or Plex account) was accepted: nothing to
    /// do without a confirmed enrolment; else a code is required, and a wrong one counts as a
    /// failed sign-in.
    pub(crate) async fn check_second_factor(
        &self,
        user: &User,
        code: Option<&str>,
        key: &ThrottleKey,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if !self.two_factor_on(user.id).await? {
            return Ok(());
        }
        let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
            tracing::info!(user = %user.username, ip = %client.ip, "two-factor code asked for");
            return Err(AuthError::TwoFactorRequired);
        };
        if self.second_factor_ok(user, code).await? {
            return Ok(());
        }
        // Usher's own second factor, whichever way the password was checked.
        self.login_failed(
            key,
            &user.username,
            SessionMethod::Local,
            "wrong two-factor code",
            client,
        )
        .await?;
        Err(AuthError::WrongTwoFactorCode)
    }

    /// Where a new session must go first: the profile's two-factor section when the person's
    /// group requires two-factor and they have not turned it on (they pass no proxy auth until
    /// then).
    pub async fn enrol_first(
        &self,
        signed_in: &super::SignedIn,
    ) -> Result<Option<&'static str>, AuthError> {
        let rule = self.settings().two_factor;
        let plex = signed_in.method.as_str().starts_with("plex_");
        let must = rule.required_for(signed_in.user.group_id)
            && !(rule.skip_for_plex && plex)
            && !self.two_factor_on(signed_in.user.id).await?;
        Ok(must.then_some(ENROL_PAGE))
    }

    /// Whether the person has two-factor sign-in on.
    pub async fn two_factor_on(&self, user: UserId) -> Result<bool, AuthError> {
        Ok(self
            .store
            .two_factor_of(user)
            .await?
            .is_some_and(|r| r.confirmed))
    }

    /// Checks a typed code and uses it up: a TOTP code for a step later than any used before,
    /// or an unused recovery code.
    async fn second_factor_ok(&self, user: &User, typed: &str) -> Result<bool, AuthError> {
        let Some(record) = self
            .store
            .two_factor_of(user.id)
            .await?
            .filter(|r| r.confirmed)
        else {
            return Ok(false);
        };
        match SecondFactor::parse(typed) {
            SecondFactor::Totp(code) => {
                let totp = self.totp_of(&record.secret, &user.username)?;
                match matching_step(&totp, &code, now() as u64) {
                    Some(step) => Ok(self.store.use_two_factor_step(user.id, step).await?),
                    None => Ok(false),
                }
            }
            SecondFactor::Recovery(code) if code.len() == 10 => Ok(self
                .store
                .use_recovery_code(user.id, &recovery_hash(&code))
                .await?),
            SecondFactor::Recovery(_) => Ok(false),
        }
    }

    fn totp_of(&self, stored: &str, account: &str) -> Result<TOTP, AuthError> {
        let base32 = self.secret_key.decrypt(stored).map_err(|e| {
            tracing::error!(error = %e, "two-factor secret could not be decrypted");
            AuthError::Internal("the two-factor secret could not be read".into())
        })?;
        let bytes = totp_rs::Secret::Encoded(base32)
            .to_bytes()
            .map_err(|_| AuthError::Internal("the two-factor secret could not be read".into()))?;
        totp(bytes, account)
    }

    /// The signed-in person, after checking the password they typed again (throttled like a
    /// sign-in).
    async fn confirm_password(
        &self,
        user_id: UserId,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let user = self
            .store
            .get_user(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if !user.has_password {
            return Err(AuthError::Forbidden(
                "two-factor sign-in is for accounts with an Usher password; Plex accounts use Plex's own".into(),
            ));
        }
        let key = ThrottleKey::Account(user.id);
        self.check_throttle(&key, &user.username, client).await?;
        let found = self.store.find_user_for_login(&user.username).await?;
        match self.local_password(found, password).await? {
            Ok(u) if u.id == user.id => Ok(user),
            _ => {
                self.login_failed(
                    &key,
                    &user.username,
                    SessionMethod::Local,
                    "wrong password",
                    client,
                )
                .await?;
                Err(AuthError::InvalidField(
                    crate::domain::tab::FieldError::new("password", "wrong password"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector_and_steps() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 → 94287082 (8 digits);
        // Usher's 6 digits are its last six.
        let t = totp(b"12345678901234567890".to_vec(), "x").unwrap();
        assert_eq!(t.generate(59), "287082");
        assert_eq!(matching_step(&t, "287082", 59), Some(1));
        assert_eq!(matching_step(&t, "287082", 59 + 30), Some(1));
        assert_eq!(matching_step(&t, "287082", 59 + 60), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 11 && &c[5..6] == "-"));
        assert_eq!(
            recovery_hash(&codes[0]),
            recovery_hash(&codes[0].to_uppercase().replace('-', " "))
        );
        assert!(matches!(
            SecondFactor::parse("123 456"),
            SecondFactor::Totp(_)
        ));
        assert!(matches!(
            SecondFactor::parse(&codes[0]),
            SecondFactor::Recovery(_)
        ));
    }
}
