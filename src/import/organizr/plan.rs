//! Turns what Organizr had into what Usher will write: every row mapped and checked with Usher's
//! own rules (`validate_username`, the tab and group checks, settings validation). Problems are
//! collected, not stopped at, so one run names every row that needs fixing.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::config_php::{PhpKey, PhpValue};
use super::db::{OrgGroup, OrgTab, OrgUser, OrganizrDb};
use super::mapping::{self, convert, Converted};
use super::{ImportError, Options};
use crate::auth::groups::{validate_group_name, CUSTOM_GROUPS};
use crate::core::Core;
use crate::crypto::SecretKey;
use crate::domain::group::is_admin;
use crate::domain::tab::{
    validate_category, validate_groups, validate_icon, validate_name, validate_url,
};
use crate::domain::user::{fold, validate_email, validate_username};
use crate::domain::{Group, GroupId, Tab, TabKind, User};
use crate::settings;
use crate::store::{ImportBatch, ImportGroup, ImportUser, TabFields};

/// What Usher has before the import.
pub struct UsherNow {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub tabs: Vec<Tab>,
    /// Settings set explicitly (not defaults).
    pub explicit: HashSet<&'static str>,
}

impl UsherNow {
    /// Reads Usher's users, groups, tabs and which settings are set.
    pub async fn read(core: &Core) -> Result<UsherNow, ImportError> {
        let snapshot = core.settings();
        Ok(UsherNow {
            users: core.store.list_users().await?,
            groups: core.store.list_groups().await?,
            tabs: core.store.list_tabs().await?,
            explicit: settings::DEFS
                .iter()
                .map(|d| d.key)
                .filter(|k| snapshot.is_explicit(k))
                .collect(),
        })
    }
}

/// A setting as the report shows it.
#[derive(Debug)]
pub struct SettingLine {
    pub organizr: &'static str,
    pub usher: &'static str,
    /// JSON, or `********` for a secret.
    pub shown: String,
}

