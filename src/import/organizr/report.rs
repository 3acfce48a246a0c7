//! The import's report as a person reads it at a terminal: counts, then every user with their
//! group, every tab, every setting with its Usher key (secrets masked), and every Organizr
//! setting that was not taken over with the reason.

use std::fmt::Write;

use super::plan::Plan;
use super::{Options, Sources};

/// Renders the report of a planned (dry run) or written import.
pub fn render(plan: &Plan, sources: &Sources, options: Options) -> String {
    let mut out = String::new();
    let b = &plan.batch;
    let _ = writeln!(
        out,
        "{} from Organizr: {} (config {})",
        if options.dry_run {
            "Dry run — nothing was written. Would import"
        } else {
            "Imported"
        },
        sources.db.display(),
        sources.config.display()
    );
    let _ = writeln!(
        out,
        "{} user(s), {} group(s) changed or added, {} tab(s), {} setting(s); skipped {} user(s), {} tab(s); {} Organizr setting(s) not imported",
        b.users.len(),
        b.groups.len(),
        b.tabs.len(),
        b.settings.len(),
        plan.skipped_users.len(),
        plan.skipped_tabs.len(),
        plan.not_mapped.len() + plan.settings_kept.len(),
    );
    section(
        &mut out,
        "Groups",
        plan.groups
            .iter()
            .map(|(id, name, what)| format!("{id} {name}: {what}")),
    );
    section(
        &mut out,
        "Users",
        plan.users
            .iter()
            .map(|(name, id, group)| format!("{name}: group {id} {group}")),
    );
    section(
        &mut out,
        "Users skipped",
        plan.skipped_users
            .iter()
            .map(|(n, why)| format!("{n}: {why}")),
    );
    section(
        &mut out,
        "Tabs",
        b.tabs.iter().map(|t| {
            format!(
                "{} → {} (groups {}-{}, {}{}{})",
                t.name,
                t.url,
                t.group_id_max,
                t.group_id,
                t.kind.as_str(),
                t.category
                    .as_deref()
                    .map(|c| format!(", category {c}"))
                    .unwrap_or_default(),
                if t.enabled { "" } else { ", disabled" }
            )
        }),
    );
    section(
        &mut out,
        "Tabs skipped",
        plan.skipped_tabs
            .iter()
            .map(|(n, why)| format!("{n}: {why}")),
    );
    section(
        &mut out,
        "Settings",
        plan.settings
            .iter()
            .map(|s| format!("{} → {} = {}", s.organizr, s.usher, s.shown)),
    );
    section(
        &mut out,
        "Organizr settings not imported",
        plan.settings_kept
            .iter()
            .map(|(o, u, why)| format!("{o} ({u}): {why}"))
            .chain(plan.not_mapped.iter().map(|(k, why)| format!("{k}: {why}"))),
    );
    section(&mut out, "Notes", plan.notes.iter().cloned());
    out.push_str("\nSessions are not carried over: everyone signs in once more (with their Organizr password).\n");
    out
}

fn section(out: &mut String, title: &str, lines: impl Iterator<Item = String>) {
    let lines: Vec<String> = lines.collect();
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}:");
    for l in lines {
        let _ = writeln!(out, "  {l}");
    }
}
