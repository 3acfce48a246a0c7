//! The audit trail's events that change no row of their own — sign-in failures and two-factor
//! steps — and the one function that records them: [`Core::record`]. Changes to users, groups,
//! tabs, settings and sessions are written by the store inside their own transaction (see
//! src/store/audit_log.rs); the retention job ([`Core::enforce_audit_retention`]) prunes both.
//!
//! Must never: make a failing sign-in wait for the database, let a flood of failures grow the
//! log without bound, or write a password, a code or text the person typed that names no account
//! (it may be a password typed into the wrong box).

use std::sync::Mutex;

use serde_json::json;

use crate::auth::AuthError;
use crate::core::Core;
use crate::domain::{now, SessionMethod, UserId};
use crate::store::Actor;

/// At most this many sign-in failures are written per minute, whoever sends them; the rest are
/// counted and written as one `login.failure_suppressed` entry. With the throttle (per account
/// and per client IP) this bounds the log: a flood costs a few rows a minute, not one per try.
pub const FAILURES_PER_MINUTE: u32 = 60;

/// Something to put in the audit log that no store transaction writes by itself.
///
/// Two-factor code calls [`Core::record`] with the `TwoFactor*` events (the person as `user`);
/// a wrong code at sign-in goes through `Core::login_failed` (src/auth/mod.rs), which counts it
/// for the throttle and records a [`AuditEvent::SignInFailed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditEvent {
    /// A sign-in refused. `user` is the account the typed name names, when it names one (the
    /// typed text itself is never written); `reason` is a fixed text from the code, the same
    /// as in the log line: `wrong password`, `unknown user`, `locked`, `plex.tv refused the
    /// password`, `wrong Plex two-factor code`, `not allowed on this Plex server`, …
    SignInFailed {
        method: SessionMethod,
        user: Option<UserId>,
        reason: &'static str,
    },
    /// Two-factor enrolment started (a secret was issued, not yet confirmed).
    TwoFactorEnrolStarted { user: UserId },
    /// Two-factor confirmed: from now on it is required.
    TwoFactorEnabled { user: UserId },
    /// The person turned two-factor off.
    TwoFactorDisabled { user: UserId },
    /// An administrator reset someone's two-factor.
    TwoFactorReset { user: UserId },
    /// A recovery code was spent at sign-in.
    RecoveryCodeUsed { user: UserId },
}

impl AuditEvent {
    /// The action as stored (what `GET /api/v2/audit?action=` filters on).
    pub fn action(&self) -> &'static str {
        match self {
            AuditEvent::SignInFailed { .. } => "login.failure",
            AuditEvent::TwoFactorEnrolStarted { .. } => "two_factor.enrol",
            AuditEvent::TwoFactorEnabled { .. } => "two_factor.enable",
            AuditEvent::TwoFactorDisabled { .. } => "two_factor.disable",
            AuditEvent::TwoFactorReset { .. } => "two_factor.reset",
            AuditEvent::RecoveryCodeUsed { .. } => "two_factor.recovery_code",
        }
    }

    /// The person the entry is about.
    fn person(&self) -> Option<UserId> {
        match *self {
            AuditEvent::SignInFailed { user, .. } => user,
            AuditEvent::TwoFactorEnrolStarted { user }
            | AuditEvent::TwoFactorEnabled { user }
            | AuditEvent::TwoFactorDisabled { user }
            | AuditEvent::TwoFactorReset { user }
            | AuditEvent::RecoveryCodeUsed { user } => Some(user),
        }
    }

    fn detail(&self) -> Option<serde_json::Value> {
        match self {
            AuditEvent::SignInFailed { method, reason, .. } => {
                Some(json!({"method": method.as_str(), "reason": reason}))
            }
            _ => None,
        }
    }
}

/// How many failures this minute were written and how many were not.
#[derive(Debug, Default)]
struct Minute {
    start: i64,
    written: u32,
    suppressed: u64,
}

/// The budget of sign-in failures written per minute ([`FAILURES_PER_MINUTE`]).
#[derive(Debug, Default)]
pub struct FailureBudget {
    minute: Mutex<Minute>,
}

