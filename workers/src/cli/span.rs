//! Spans of time as typed on the command line (`--expires 30d`, `--since 12h`).

/// A span of time as typed: `45s`, `90m`, `12h`, `30d` (more than zero).
pub fn span(text: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("{text:?} is not a duration like 90m, 12h or 30d");
    // The unit is the last character, whatever its width.
    let (last, _) = text.char_indices().last().ok_or_else(bad)?;
    let (number, unit) = text.split_at(last);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let span = match unit {
        "s" => chrono::Duration::try_seconds(number),
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        _ => None,
    };
    span.filter(|d| *d > chrono::Duration::zero())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn a_span_is_a_number_and_a_unit_and_anything_else_is_refused_without_a_panic() {
        assert_eq!(span("90m"), Ok(chrono::Duration::minutes(90)));
        assert_eq!(span("7d"), Ok(chrono::Duration::days(7)));
        for bad in [
            "",
            "d",
            "7",
            "7w",
            "0h",
            "-1h",
            "7é",
            "é",
            "99999999999999999d",
        ] {
            assert!(span(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
