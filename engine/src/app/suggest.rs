//! "Did you mean …?": the names nearest a name that was not found, among those the caller may
//! see — the way out of a typo, instead of a listing command that fails on the same typo.

use ferry_schemas::directory::Name;

use crate::directory::State;

/// How many names of the name index are weighed: those from the typo's first letter on, so
/// the cost is bounded among a million tenants (a typo rarely changes the first letter).
const WEIGHED: usize = 1_000;

/// At most three of `names` within a few edits of `typo`, nearest first.
pub(super) fn nearest<'a>(typo: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    // A third of the name's letters may be wrong, at least one, at most three.
    let most = (typo.chars().count() / 3).clamp(1, 3);
    let mut near: Vec<(usize, &str)> = names
        .into_iter()
        .filter(|name| *name != typo)
        .map(|name| (strsim::damerau_levenshtein(typo, name), name))
        .filter(|(distance, _)| *distance <= most)
        .collect();
    near.sort();
    near.dedup();
    near.into_iter()
        .take(3)
        .map(|(_, n)| n.to_owned())
        .collect()
}

/// The tenants named like `typo`, for the operator (who may see every tenant).
pub(super) fn tenants(state: &State, typo: &Name) -> Vec<String> {
    let first: String = typo.as_str().chars().take(1).collect();
    let from = Name::new(&first).ok();
    // The names from the first letter on (the page starts after `from`: add it back).
    let mut names: Vec<&str> = state
        .tenants_after(from.as_ref(), WEIGHED)
        .into_iter()
        .map(|t| t.name.as_str())
        .collect();
    if let Some(tenant) = from.as_ref().and_then(|f| state.tenant(f)) {
        names.push(tenant.name.as_str());
    }
    nearest(typo.as_str(), names)
}

/// " (did you mean a or b?)", or nothing.
pub(super) fn did_you_mean(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!(" (did you mean {one}?)"),
        [rest @ .., last] => format!(" (did you mean {} or {last}?)", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_offered_nearest_first_and_far_ones_never() {
        let names = ["northwind", "northwest", "contoso", "north", "fabrikam"];
        assert_eq!(nearest("northwnd", names), ["northwind"]);
        assert_eq!(nearest("nort", names), ["north"]);
        assert_eq!(nearest("contsoo", names), ["contoso"]);
        assert!(nearest("zzz", names).is_empty());
        assert!(
            nearest("north", names).is_empty(),
            "an exact name is not a suggestion"
        );
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(did_you_mean(&["a".into()]), " (did you mean a?)");
        assert_eq!(
            did_you_mean(&["a".into(), "b".into(), "c".into()]),
            " (did you mean a, b or c?)"
        );
    }
}