/// What to write for one failure.
struct Spend {
    /// Write the failure itself.
    write: bool,
    /// A past minute's count of failures not written: `(count, minute start)`.
    summary: Option<(u64, i64)>,
}

impl FailureBudget {
    fn lock(&self) -> std::sync::MutexGuard<'_, Minute> {
        self.minute.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves to the current minute; returns the previous one's suppressed count if any.
    fn roll(m: &mut Minute, now: i64) -> Option<(u64, i64)> {
        let start = now - now.rem_euclid(60);
        if m.start == start {
            return None;
        }
        let summary = (m.suppressed > 0).then_some((m.suppressed, m.start));
        *m = Minute {
            start,
            written: 0,
            suppressed: 0,
        };
        summary
    }

    fn spend(&self, now: i64) -> Spend {
        let mut m = self.lock();
        let summary = Self::roll(&mut m, now);
        let write = m.written < FAILURES_PER_MINUTE;
        if write {
            m.written += 1;
        } else {
            m.suppressed += 1;
        }
        Spend { write, summary }
    }

    /// A finished minute's suppressed count, for the background job to write.
    fn take_finished(&self, now: i64) -> Option<(u64, i64)> {
        Self::roll(&mut self.lock(), now)
    }
}

/// Writes the entry that stands for a minute's failures not written one by one.
async fn write_suppressed(store: &crate::store::Store, count: u64, since: i64) {
    let detail = json!({"count": count, "from": since, "until": since + 60,
        "limit_per_minute": FAILURES_PER_MINUTE});
    let written = store
        .insert_audit(
            &Actor::default(),
            "login.failure_suppressed",
            None,
            Some(detail),
        )
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not write the audit entry of suppressed sign-in failures");
    }
}

impl Core {
    /// Records an audit event. Sign-in failures are written in the background within
    /// [`FAILURES_PER_MINUTE`] (the sign-in does not wait); everything else is written before
    /// this returns.
    pub async fn record(&self, event: AuditEvent, actor: &Actor) -> Result<(), AuthError> {
        if let AuditEvent::SignInFailed { .. } = event {
            self.record_failure(event, actor);
            return Ok(());
        }
        let target = event.person().map(|id| id.to_string());
        self.store
            .insert_audit(actor, event.action(), target.as_deref(), event.detail())
            .await?;
        Ok(())
    }

    /// Records a sign-in failure in the background, within the budget.
    pub(crate) fn record_failure(&self, event: AuditEvent, actor: &Actor) {
        let target = event.person().map(|id| id.to_string());
        let spend = self.audit_budget.spend(now());
        if !spend.write && spend.summary.is_none() {
            return;
        }
        let store = self.store.clone();
        let actor = actor.clone();
        tokio::spawn(async move {
            if let Some((count, since)) = spend.summary {
                write_suppressed(&store, count, since).await;
            }
            if spend.write {
                let r = store
                    .insert_audit(&actor, event.action(), target.as_deref(), event.detail())
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "could not write a sign-in failure to the audit log");
                }
            }
        });
    }

    /// Writes the count of sign-in failures a finished minute did not write one by one.
    pub async fn flush_suppressed_failures(&self) {
        if let Some((count, since)) = self.audit_budget.take_finished(now()) {
            write_suppressed(&self.store, count, since).await;
        }
    }

    /// Deletes audit entries older than `audit.retention_days`; returns how many.
    pub async fn enforce_audit_retention(&self) -> Result<u64, AuthError> {
        let days = self.settings().audit_retention_days;
        let removed = self.store.prune_audit(now() - days * 86_400).await?;
        if removed > 0 {
            tracing::info!(count = removed, days, "old audit entries removed");
        }
        Ok(removed)
    }
}

/// The filters of `GET /api/v2/audit` and the Audit page, as typed (every field optional).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    /// A user id or a username.
    pub person: Option<String>,
    /// An action (`user.update`) or its family (`user`).
    pub action: Option<String>,
    /// From: epoch seconds or a date (`2026-12-01`, from its start, UTC).
    pub since: Option<String>,
    /// Until: epoch seconds (exclusive) or a date (through its end, UTC).
    pub until: Option<String>,
    pub offset: Option<String>,
    pub limit: Option<String>,
}

