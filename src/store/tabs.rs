//! Portal tabs. Every change records `tabs` on the change feed so each server rebuilds its
//! tab-name index.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::{audit, before_after, masked_url, Actor, Store, StoreError};
use crate::domain::user::fold;
use crate::domain::{now, GroupId, Tab, TabKind};

const TAB_COLUMNS: &str =
    "id, name, url, icon, group_id, group_id_max, kind, position, category, enabled";

fn tab_from_row(r: &AnyRow) -> Result<Tab, sqlx::Error> {
    let kind: String = r.try_get(6)?;
    Ok(Tab {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        url: r.try_get(2)?,
        icon: r.try_get(3)?,
        group_id: r.try_get(4)?,
        group_id_max: r.try_get(5)?,
        kind: TabKind::parse(&kind).unwrap_or(TabKind::NewWindow),
        order: r.try_get(7)?,
        category: r.try_get(8)?,
        enabled: r.try_get::<i64, _>(9)? != 0,
    })
}

/// The fields of a tab as saved (already validated).
#[derive(Debug, Clone)]
pub struct TabFields {
    pub name: String,
    pub url: String,
    pub icon: Option<String>,
    pub group_id: GroupId,
    pub group_id_max: GroupId,
    pub kind: TabKind,
    pub category: Option<String>,
    pub enabled: bool,
}

/// A tab's fields as the audit log shows them (a password in its URL masked).
fn shown(f: &TabFields) -> serde_json::Value {
    json!({"name": f.name, "url": masked_url(&f.url), "icon": f.icon, "group_id": f.group_id,
        "group_id_max": f.group_id_max, "type": f.kind.as_str(), "category": f.category,
        "enabled": f.enabled})
}

fn fields_of(t: Tab) -> TabFields {
    TabFields {
        name: t.name,
        url: t.url,
        icon: t.icon,
        group_id: t.group_id,
        group_id_max: t.group_id_max,
        kind: t.kind,
        category: t.category,
        enabled: t.enabled,
    }
}

/// A tab's row inside a transaction (for the audit log's before).
async fn tab_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
) -> Result<Option<Tab>, sqlx::Error> {
    let sql = format!("SELECT {TAB_COLUMNS} FROM tabs WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(tab_from_row).transpose()
}

/// Inserts a tab after the last one; returns its id.
pub(super) async fn append_tab(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    f: &TabFields,
    at: i64,
) -> Result<i64, sqlx::Error> {
    let last: Option<i64> = sqlx::query("SELECT MAX(position) FROM tabs")
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    sqlx::query(
        "INSERT INTO tabs (name, name_lc, url, icon, group_id, group_id_max, kind, position, category, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(&f.name)
    .bind(fold(&f.name))
    .bind(&f.url)
    .bind(f.icon.as_deref())
    .bind(f.group_id)
    .bind(f.group_id_max)
    .bind(f.kind.as_str())
    .bind(last.unwrap_or(0) + 1)
    .bind(f.category.as_deref())
    .bind(f.enabled as i64)
    .bind(at)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)
}

impl Store {
    /// Every tab, in display order.
    pub async fn list_tabs(&self) -> Result<Vec<Tab>, StoreError> {
        let sql = format!("SELECT {TAB_COLUMNS} FROM tabs ORDER BY position, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(tab_from_row).collect::<Result<_, _>>()?)
    }

    /// One tab.
    pub async fn get_tab(&self, id: i64) -> Result<Option<Tab>, StoreError> {
        let sql = format!("SELECT {TAB_COLUMNS} FROM tabs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(tab_from_row).transpose()?)
    }

    /// Adds a tab after the last one; `Conflict("name")` when the name is taken in any case.
    pub async fn create_tab(&self, f: &TabFields, actor: &Actor) -> Result<Tab, StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        let id = append_tab(&mut tx, f, t)
            .await
            .map_err(StoreError::from_write)?;
        let detail = json!({"name": f.name, "url": masked_url(&f.url), "group_id": f.group_id,
            "after": shown(f)});
        audit(
            &mut tx,
            actor,
            "tab.create",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        record(&mut tx, ChangeKind::Tabs, "*").await?;
        tx.commit().await?;
        self.get_tab(id).await?.ok_or(StoreError::NotFound)
    }

    /// Replaces a tab's fields (the caller merged the patch); keeps its place in the order.
    pub async fn update_tab(
        &self,
        id: i64,
        f: &TabFields,
        actor: &Actor,
    ) -> Result<Tab, StoreError> {
        let mut tx = self.begin_write().await?;
        let before = tab_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let r = sqlx::query(
            "UPDATE tabs SET name = $1, name_lc = $2, url = $3, icon = $4, group_id = $5, group_id_max = $6, \
             kind = $7, category = $8, enabled = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(&f.name)
        .bind(fold(&f.name))
        .bind(&f.url)
        .bind(f.icon.as_deref())
        .bind(f.group_id)
        .bind(f.group_id_max)
        .bind(f.kind.as_str())
        .bind(f.category.as_deref())
        .bind(f.enabled as i64)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let mut detail = before_after(shown(&fields_of(before)), shown(f));
        detail["name"] = json!(f.name);
        audit(
            &mut tx,
            actor,
            "tab.update",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        record(&mut tx, ChangeKind::Tabs, "*").await?;
        tx.commit().await?;
        self.get_tab(id).await?.ok_or(StoreError::NotFound)
    }

    /// Deletes a tab.
    pub async fn delete_tab(&self, id: i64, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let before = tab_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let r = sqlx::query("DELETE FROM tabs WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = json!({"name": before.name, "before": shown(&fields_of(before))});
        audit(
            &mut tx,
            actor,
            "tab.delete",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        record(&mut tx, ChangeKind::Tabs, "*").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts the tabs in the order of `ids` (the caller checked it names every tab once).
    pub async fn reorder_tabs(&self, ids: &[i64], actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (position, id) in ids.iter().enumerate() {
            let r = sqlx::query("UPDATE tabs SET position = $1 WHERE id = $2")
                .bind(position as i64 + 1)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        audit(
            &mut tx,
            actor,
            "tab.order",
            None,
            Some(json!({ "ids": ids })),
        )
        .await?;
        record(&mut tx, ChangeKind::Tabs, "*").await?;
        tx.commit().await?;
        Ok(())
    }
}
