//! First run: while no admin exists, a one-time token (logged, and written to
//! `<data-dir>/setup-token` with mode 0600) is the only way to create the first admin through
//! the browser. Organizr lets whoever reaches its wizard first become admin; Usher does not.

use subtle::ConstantTimeEq;

use crate::core::Core;
use crate::domain::User;

use super::accounts::{Acting, CreateUser};
use super::AuthError;

impl Core {
    /// True while there is no user in group 0.
    pub async fn setup_required(&self) -> Result<bool, AuthError> {
        Ok(!self
            .store
            .list_users()
            .await?
            .iter()
            .any(|u| u.group_id == 0))
    }

    /// The current setup token, creating it when setup is required and none exists.
    pub async fn ensure_setup_token(&self) -> Result<Option<String>, AuthError> {
        if !self.setup_required().await? {
            let _ = std::fs::remove_file(self.setup_token_path());
            return Ok(None);
        }
        let path = self.setup_token_path();
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let existing = existing.trim().to_string();
            if existing.len() >= 32 {
                return Ok(Some(existing));
            }
        }
        let token = crate::crypto::random_token(32);
        crate::crypto::write_private(&path, &token)
            .map_err(|e| AuthError::Internal(format!("cannot write {}: {e}", path.display())))?;
        Ok(Some(token))
    }

    /// Checks a setup token in constant time.
    pub async fn setup_token_valid(&self, given: &str) -> bool {
        match self.ensure_setup_token().await {
            Ok(Some(t)) => t.as_bytes().ct_eq(given.as_bytes()).into(),
            _ => false,
        }
    }

    /// Creates the first admin with a valid setup token, then retires the token.
    pub async fn complete_setup(&self, token: &str, req: CreateUser) -> Result<User, AuthError> {
        if !self.setup_token_valid(token).await {
            return Err(AuthError::Forbidden(
                "the setup link is invalid or was already used".into(),
            ));
        }
        if req.password.is_none() {
            return Err(AuthError::InvalidInput("a password is required".into()));
        }
        let user = self
            .create_user(
                CreateUser {
                    group_id: Some(0),
                    ..req
                },
                &Acting::cli(),
            )
            .await?;
        let _ = std::fs::remove_file(self.setup_token_path());
        tracing::info!(user = %user.username, "first admin created through the setup page");
        Ok(user)
    }

    fn setup_token_path(&self) -> std::path::PathBuf {
        self.config.data_dir.join("setup-token")
    }
}
