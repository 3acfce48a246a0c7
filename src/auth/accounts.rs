//! Account management shared by the admin API and the CLI.

use crate::core::Core;
use crate::domain::group::{is_admin, is_assignable, may_manage};
use crate::domain::names::{name_key, normalise};
use crate::domain::user::{validate_email, validate_password, validate_username};
use crate::domain::{GroupId, NewUser, User, UserId};
use crate::store::{Actor, SessionInfo, Store, UserPatch};

use super::{password, AuthError};

/// A request to create a user.
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub username: String,
    pub email: Option<String>,
    pub password: Option<String>,
    /// `None`: the default group.
    pub group_id: Option<GroupId>,
    /// Give this account a retired name (of a deleted or renamed account) on purpose.
    pub reuse_retired_name: bool,
}

/// A change to a user, as an admin asks for it.
#[derive(Debug, Clone, Default)]
pub struct EditUser {
    pub username: Option<String>,
    pub email: Option<String>,
    pub group_id: Option<GroupId>,
    pub password: Option<String>,
    pub locked: Option<bool>,
    /// With `username`: give this account a retired name on purpose.
    pub reuse_retired_name: bool,
}

/// Who is asking: the CLI (full rights) or a signed-in admin of some group.
#[derive(Debug, Clone)]
pub struct Acting {
    pub actor: Actor,
    /// `None` for the CLI.
    pub group: Option<GroupId>,
}

impl Acting {
    /// The command-line tool, which may do anything.
    pub fn cli() -> Self {
        Acting {
            actor: Actor::cli(),
            group: None,
        }
    }

    /// The domain's "who may manage whom" ([`may_manage`]): Co-Admins (group 1) may not create,
    /// change, promote to, or see and end the sessions of the Admin (group 0).
    pub fn may_touch_group(&self, group: GroupId) -> Result<(), AuthError> {
        match self.group {
            Some(mine) if !may_manage(mine, group) => Err(AuthError::Forbidden(format!(
                "members of group {mine} cannot manage members of group {group}"
            ))),
            _ => Ok(()),
        }
    }
}

impl Core {
    async fn check_group(&self, group: GroupId) -> Result<(), AuthError> {
        let exists = self
            .store
            .list_groups()
            .await?
            .iter()
            .any(|g| g.id == group);
        if !is_assignable(group) || !exists {
            return Err(crate::domain::user::InvalidInput::Group(group).into());
        }
        Ok(())
    }

    /// Creates a local user.
    pub async fn create_user(&self, req: CreateUser, acting: &Acting) -> Result<User, AuthError> {
        let username = new_username(&req.username)?;
        if let Some(e) = &req.email {
            validate_email(e)?;
            self.check_email_look_alike(e, None).await?;
        }
        let group_id = match req.group_id {
            Some(g) => g,
            None => self.store.default_group().await?,
        };
        self.check_group(group_id).await?;
        acting.may_touch_group(group_id)?;
        let password_hash = match req.password {
            Some(p) => {
                validate_password(&p)?;
                Some(password::hash(p).await)
            }
            None => None,
        };
        let new = NewUser {
            username,
            email: req.email,
            password_hash,
            group_id,
            image: None,
            reuse_retired_name: req.reuse_retired_name,
        };
        let user = self.store.create_user(&new, &acting.actor).await?;
        tracing::info!(user = %user.username, group = user.group_id, "user created");
        Ok(user)
    }

