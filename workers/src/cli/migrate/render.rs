//! The review and the results page as tables; `--json` prints the views themselves.

use ferry_engine::app::{ImportSummary, ReviewItemView, ReviewView, StatusView, UpdateView};
use ferry_engine::migration::Aspect;

use crate::cli::table::{self, row};

fn chosen(item: &ReviewItemView) -> String {
    match &item.answer {
        None if item.needs_input => "—".into(),
        None => format!("{} (suggested)", item.suggested),
        Some(answer) => {
            let target = answer.target.map(|id| match &answer.target_name {
                Some(name) => format!("{name} ({id})"),
                None => id.to_string(),
            });
            match (answer.action, target, &answer.name) {
                (action, Some(target), _) => format!("{action} → {target}"),
                (action, None, Some(name)) => format!("{action} as {name:?}"),
                (action, None, None) => action.to_string(),
            }
        }
    }
}

/// Prints a review.
pub fn review(view: &ReviewView) {
    say!(
        "import {} of {:?}: {}",
        view.migration,
        view.package,
        view.state
    );
    match &view.signer {
        None => say!("package {}: unsigned", view.package_digest),
        Some(signer) => match &signer.trusted_as {
            Some(name) => say!(
                "package {}: signed by {name} (key {})",
                view.package_digest,
                signer.key
            ),
            None => say!(
                "package {}: signed by key {}, not trusted in the target",
                view.package_digest,
                signer.key
            ),
        },
    }
    let mut rows = vec![row([
        "",
        "LABEL",
        "TYPE",
        "NAME",
        "CONNECTOR",
        "ALLOWED",
        "CHOSEN",
    ])];
    for item in &view.items {
        let allowed: Vec<_> = item.allowed.iter().map(|a| a.as_str()).collect();
        rows.push(vec![
            if item.needs_input { "!" } else { "" }.to_owned(),
            item.label.clone(),
            item.kind.to_string(),
            item.name.clone(),
            item.connector.clone().unwrap_or_else(|| "-".into()),
            allowed.join(", "),
            chosen(item),
        ]);
    }
    let mut lines = table::lines(&rows).into_iter();
    if let Some(header) = lines.next() {
        say!("{header}");
    }
    for (item, line) in view.items.iter().zip(lines) {
        say!("{line}");
        details(item);
    }
    if view.state == "in review" {
        if view.pending > 0 {
            say!(
                "{} item(s) marked ! need input: `ferry answer {} <label>=existing:<target>|update:<target>|new`",
                view.pending, view.migration
            );
        } else if view.dry_run {
            say!(
                "dry run: nothing will be applied (`ferry promote {}` makes it a real import with these answers)",
                view.migration
            );
        } else {
            say!("ready: `ferry start {} --wait`", view.migration);
        }
    }
}

/// The lines under an item: the exporter's comment, and what answers it.
fn details(item: &ReviewItemView) {
    if let Some(comment) = &item.comment {
        say!("    the exporter says: {comment}");
    }
    if item.gateway {
        say!("    needs a gateway: only a tenant's default environment can import it");
    }
    if item.needs_input {
        if item.candidates.is_empty() {
            say!(
                "    needs input; no {} in the target that you may use — create one first",
                item.kind
            );
        }
        for candidate in &item.candidates {
            let earlier = if Some(candidate.id) == item.suggested_target {
                "  (earlier import of this item)"
            } else {
                ""
            };
            say!(
                "    candidate {:?} {}{earlier}",
                candidate.name,
                candidate.id
            );
        }
    } else if let Some(target) = item.suggested_target.filter(|_| item.answer.is_none()) {
        say!("    an earlier import created {target}: answer update:{target} to update it");
    }
    if let Some(update) = &item.update {
        plan(update);
    }
}

/// What an update would change in its target, as `terraform plan` prints it: `~` changed,
/// `+` added, `-` gone.
fn plan(update: &UpdateView) {
    let target = format!("{:?} ({})", update.target_name, update.target);
    if let Some(error) = &update.error {
        say!("    update of {target}: what changes is not known: {error}");
        return;
    }
    if update.changes.is_empty() {
        say!("    update of {target}: no change");
        return;
    }
    say!("    update of {target}:");
    for change in &update.changes {
        let what = match change.aspect {
            Aspect::Document => "document",
            Aspect::Reference => "uses",
            Aspect::Name => "name",
        };
        let (sign, detail) = match (&change.now, &change.then) {
            (_, Some(then)) if change.aspect == Aspect::Name => ("=", then.clone()),
            (Some(now), Some(then)) => ("~", format!("{now} → {then}")),
            (None, Some(then)) => ("+", then.clone()),
            (Some(now), None) => ("-", now.clone()),
            (None, None) => continue,
        };
        say!("      {sign} {what} {}: {detail}", change.name);
    }
}

/// Prints a results page; with `map`, the source → target identity map.
pub fn status(view: &StatusView, map: bool) {
    let state = match (&view.error_code, &view.message, &view.cancelled) {
        (Some(code), Some(message), _) => format!("{} ({code}): {message}", view.state),
        (_, _, Some(reason)) => {
            let mut state = view.state.clone();
            if !reason.is_empty() {
                state.push_str(&format!(": {reason}"));
            }
            if view.rolled_back {
                state.push_str(" (what it applied was undone)");
            }
            if let Some(real) = view.promoted_to {
                state.push_str(&format!("; import {real} took its place"));
            }
            state
        }
        _ => view.state.clone(),
    };
    say!("import {} of {:?}: {state}", view.migration, view.package);
    if map {
        say!("{:<38} {:<17} TARGET", "SOURCE ITEM", "TYPE");
        for item in &view.items {
            if let Some(target) = item.target {
                say!("{:<38} {:<17} {target}", item.key, item.kind.to_string());
            }
        }
        return;
    }
    let mut rows = vec![row(["LABEL", "TYPE", "NAME", "OUTCOME", "TARGET / ERROR"])];
    for item in &view.items {
        let detail = item
            .target
            .map(|t| t.to_string())
            .or_else(|| item.error_code.clone())
            .unwrap_or_default();
        rows.push(vec![
            item.label.clone(),
            item.kind.to_string(),
            item.name.clone(),
            item.outcome.clone(),
            detail,
        ]);
    }
    let mut lines = table::lines(&rows).into_iter();
    if let Some(header) = lines.next() {
        say!("{header}");
    }
    for (item, line) in view.items.iter().zip(lines) {
        say!("{line}");
        if let Some(message) = &item.message {
            say!("    {message}");
        }
    }
}

/// Prints the list of imports, newest first.
pub fn imports(list: &[ImportSummary]) {
    let mut rows = vec![row([
        "MIGRATION",
        "STARTED",
        "BY",
        "ENVIRONMENT",
        "STATE",
        "PACKAGE",
        "ITEMS",
    ])];
    for i in list {
        let items = match i.pending {
            0 => i.items.to_string(),
            pending => format!("{} ({pending} need input)", i.items),
        };
        rows.push(vec![
            i.migration.to_string(),
            i.requested_at.map_or_else(
                || "-".to_owned(),
                |at| at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ),
            i.importer.clone(),
            i.environment_name.clone(),
            i.state.clone(),
            i.package.clone(),
            items,
        ]);
    }
    print!(
        "{}",
        ferry_engine::untrusted::neutralise(&table::table(&rows))
    );
}
