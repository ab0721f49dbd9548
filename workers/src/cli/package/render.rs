//! Human-readable rendering of an inspection [`Report`]: aligned tables and a dependency
//! tree. Pure: builds a `String`, prints nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use ferry_engine::package::inspect::{
    Details, LegacyDetails, Report, ResourceRow, SolutionDetails,
};
use ferry_schemas::solution::ComponentRef;

use crate::cli::table::{row, table};

/// The whole report as text.
pub(super) fn report(report: &Report) -> String {
    let mut out = String::new();
    let kind = match &report.details {
        Details::Solution(s) if s.managed => "solution (managed)",
        Details::Solution(_) => "solution (unmanaged)",
        Details::Legacy(_) => "legacy package",
    };
    let mut head = vec![
        row(["kind", kind]),
        row(["name", &report.display_name]),
        row(["contents", &report.summary]),
        row([
            "signed",
            &report
                .signer
                .as_ref()
                .map_or_else(|| "no".to_owned(), |key| format!("by key {key}")),
        ]),
    ];
    if let Details::Solution(s) = &report.details {
        if let Some(name) = &s.localized_name {
            head.push(row(["display name", name]));
        }
        let publisher = format!(
            "{} (prefix {})",
            s.publisher.unique_name, s.publisher.customization_prefix
        );
        head.push(row(["publisher", &publisher]));
    }
    out.push_str(&table(&head));
    match &report.details {
        Details::Legacy(legacy) => render_legacy(&mut out, legacy),
        Details::Solution(solution) => render_solution(&mut out, solution),
    }
    out
}

fn name(row: &ResourceRow) -> &str {
    row.display_name.as_deref().unwrap_or("(unnamed)")
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

fn render_legacy(out: &mut String, legacy: &LegacyDetails) {
    let by_key: BTreeMap<&str, &ResourceRow> = legacy
        .resources
        .iter()
        .map(|r| (r.key.as_str(), r))
        .collect();
    out.push_str("\nResources (in import order)\n");
    let mut rows = vec![row([
        "TYPE",
        "NAME",
        "SUGGESTED",
        "ALLOWED",
        "INPUT",
        "KEY",
    ])];
    for r in &legacy.resources {
        let allowed = if r.allowed_actions.is_empty() {
            "-".to_owned()
        } else {
            r.allowed_actions.join(", ")
        };
        rows.push(vec![
            r.kind_label().into(),
            name(r).into(),
            or_dash(r.suggested_action.as_deref()),
            allowed,
            if r.needs_input { "yes" } else { "-" }.into(),
            r.key.clone(),
        ]);
    }
    out.push_str(&table(&rows));

    let bindings: Vec<&ResourceRow> = legacy.resources.iter().filter(|r| r.needs_input).collect();
    if bindings.is_empty() {
        out.push_str("\nNeeds input at import: nothing\n");
    } else {
        out.push_str("\nNeeds input at import: bind each to an existing one in the target\n");
        let mut rows = Vec::new();
        for r in bindings {
            let connector = r
                .depends_on
                .iter()
                .filter_map(|key| by_key.get(key.as_str()))
                .map(|api| format!("for {}", name(api)))
                .next()
                .unwrap_or_default();
            rows.push(vec![
                r.kind_label().into(),
                name(r).into(),
                connector,
                r.key.clone(),
            ]);
        }
        out.push_str(&table(&rows));
    }
    let comments: Vec<_> = legacy
        .resources
        .iter()
        .filter_map(|r| {
            r.comment
                .as_deref()
                .map(|c| row([r.kind_label(), name(r), c]))
        })
        .collect();
    if !comments.is_empty() {
        out.push_str("\nThe exporter's comments\n");
        out.push_str(&table(&comments));
    }

    out.push_str("\nDependencies\n");
    let mut tree = Tree {
        out,
        by_key: &by_key,
        shown: BTreeSet::new(),
        lines: 0,
    };
    for root in &legacy.roots {
        tree.node(root, "", None, 0);
    }
    if tree.lines > MAX_TREE_LINES {
        let _ = writeln!(
            tree.out,
            "… {} more line(s); `--json` has every resource's depends_on",
            tree.lines - MAX_TREE_LINES
        );
    }
}

/// The most lines the dependency tree prints: a package may have thousands of edges.
const MAX_TREE_LINES: usize = 2_000;
/// The deepest level the tree shows (a chain of thousands would indent off any screen).
const MAX_TREE_DEPTH: usize = 48;

/// The dependency tree, as `cargo tree` prints one: a resource's dependencies are shown
/// under its first appearance only, later ones are marked `(*)` — so the output is linear in
/// the package, whatever the graph's shape.
struct Tree<'a, 'r> {
    out: &'a mut String,
    by_key: &'a BTreeMap<&'r str, &'r ResourceRow>,
    shown: BTreeSet<&'r str>,
    lines: usize,
}

impl<'r> Tree<'_, 'r> {
    /// One node and its dependencies; `last` is None for a root.
    fn node(&mut self, key: &str, prefix: &str, last: Option<bool>, depth: usize) {
        let Some(&node) = self.by_key.get(key) else {
            return;
        };
        let (branch, child_prefix) = match last {
            None => (String::new(), String::new()),
            Some(true) => (format!("{prefix}└─ "), format!("{prefix}   ")),
            Some(false) => (format!("{prefix}├─ "), format!("{prefix}│  ")),
        };
        let first = self.shown.insert(node.key.as_str());
        self.lines += 1;
        if self.lines <= MAX_TREE_LINES {
            let again = if first || node.depends_on.is_empty() {
                ""
            } else {
                " (*)"
            };
            let _ = writeln!(
                self.out,
                "{branch}{} {}{again}",
                node.kind_label(),
                name(node)
            );
        }
        // The reader rejects cycles, so a first appearance cannot recur below itself.
        if !first || node.depends_on.is_empty() {
            return;
        }
        if depth == MAX_TREE_DEPTH {
            self.lines += 1;
            if self.lines <= MAX_TREE_LINES {
                let _ = writeln!(self.out, "{child_prefix}└─ … (deeper levels: see `--json`)");
            }
            return;
        }
        let count = node.depends_on.len();
        for (i, child) in node.depends_on.iter().enumerate() {
            self.node(child, &child_prefix, Some(i + 1 == count), depth + 1);
        }
    }
}

