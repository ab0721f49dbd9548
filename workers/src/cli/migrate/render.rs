//! The review and the results page, as tables and as `--json` (stable field names).

use ferry_engine::environment::{Contents, Resource};
use ferry_engine::migration::{phase_name, Import, Item, Outcome, Phase};
use ferry_schemas::resource::Kind;
use serde_json::{json, Value};

/// Resources of the target that could answer `item`, best first.
pub fn candidates<'c>(import: &Import, item: &Item, contents: &'c Contents) -> Vec<&'c Resource> {
    let mut found: Vec<&Resource> = contents
        .of(import.environment)
        .into_iter()
        .filter(|r| r.kind == item.review.kind)
        .filter(|r| match item.review.kind {
            Kind::Connection | Kind::Connector => {
                custom_connection(import, item) || r.connector == item.review.connector
            }
            _ => true,
        })
        .collect();
    found.sort_by_key(|r| Some(r.id) != item.review.suggested_target);
    found
}

fn custom_connection(import: &Import, item: &Item) -> bool {
    item.review.kind == Kind::Connection
        && item
            .review
            .depends_on
            .iter()
            .filter_map(|k| import.item(k))
            .any(|d| d.review.kind == Kind::CustomConnector)
}

fn chosen(item: &Item, contents: &Contents) -> String {
    match &item.answer {
        None if item.needs_input() => "—".into(),
        None => format!("{} (suggested)", item.review.suggested_action),
        Some(answer) => {
            let target = answer.target.map(|id| {
                contents
                    .get(id)
                    .map_or(id.to_string(), |r| format!("{} ({id})", r.name))
            });
            match (answer.action, target, &answer.name) {
                (action, Some(target), _) => format!("{action} → {target}"),
                (action, None, Some(name)) => format!("{action} as {name:?}"),
                (action, None, None) => action.to_string(),
            }
        }
    }
}

/// Prints the review of `import`.
pub fn review(import: &Import, contents: &Contents) {
    println!(
        "import {} of {:?}: {}",
        import.id,
        import.package_name,
        phase_name(&import.phase)
    );
    println!(
        "{:<38} {:<17} {:<30} {:<22} {:<9} CHOSEN",
        "ITEM", "TYPE", "NAME", "ALLOWED", "SUGGESTED"
    );
    for item in &import.items {
        let marker = if item.needs_input() { "!" } else { " " };
        let allowed: Vec<_> = item
            .review
            .allowed_actions
            .iter()
            .map(|a| a.as_str())
            .collect();
        println!(
            "{marker}{:<37} {:<17} {:<30} {:<22} {:<9} {}",
            item.review.manifest_key,
            item.review.kind.to_string(),
            truncate(&item.review.display_name, 30),
            allowed.join(", "),
            item.review.suggested_action.as_str(),
            chosen(item, contents)
        );
        if item.review.gateway {
            println!("    needs a gateway: only a tenant's default environment can import it");
        }
        if item.needs_input() {
            let found = candidates(import, item, contents);
            if found.is_empty() {
                println!(
                    "    needs input; no candidate {} in the target — create one first",
                    item.review.kind
                );
            }
            for r in found {
                let earlier = if Some(r.id) == item.review.suggested_target {
                    "  (earlier import of this item)"
                } else {
                    ""
                };
                println!("    candidate {:?} {}{earlier}", r.name, r.id);
            }
        } else if let Some(target) = item
            .review
            .suggested_target
            .filter(|_| item.answer.is_none())
        {
            println!("    an earlier import created {target}: answer update:{target} to update it");
        }
    }
    let pending = import.pending().len();
    if matches!(import.phase, Phase::Review) {
        if pending > 0 {
            println!(
                "{pending} item(s) marked ! need input: `ferry answer {} <item>=existing:<target>|update:<target>|new`",
                import.id
            );
        } else if import.dry_run {
            println!("dry run: nothing will be applied");
        } else {
            println!("ready: `ferry start {} --wait`", import.id);
        }
    }
}