/// The checked import: the batch to write and what the report says about it.
#[derive(Debug, Default)]
pub struct Plan {
    pub batch: ImportBatch,
    /// Group number, name and what happens to it.
    pub groups: Vec<(GroupId, String, String)>,
    /// Username and the group name they land in.
    pub users: Vec<(String, GroupId, String)>,
    pub skipped_users: Vec<(String, String)>,
    pub skipped_tabs: Vec<(String, String)>,
    pub settings: Vec<SettingLine>,
    /// Organizr key, Usher key, why Organizr's value was not taken.
    pub settings_kept: Vec<(&'static str, &'static str, &'static str)>,
    pub not_mapped: Vec<(String, &'static str)>,
    pub notes: Vec<String>,
}

/// Why an empty Organizr value is not imported.
const EMPTY: &str = "empty in Organizr: Usher's default stays";

impl Plan {
    /// Maps and checks everything; refuses with every problem named.
    pub fn build(
        config: &PhpValue,
        organizr: &OrganizrDb,
        usher: &UsherNow,
        options: Options,
        key: &SecretKey,
    ) -> Result<Plan, ImportError> {
        let mut plan = Plan {
            batch: ImportBatch {
                require_empty: !options.merge,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut problems = Vec::new();
        let group_names = plan.groups(&organizr.groups, usher, options, &mut problems);
        plan.users(
            &organizr.users,
            usher,
            &group_names,
            options,
            key,
            &mut problems,
        );
        plan.tabs(&organizr.tabs, usher, options, &mut problems);
        plan.settings(config, usher, options, key, &mut problems);
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(ImportError::Refused(problems))
        }
    }

    /// Built-in groups keep their numbers (renamed to Organizr's names); custom ones are added.
    /// Returns every group number → name after the import.
    fn groups(
        &mut self,
        groups: &[OrgGroup],
        usher: &UsherNow,
        options: Options,
        problems: &mut Vec<String>,
    ) -> BTreeMap<GroupId, String> {
        let mut names: BTreeMap<GroupId, String> = usher
            .groups
            .iter()
            .map(|g| (g.id, g.name.clone()))
            .collect();
        for g in groups {
            let what = format!("group {} {:?}", g.group_id, g.name);
            if !(CUSTOM_GROUPS.contains(&g.group_id)
                || (0..=4).contains(&g.group_id)
                || g.group_id == 999)
            {
                problems.push(format!("{what}: group numbers are 0–997 or 999 in Usher"));
                continue;
            }
            if let Err(e) = validate_group_name(&g.name) {
                problems.push(format!("{what}: {}", e.reason));
                continue;
            }
            let current = names.get(&g.group_id).cloned();
            let action = match current {
                Some(now) if fold(&now) == fold(&g.name) => "kept".to_string(),
                Some(now) if options.merge => format!("Usher's name {now:?} kept (--merge)"),
                Some(now) => {
                    self.batch.groups.push(ImportGroup {
                        id: g.group_id,
                        name: g.name.clone(),
                        create: false,
                    });
                    names.insert(g.group_id, g.name.clone());
                    format!("renamed from {now:?}")
                }
                None => {
                    self.batch.groups.push(ImportGroup {
                        id: g.group_id,
                        name: g.name.clone(),
                        create: true,
                    });
                    names.insert(g.group_id, g.name.clone());
                    "new".to_string()
                }
            };
            let action = match (g.is_default, options.merge) {
                (false, _) => action,
                (true, true) => format!("{action}; Usher's default group kept (--merge)"),
                (true, false) if is_admin(g.group_id) => {
                    self.notes.push(format!("Organizr's default group {} is an administrator group; Usher's default group is kept", g.group_id));
                    action
                }
                (true, false) => {
                    self.batch.default_group = Some(g.group_id);
                    format!("{action}, default for new accounts")
                }
            };
            self.groups.push((g.group_id, g.name.clone(), action));
        }
        let mut seen: HashMap<String, GroupId> = HashMap::new();
        for (id, name) in &names {
            if let Some(other) = seen.insert(fold(name), *id) {
                problems.push(format!("groups {other} and {id} would both be named {name:?} (names are compared ignoring case)"));
            }
        }
        names
    }

    fn users(
        &mut self,
        users: &[OrgUser],
        usher: &UsherNow,
        group_names: &BTreeMap<GroupId, String>,
        options: Options,
        key: &SecretKey,
        problems: &mut Vec<String>,
    ) {
        let taken_names: HashSet<String> = usher.users.iter().map(|u| fold(&u.username)).collect();
        let taken_emails: HashSet<String> = usher
            .users
            .iter()
            .filter_map(|u| u.email.as_deref())
            .map(fold)
            .collect();
        let mut names: HashMap<String, &str> = HashMap::new();
        let mut emails: HashMap<String, &str> = HashMap::new();
        let mut placeholders = 0;
        for u in users {
            let who = format!("user {:?}", u.username);
            let email = match u.email.as_deref() {
                // Organizr makes up `<random>@placeholder.eml` for accounts without an address.
                Some(e) if e.ends_with("@placeholder.eml") => {
                    placeholders += 1;
                    None
                }
                Some(e) => match validate_email(e) {
                    Ok(()) => Some(e.to_string()),
                    Err(err) => {
                        self.notes
                            .push(format!("{who}: e-mail {e:?} not kept ({err})"));
                        None
                    }
                },
                None => None,
            };
            if options.merge
                && (taken_names.contains(&fold(&u.username))
                    || email
                        .as_deref()
                        .is_some_and(|e| taken_emails.contains(&fold(e))))
            {
                self.skipped_users.push((
                    u.username.clone(),
                    "Usher already has a user with this name or e-mail (--merge: Usher's user wins)".into(),
                ));
                continue;
            }
            if let Err(e) = validate_username(&u.username) {
                problems.push(format!("{who} (Organizr id {}): Usher refuses this name: {e}; rename it in Organizr first", u.id));
            }
            if let Some(other) = names.insert(fold(&u.username), &u.username) {
                problems.push(format!("users {other:?} and {:?} differ only in case; Usher compares names ignoring case: rename one in Organizr first", u.username));
            }
            if let Some(e) = &email {
                if let Some(other) = emails.insert(fold(e), &u.username) {
                    problems.push(format!("users {other:?} and {:?} have the same e-mail {e:?} (compared ignoring case)", u.username));
                }
            }
            let Some(group_name) = u.group_id.and_then(|g| group_names.get(&g)) else {
                problems.push(format!(
                    "{who}: group {:?} is neither in Organizr's groups nor in Usher",
                    u.group_id
                ));
                continue;
            };
            if u.password.as_deref().is_some_and(|h| !h.starts_with("$2")) {
                problems.push(format!("{who}: the stored password is not a bcrypt hash"));
            }
            match u.auth_service.as_deref() {
                Some(s) if s.contains("::") => self.notes.push(format!("{who} used {} two-factor or single sign-in in Organizr; Usher signs them in with their password", s.split("::").next().unwrap_or(s))),
                _ => {}
            }
            if u.locked {
                self.notes.push(format!(
                    "{who} was locked in Organizr and stays locked (`usher user unlock {}`)",
                    u.username
                ));
            }
            let group_id = u.group_id.unwrap_or_default();
            self.users
                .push((u.username.clone(), group_id, group_name.clone()));
            self.batch.users.push(ImportUser {
                username: u.username.clone(),
                email,
                password_hash: u.password.clone(),
                group_id,
                locked: u.locked,
                image: u
                    .image
                    .clone()
                    .filter(|i| i.starts_with("https://") || i.starts_with("http://")),
                plex_token: u.plex_token.as_deref().map(|t| key.encrypt(t)),
            });
        }
        if placeholders > 0 {
            self.notes.push(format!("{placeholders} user(s) had an e-mail Organizr made up (…@placeholder.eml): imported without e-mail"));
        }
    }

    fn tabs(
        &mut self,
        tabs: &[OrgTab],
        usher: &UsherNow,
        options: Options,
        problems: &mut Vec<String>,
    ) {
        let existing: HashSet<String> = usher.tabs.iter().map(|t| fold(&t.name)).collect();
        let mut names: HashMap<String, &str> = HashMap::new();
        for t in tabs {
            let who = format!("tab {:?}", t.name);
            if t.kind == 0 {
                self.skipped_tabs.push((
                    t.name.clone(),
                    "an Organizr page (its own settings or homepage); Usher has its own".into(),
                ));
                continue;
            }
            if existing.contains(&fold(&t.name)) {
                if options.merge {
                    self.skipped_tabs.push((
                        t.name.clone(),
                        "Usher already has a tab with this name (--merge: Usher's tab wins)".into(),
                    ));
                } else {
                    problems.push(format!("{who}: Usher already has a tab with this name"));
                }
                continue;
            }
            if let Some(other) = names.insert(fold(&t.name), &t.name) {
                problems.push(format!("tabs {other:?} and {:?} differ only in case; proxy-auth URLs name tabs ignoring case", t.name));
            }
            let url = t.url.trim().to_string();
            let checks = [
                validate_name(&t.name),
                validate_url("url", &url),
                t.category.as_deref().map_or(Ok(()), validate_category),
                validate_groups(t.group_id, t.group_id_max),
            ];
            let refused: Vec<String> = checks
                .into_iter()
                .filter_map(Result::err)
                .map(|e| e.to_string())
                .collect();
            if !refused.is_empty() {
                problems.push(format!("{who} (url {url:?}): {}", refused.join("; ")));
                continue;
            }
            let icon = match t.image.as_deref().map(|i| (i, validate_icon(i))) {
                Some((i, Ok(()))) => Some(i.to_string()),
                Some((i, Err(_))) => {
                    self.notes.push(format!("{who}: icon {i:?} not kept (a file inside Organizr or an icon Usher cannot show); set one with `usher tab edit`"));
                    None
                }
                None => None,
            };
            let kind = match t.kind {
                2 => TabKind::NewWindow,
                1 => TabKind::Iframe,
                other => {
                    self.notes.push(format!(
                        "{who}: Organizr tab type {other} opens in a frame in Usher"
                    ));
                    TabKind::Iframe
                }
            };
            self.batch.tabs.push(TabFields {
                name: t.name.clone(),
                url,
                icon,
                group_id: t.group_id,
                group_id_max: t.group_id_max,
                kind,
                category: t.category.clone(),
                enabled: t.enabled,
            });
        }
    }

    fn settings(
        &mut self,
        config: &PhpValue,
        usher: &UsherNow,
        options: Options,
        key: &SecretKey,
        problems: &mut Vec<String>,
    ) {
        let PhpValue::Array(entries) = config else {
            return;
        };
        let hash = match config.get("organizrHash") {
            Some(PhpValue::Str(h)) if !h.is_empty() => Some(h.as_str()),
            _ => None,
        };
        for (k, v) in entries {
            let PhpKey::Str(name) = k else { continue };
            let Some(m) = mapping::mapping(name) else {
                self.not_mapped
                    .push((name.clone(), mapping::not_mapped_reason(name)));
                continue;
            };
            let value = match convert(m, v, config, hash) {
                Ok(Converted::Set(value)) => value,
                Ok(Converted::Empty) => {
                    self.settings_kept.push((m.organizr, m.usher, EMPTY));
                    continue;
                }
                Ok(Converted::NotMapped(reason)) => {
                    self.not_mapped.push((name.clone(), reason));
                    continue;
                }
                Err(reason) => {
                    problems.push(format!("setting {name} (Usher's {}): {reason}", m.usher));
                    continue;
                }
            };
            let value = match settings::validate(m.usher, &value) {
                Ok(Some(v)) => v,
                Ok(None) => {
                    self.settings_kept.push((m.organizr, m.usher, EMPTY));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("setting {name} (Usher's {}): {e}", m.usher));
                    continue;
                }
            };
            if options.merge && usher.explicit.contains(m.usher) {
                self.settings_kept.push((
                    m.organizr,
                    m.usher,
                    "set in Usher already (--merge: Usher's value wins)",
                ));
                continue;
            }
            let secret = settings::def(m.usher).is_some_and(|d| d.secret);
            self.settings.push(SettingLine {
                organizr: m.organizr,
                usher: m.usher,
                shown: if secret {
                    "********".into()
                } else {
                    value.to_string()
                },
            });
            self.batch
                .settings
                .push((m.usher, settings::encode_for_store(m.usher, &value, key)));
        }
    }
}