/// Entries per page unless `limit` says otherwise, and the most a page may hold.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

fn bad(field: &'static str, reason: impl Into<String>) -> AuthError {
    AuthError::InvalidField(crate::domain::tab::FieldError::new(field, reason))
}

/// Present and not blank.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Epoch seconds, or the start of a `YYYY-MM-DD` day (UTC) plus `days_after` days.
fn parse_time(field: &'static str, s: &str, days_after: i64) -> Result<i64, AuthError> {
    if let Ok(t) = s.parse::<i64>() {
        return Ok(t);
    }
    let day = || -> Option<cookie::time::Date> {
        let mut parts = s.splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let month = cookie::time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
        cookie::time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
    };
    let day = day().ok_or_else(|| bad(field, "must be epoch seconds or a date like 2026-12-01"))?;
    Ok(day.midnight().assume_utc().unix_timestamp() + days_after * 86_400)
}

fn parse_count(field: &'static str, s: &str, min: i64, max: i64) -> Result<i64, AuthError> {
    s.parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| bad(field, format!("must be a whole number from {min} to {max}")))
}

impl Core {
    /// Turns typed filters into a query for someone of group `viewer`. A Co-Admin (group 1) is
    /// not shown entries made by or about a member of group 0, as they are not shown the
    /// Admin's sessions ([`crate::domain::group::may_manage`]).
    pub async fn audit_query(
        &self,
        f: &AuditFilter,
        viewer: crate::domain::GroupId,
    ) -> Result<crate::store::AuditQuery, AuthError> {
        let person = match given(&f.person) {
            None => None,
            Some(p) => match p.parse::<UserId>() {
                Ok(id) => Some(id),
                Err(_) => match self.store.find_user_by_name(p).await? {
                    Some(u) => Some(u.id),
                    None => return Err(bad("person", "no user has this id or name")),
                },
            },
        };
        let action = match given(&f.action) {
            Some(a)
                if a.len() > 64
                    || !a
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.') =>
            {
                return Err(bad(
                    "action",
                    "must be an action like user.update or a family like user",
                ))
            }
            a => a.map(str::to_string),
        };
        let since = given(&f.since)
            .map(|s| parse_time("since", s, 0))
            .transpose()?;
        let until = given(&f.until)
            .map(|s| parse_time("until", s, 1))
            .transpose()?;
        let offset = given(&f.offset)
            .map(|s| parse_count("offset", s, 0, 10_000_000))
            .transpose()?
            .unwrap_or(0);
        let limit = given(&f.limit)
            .map(|s| parse_count("limit", s, 1, MAX_LIMIT))
            .transpose()?
            .unwrap_or(DEFAULT_LIMIT);
        Ok(crate::store::AuditQuery {
            person,
            action,
            since,
            until,
            hide_admin: viewer != crate::domain::group::ADMIN,
            offset,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_epoch_seconds_or_days() {
        assert_eq!(parse_time("since", "1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(parse_time("since", "2026-12-01", 0).unwrap(), 1_796_083_200);
        assert_eq!(parse_time("until", "2026-12-01", 1).unwrap(), 1_796_169_600);
        assert!(parse_time("since", "yesterday", 0).is_err());
    }

    #[test]
    fn a_flood_writes_a_bounded_number_of_rows_and_counts_the_rest() {
        let budget = FailureBudget::default();
        let t = 6_000;
        let written = (0..1_000).filter(|_| budget.spend(t).write).count();
        assert_eq!(written, FAILURES_PER_MINUTE as usize);
        assert_eq!(budget.take_finished(t + 30), None, "the minute is not over");
        let next = budget.spend(t + 60);
        assert!(next.write, "a new minute, a new budget");
        assert_eq!(
            next.summary,
            Some((1_000 - u64::from(FAILURES_PER_MINUTE), t))
        );
        assert_eq!(
            budget.take_finished(t + 120),
            None,
            "nothing suppressed since"
        );
    }
}