/// The review as JSON.
pub fn review_json(import: &Import, contents: &Contents) -> Value {
    let items: Vec<Value> = import
        .items
        .iter()
        .map(|item| {
            let candidates: Vec<Value> = candidates(import, item, contents)
                .into_iter()
                .map(|r| json!({"id": r.id, "name": r.name}))
                .collect();
            json!({
                "key": item.review.manifest_key,
                "kind": item.review.kind,
                "name": item.review.display_name,
                "allowed": item.review.allowed_actions,
                "suggested": item.review.suggested_action,
                "suggested_target": item.review.suggested_target,
                "needs_input": item.needs_input(),
                "gateway": item.review.gateway,
                "answer": item.answer.as_ref().map(|a| json!({
                    "action": a.action, "target": a.target, "name": a.name,
                })),
                "candidates": if item.needs_input() { candidates } else { Vec::new() },
            })
        })
        .collect();
    json!({
        "migration": import.id,
        "package": import.package_name,
        "package_digest": import.package.to_string(),
        "state": phase_name(&import.phase),
        "dry_run": import.dry_run,
        "pending": import.pending().len(),
        "items": items,
    })
}

fn outcome_words(item: &Item) -> (&'static str, Option<String>, String) {
    match &item.outcome {
        None => ("pending", None, String::new()),
        Some(Outcome::Applied {
            action,
            target,
            change,
        }) => {
            let word = match (action, change) {
                (ferry_schemas::resource::Action::New, _) => "created",
                (ferry_schemas::resource::Action::Update, _) => "draft created",
                (_, Some(_)) => "registered",
                _ => "bound",
            };
            (word, target.map(|t| t.to_string()), String::new())
        }
        Some(Outcome::Failed { code, message }) => ("failed", Some(code.clone()), message.clone()),
        Some(Outcome::Reverted { .. }) => ("rolled back", None, String::new()),
    }
}

/// Prints the results page of `import`; with `map`, the source → target identity map.
pub fn status(import: &Import, map: bool) {
    let state = match &import.phase {
        Phase::Failed { code, message } => format!("failed ({code}): {message}"),
        other => phase_name(other).to_owned(),
    };
    println!("import {} of {:?}: {state}", import.id, import.package_name);
    if map {
        println!("{:<38} {:<17} TARGET", "SOURCE ITEM", "TYPE");
        for item in &import.items {
            if let Some(Outcome::Applied {
                target: Some(t), ..
            }) = &item.outcome
            {
                println!(
                    "{:<38} {:<17} {t}",
                    item.review.manifest_key,
                    item.review.kind.to_string()
                );
            }
        }
        return;
    }
    println!(
        "{:<38} {:<17} {:<30} {:<14} TARGET / ERROR",
        "ITEM", "TYPE", "NAME", "OUTCOME"
    );
    for item in &import.items {
        let (word, detail, message) = outcome_words(item);
        println!(
            "{:<38} {:<17} {:<30} {:<14} {}",
            item.review.manifest_key,
            item.review.kind.to_string(),
            truncate(&item.review.display_name, 30),
            word,
            detail.unwrap_or_default()
        );
        if !message.is_empty() {
            println!("    {message}");
        }
    }
}

/// The results page as JSON.
pub fn status_json(import: &Import) -> Value {
    let items: Vec<Value> = import
        .items
        .iter()
        .map(|item| {
            let (word, _, message) = outcome_words(item);
            let (target, code) = match &item.outcome {
                Some(Outcome::Applied { target, .. }) => (*target, None),
                Some(Outcome::Failed { code, .. }) => (None, Some(code.clone())),
                _ => (None, None),
            };
            json!({
                "key": item.review.manifest_key,
                "kind": item.review.kind,
                "name": item.review.display_name,
                "action": item.action(),
                "outcome": word,
                "target": target,
                "error_code": code,
                "message": if message.is_empty() { None } else { Some(message) },
            })
        })
        .collect();
    let (code, message) = match &import.phase {
        Phase::Failed { code, message } => (Some(code.clone()), Some(message.clone())),
        _ => (None, None),
    };
    json!({
        "migration": import.id,
        "package": import.package_name,
        "environment": import.environment,
        "state": phase_name(&import.phase),
        "atomic": import.atomic,
        "error_code": code,
        "message": message,
        "items": items,
    })
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}
