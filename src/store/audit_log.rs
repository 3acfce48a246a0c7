//! The audit log's rows: written inside the transaction of the change they describe (or alone,
//! for events that change no row, such as a refused sign-in), read back filtered and paged for
//! `GET /api/v2/audit` and the Audit page, and pruned by the retention job.
//!
//! Must never: store a secret or a password (callers hand over masked details), or show a
//! Co-Admin an entry about the Admin.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Actor, Store, StoreError};
use crate::domain::UserId;

/// Actions whose target is a person (a user id): the entry is *about* them.
const PERSON_ACTIONS: &[&str] = &["user.", "session.", "login.", "two_factor."];

/// The person an entry is about, from its action and target.
fn subject_of(action: &str, target: Option<&str>) -> Option<UserId> {
    PERSON_ACTIONS
        .iter()
        .any(|p| action.starts_with(p))
        .then(|| target?.parse().ok())
        .flatten()
}

/// Writes an audit entry inside a transaction.
pub(super) async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    detail: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, action, target, subject_id, ip, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(crate::domain::now())
    .bind(actor.user_id)
    .bind(action)
    .bind(target)
    .bind(subject_of(action, target))
    .bind(actor.ip.as_deref())
    .bind(detail.map(|d| d.to_string()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `{"before": …, "after": …}` holding only the keys of two JSON objects whose values differ.
pub(super) fn before_after(
    before: serde_json::Value,
    after: serde_json::Value,
) -> serde_json::Value {
    let (serde_json::Value::Object(b), serde_json::Value::Object(a)) = (&before, &after) else {
        return serde_json::json!({"before": before, "after": after});
    };
    let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
    let changed: Vec<&String> = keys.filter(|k| b.get(*k) != a.get(*k)).collect();
    let pick = |m: &serde_json::Map<String, serde_json::Value>| {
        let kept = changed.iter().map(|k| {
            let v = m.get(*k).cloned().unwrap_or(serde_json::Value::Null);
            ((*k).clone(), v)
        });
        serde_json::Value::Object(kept.collect())
    };
    serde_json::json!({"before": pick(b), "after": pick(a)})
}

/// A URL as the audit log shows it: a password in it masked.
pub(super) fn masked_url(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        _ => s.to_string(),
    }
}

/// One entry as the API and the Audit page show it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Epoch seconds.
    pub at: i64,
    /// Who acted; `None` for the CLI, Usher itself or someone not signed in.
    pub actor_id: Option<UserId>,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// The person the entry is about, when it is about one.
    pub subject_id: Option<UserId>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    /// What changed (before/after for edits), secrets masked.
    pub detail: Option<serde_json::Value>,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries this person made or that are about them.
    pub person: Option<UserId>,
    /// An action (`user.update`) or a family of them (`user`, `login`).
    pub action: Option<String>,
    /// From this time (epoch seconds, inclusive).
    pub since: Option<i64>,
    /// Before this time (epoch seconds, exclusive).
    pub until: Option<i64>,
    /// Leave out entries made by or about a member of group 0 (what a Co-Admin reads).
    pub hide_admin: bool,
    pub offset: i64,
    pub limit: i64,
}

/// A page of entries, newest first, with how many match in all.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub total: i64,
}

/// A bound value of a filter.
enum Arg {
    Int(i64),
    Text(String),
}