fn render_solution(out: &mut String, solution: &SolutionDetails) {
    out.push_str("\nRoot components\n");
    let mut rows = vec![row(["TYPE", "NAME OR ID", "BEHAVIOR"])];
    for c in &solution.root_components {
        let component = &c.component;
        let behavior = match component.behavior {
            Some(0) => "include subcomponents".to_owned(),
            Some(1) => "do not include subcomponents".to_owned(),
            Some(2) => "shell only".to_owned(),
            Some(other) => other.to_string(),
            None => "-".to_owned(),
        };
        let id = component.schema_name.as_deref().or(component.id.as_deref());
        rows.push(vec![c.type_label.clone(), or_dash(id), behavior]);
    }
    out.push_str(&table(&rows));
    let count = solution.missing_dependencies.len();
    if count == 0 {
        out.push_str("\nMissing dependencies: none\n");
        return;
    }
    let _ = writeln!(
        out,
        "\nMissing dependencies ({count}): the target must already have these"
    );
    let mut rows = vec![row(["REQUIRED", "FROM SOLUTION", "NEEDED BY"])];
    for d in &solution.missing_dependencies {
        rows.push(vec![
            describe(&d.required),
            or_dash(d.required.solution.as_deref()),
            describe(&d.dependent),
        ]);
    }
    out.push_str(&table(&rows));
}

fn describe(component: &ComponentRef) -> String {
    let label = component
        .component_type
        .map(ferry_schemas::solution::component_label)
        .unwrap_or_else(|| "Component".into());
    let name = component
        .display_name
        .as_deref()
        .or(component.schema_name.as_deref())
        .or(component.id.as_deref())
        .unwrap_or("-");
    format!("{label} {name}")
}