    /// Changes a user; refuses anything that would leave no unlocked admin.
    pub async fn edit_user(
        &self,
        id: UserId,
        req: EditUser,
        acting: &Acting,
    ) -> Result<User, AuthError> {
        let current = self.store.get_user(id).await?.ok_or(AuthError::NotFound)?;
        acting.may_touch_group(current.group_id)?;
        let mut patch = UserPatch::default();
        if let Some(name) = req.username {
            patch.username = Some(new_username(&name)?);
            patch.reuse_retired_name = req.reuse_retired_name;
        }
        if let Some(email) = req.email {
            let email = email.trim().to_string();
            if email.is_empty() {
                patch.email = Some(None);
            } else {
                validate_email(&email)?;
                self.check_email_look_alike(&email, Some(id)).await?;
                patch.email = Some(Some(email));
            }
        }
        if let Some(g) = req.group_id {
            self.check_group(g).await?;
            acting.may_touch_group(g)?;
            patch.group_id = Some(g);
        }
        if let Some(p) = req.password.clone() {
            validate_password(&p)?;
            patch.password_hash = Some(password::hash(p).await);
        }
        patch.locked = req.locked;
        let loses_admin = current.group_id == 0
            && !current.locked
            && (patch.group_id.is_some_and(|g| g != 0) || patch.locked == Some(true));
        if loses_admin && self.store.count_active_admins().await? <= 1 {
            return Err(AuthError::Forbidden(
                "this is the last unlocked admin; make someone else admin first".into(),
            ));
        }
        let action = match (req.locked, patch.group_id, req.password.is_some()) {
            (Some(true), _, _) => "user.lock",
            (Some(false), _, _) => "user.unlock",
            (_, Some(_), _) => "user.group",
            (_, _, true) => "user.password",
            _ => "user.update",
        };
        let user = self
            .store
            .update_user(id, &patch, action, &acting.actor)
            .await?;
        self.sessions.invalidate_user(id);
        if req.password.is_some() {
            // A new password ends every session: whoever knew the old one is out.
            // Through Core, which drops the cache entries after the rows are gone: a proxy
            // request between the update and the revoke cannot leave a session cached.
            self.revoke_user_sessions(id, None, &acting.actor).await?;
        }
        tracing::info!(user = %user.username, action, "user changed");
        Ok(user)
    }

    /// Refuses an e-mail address that looks like another account's (same NFKC, case-folded
    /// TS #39 skeleton) but is not the same: apps that key on `Remote-Email` could merge them.
    /// An identical address is left to the store's uniqueness check.
    pub(crate) async fn check_email_look_alike(
        &self,
        email: &str,
        except: Option<UserId>,
    ) -> Result<(), AuthError> {
        if let Some(other) = self.email_look_alike(email, except).await? {
            return Err(AuthError::FieldConflict(crate::domain::tab::FieldError::new(
                "email",
                format!("looks like the address of the existing account \"{other}\" (addresses are compared ignoring case, width, invisible characters and look-alike letters)"),
            )));
        }
        Ok(())
    }