impl AuditQuery {
    /// The WHERE clause and its values (placeholders numbered from 1).
    fn filter(&self) -> (String, Vec<Arg>) {
        let mut clauses = Vec::new();
        let mut args = Vec::new();
        // Binds a value; returns its placeholder.
        let next = |arg: Arg, args: &mut Vec<Arg>| {
            args.push(arg);
            format!("${}", args.len())
        };
        if let Some(p) = self.person {
            let (a, b) = (next(Arg::Int(p), &mut args), next(Arg::Int(p), &mut args));
            clauses.push(format!("(a.actor_id = {a} OR a.subject_id = {b})"));
        }
        if let Some(action) = &self.action {
            let exact = next(Arg::Text(action.clone()), &mut args);
            let family = next(Arg::Text(format!("{action}.%")), &mut args);
            clauses.push(format!("(a.action = {exact} OR a.action LIKE {family})"));
        }
        if let Some(t) = self.since {
            clauses.push(format!("a.at >= {}", next(Arg::Int(t), &mut args)));
        }
        if let Some(t) = self.until {
            clauses.push(format!("a.at < {}", next(Arg::Int(t), &mut args)));
        }
        if self.hide_admin {
            clauses.push(
                "NOT EXISTS (SELECT 1 FROM users g0 WHERE g0.group_id = 0 \
                 AND (g0.id = a.actor_id OR g0.id = a.subject_id))"
                    .into(),
            );
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        (sql, args)
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Int(i) => q.bind(*i),
            Arg::Text(s) => q.bind(s.as_str()),
        };
    }
    q
}

fn entry_from_row(r: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        actor_id: r.try_get(2)?,
        action: r.try_get(3)?,
        target: r.try_get(4)?,
        ip: r.try_get(5)?,
        detail: r
            .try_get::<Option<String>, _>(6)?
            .and_then(|d| serde_json::from_str(&d).ok()),
        subject_id: r.try_get(7)?,
        actor: r.try_get(8)?,
        subject: r.try_get(9)?,
    })
}

impl Store {
    /// Writes an entry on its own: for events that change no row (a refused sign-in, a
    /// two-factor step) or whose row is written elsewhere.
    pub async fn insert_audit(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<&str>,
        detail: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        audit(&mut tx, actor, action, target, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The entries a query selects, newest first, and how many match in all.
    pub async fn query_audit(&self, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        let (filter, args) = q.filter();
        let count_sql = format!("SELECT COUNT(*) FROM audit_log a{filter}");
        let total: i64 = bind_all(sqlx::query(&count_sql), &args)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let n = args.len();
        let sql = format!(
            "SELECT a.id, a.at, a.actor_id, a.action, a.target, a.ip, a.detail, a.subject_id, \
             ua.username, us.username FROM audit_log a \
             LEFT JOIN users ua ON ua.id = a.actor_id LEFT JOIN users us ON us.id = a.subject_id\
             {filter} ORDER BY a.id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = bind_all(sqlx::query(&sql), &args)
            .bind(q.limit)
            .bind(q.offset)
            .fetch_all(&self.pool)
            .await?;
        let entries = rows.iter().map(entry_from_row).collect::<Result<_, _>>()?;
        Ok(AuditPage { entries, total })
    }

    /// Recent audit entries, newest first, as JSON.
    pub async fn audit_recent(&self, limit: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        let page = self
            .query_audit(&AuditQuery {
                limit,
                ..AuditQuery::default()
            })
            .await?;
        Ok(page
            .entries
            .into_iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .collect())
    }

    /// Deletes entries older than `before` (epoch seconds); returns how many.
    pub async fn prune_audit(&self, before: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::{before_after, masked_url, subject_of};
    use serde_json::json;

    #[test]
    fn before_and_after_keep_what_changed() {
        let d = before_after(
            json!({"name": "a", "url": "u", "enabled": true}),
            json!({"name": "b", "url": "u", "enabled": true}),
        );
        assert_eq!(d, json!({"before": {"name": "a"}, "after": {"name": "b"}}));
        assert_eq!(
            masked_url("https://me:pw@host/x"),
            "https://me:********@host/x"
        );
        assert_eq!(masked_url("https://host/x"), "https://host/x");
    }

    #[test]
    fn entries_about_people_name_them() {
        assert_eq!(subject_of("user.update", Some("7")), Some(7));
        assert_eq!(subject_of("login.failure", Some("3")), Some(3));
        assert_eq!(subject_of("login.failure", None), None);
        assert_eq!(subject_of("tab.update", Some("7")), None);
        assert_eq!(subject_of("group.rename", Some("7")), None);
        assert_eq!(subject_of("user.update", Some("x")), None);
    }
}
