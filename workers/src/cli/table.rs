//! Aligned columns for human output, as kubectl and cargo print them: every column as wide
//! as its widest cell, two spaces between, no cell ever cut (`--json` has the same values).

use std::fmt::Write as _;

/// A row of cells.
pub fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// One line per row, trailing spaces trimmed.
pub fn lines(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for cells in rows {
        for (i, cell) in cells.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    rows.iter()
        .map(|cells| {
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            }
            line.truncate(line.trim_end().len());
            line
        })
        .collect()
}

/// The rows as one text, a line each.
pub fn table(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for line in lines(rows) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_nothing_is_cut() {
        let rows = [
            row(["A", "NAME", "X"]),
            row(["bb", "a name longer than any column width", ""]),
        ];
        assert_eq!(
            lines(&rows),
            [
                "A   NAME                                 X",
                "bb  a name longer than any column width"
            ]
        );
    }
}