    /// The username of another account whose e-mail looks like `email` without being it.
    pub(crate) async fn email_look_alike(
        &self,
        email: &str,
        except: Option<UserId>,
    ) -> Result<Option<String>, AuthError> {
        let key = name_key(email);
        let folded = crate::domain::user::fold(email);
        Ok(self
            .store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| Some(u.id) != except)
            .find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| crate::domain::user::fold(e) != folded && name_key(e) == key)
            })
            .map(|u| u.username))
    }

    /// Deletes a user and their sessions.
    pub async fn delete_user(&self, id: UserId, acting: &Acting) -> Result<(), AuthError> {
        let current = self.store.get_user(id).await?.ok_or(AuthError::NotFound)?;
        acting.may_touch_group(current.group_id)?;
        if current.group_id == 0 && !current.locked && self.store.count_active_admins().await? <= 1
        {
            return Err(AuthError::Forbidden(
                "this is the last unlocked admin; make someone else admin first".into(),
            ));
        }
        self.store.delete_user(id, &acting.actor).await?;
        self.sessions.invalidate_user(id);
        tracing::info!(user = %current.username, "user deleted");
        Ok(())
    }

    /// Finds a user by name for the CLI.
    pub async fn user_by_name(&self, name: &str) -> Result<User, AuthError> {
        self.store
            .find_user_by_name(name)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Revokes one session; with `owner`, only if it belongs to that user.
    pub async fn revoke_session(
        &self,
        id: i64,
        owner: Option<UserId>,
        actor: &Actor,
    ) -> Result<(), AuthError> {
        let hash = self.store.revoke_session(id, owner, actor).await?;
        self.sessions.invalidate_hex(&hash);
        tracing::info!(session_id = id, "session revoked");
        Ok(())
    }

    /// Revokes all sessions of a user (optionally keeping one).
    pub async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<i64>,
        actor: &Actor,
    ) -> Result<u64, AuthError> {
        let n = self.store.revoke_user_sessions(user, keep, actor).await?;
        self.sessions.invalidate_user(user);
        tracing::info!(user_id = user, count = n, "sessions revoked");
        Ok(n)
    }

    /// A signed-in person changes their own password. The current one is checked and throttled
    /// like a sign-in (so this is no way around the login throttle); every other session ends.
    pub async fn change_own_password(
        &self,
        me: UserId,
        keep_session: i64,
        current: &str,
        new: String,
        client: &super::ClientInfo,
    ) -> Result<(), AuthError> {
        let user = self.store.get_user(me).await?.ok_or(AuthError::NotFound)?;
        // The same budget as the sign-in form: the account, not the text.
        let key = super::throttle::ThrottleKey::Account(me);
        self.check_throttle(&key, &user.username, client).await?;
        let found = self.store.find_user_for_login(&user.username).await?;
        match self.local_password(found, current).await? {
            Ok(u) if u.id == me => self.throttle.success(&key).await?,
            _ => {
                self.login_failed(
                    &key,
                    &user.username,
                    crate::domain::SessionMethod::Local,
                    "wrong current password",
                    client,
                )
                .await?;
                return Err(AuthError::InvalidField(
                    crate::domain::tab::FieldError::new(
                        "current_password",
                        "is not your current password",
                    ),
                ));
            }
        }
        validate_password(&new)?;
        let patch = UserPatch {
            password_hash: Some(password::hash(new).await),
            ..UserPatch::default()
        };
        let actor = Actor {
            user_id: Some(me),
            ip: Some(client.ip.to_string()),
        };
        self.store
            .update_user(me, &patch, "user.password", &actor)
            .await?;
        self.sessions.invalidate_user(me);
        self.revoke_user_sessions(me, Some(keep_session), &actor)
            .await?;
        tracing::info!(user = %user.username, "password changed by its owner");
        Ok(())
    }

    /// Sessions of a user (or all).
    pub async fn sessions_of(&self, user: Option<UserId>) -> Result<Vec<SessionInfo>, AuthError> {
        Ok(self.store.list_sessions(user).await?)
    }
}

/// A new username in the form it is stored (NFKC), checked.
fn new_username(typed: &str) -> Result<String, AuthError> {
    let name = normalise(typed);
    validate_username(&name)?;
    Ok(name)
}

/// The user `id`, when `acting` may manage them ([`Acting::may_touch_group`]); 404 when unknown.
/// What an admin must pass before seeing or ending someone's sessions.
pub async fn managed_user(store: &Store, id: UserId, acting: &Acting) -> Result<User, AuthError> {
    let user = store.get_user(id).await?.ok_or(AuthError::NotFound)?;
    acting.may_touch_group(user.group_id)?;
    Ok(user)
}

/// The session `id`, when `acting` may manage its owner; 404 when there is no such live session.
pub async fn managed_session(
    store: &Store,
    id: i64,
    acting: &Acting,
) -> Result<SessionInfo, AuthError> {
    let session = store.session_by_id(id).await?.ok_or(AuthError::NotFound)?;
    acting.may_touch_group(session.group_id)?;
    Ok(session)
}

/// Every live session whose owner `acting` may manage: a Co-Admin does not see the Admin's.
pub async fn managed_sessions(
    store: &Store,
    acting: &Acting,
) -> Result<Vec<SessionInfo>, AuthError> {
    let mut sessions = store.list_sessions(None).await?;
    sessions.retain(|s| acting.may_touch_group(s.group_id).is_ok());
    Ok(sessions)
}

/// True when the group may use the admin API.
pub fn can_administer(group: GroupId) -> bool {
    is_admin(group)
}
