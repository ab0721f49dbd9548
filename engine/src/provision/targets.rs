//! The targets file: CSV with a header, one row per target environment — `tenant,environment`,
//! then optional per-target answer columns whose header names a package item (key or display
//! name) and whose cells are choices (`existing:<target>`, `update:<target>`, `new[:<name>]`).

use ferry_schemas::directory::Name;

/// One target environment and its own answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The tenant.
    pub tenant: Name,
    /// The environment.
    pub environment: Name,
    /// Item → choice, overriding the template for this target (empty cells are skipped).
    pub answers: Vec<(String, String)>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tenant, self.environment)
    }
}

/// Why a targets file does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("targets file line {line}: {problem}")]
pub struct Error {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong and how to fix it.
    pub problem: String,
}

/// Parses a targets file: RFC 4180 CSV (quoted fields may hold commas, `""` and line breaks;
/// CRLF or LF), a spreadsheet's byte-order mark ignored, blank lines and lines starting with
/// `#` skipped, cells trimmed.
pub fn parse(text: &str) -> Result<Vec<Target>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records().filter(|record| {
        // A line of spaces is blank, not a row of one empty field.
        !matches!(record, Ok(r) if r.iter().all(str::is_empty))
    });
    // csv counts records, not the blank and comment lines it skips, and a record's byte is
    // where that skipping began: the line is counted from the first byte of the record.
    let bytes = text.as_bytes();
    let line_at = |position: Option<&csv::Position>| {
        let mut at = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        while let Some(&first) = bytes.get(at) {
            match first {
                b'\r' | b'\n' => at += 1,
                b'#' => {
                    at += bytes[at..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(bytes.len() - at, |end| end + 1);
                }
                _ => break,
            }
        }
        let before = bytes.get(..at).unwrap_or(bytes);
        1 + before.iter().filter(|&&b| b == b'\n').count()
    };
    let line_of = |record: &csv::StringRecord| line_at(record.position());
    let unreadable = |e: csv::Error| Error {
        line: line_at(e.position()),
        problem: match e.kind() {
            csv::ErrorKind::Utf8 { .. } => {
                "the file is not UTF-8 text; save it as CSV UTF-8".into()
            }
            _ => "the file is not CSV; save it as CSV (comma-separated)".into(),
        },
    };
    let header = records
        .next()
        .transpose()
        .map_err(unreadable)?
        .ok_or(Error {
            line: 1,
            problem:
                "the file is empty; it needs a header `tenant,environment` and one row per target"
                    .into(),
        })?;
    let header_line = line_of(&header);
    if header.len() < 2
        || !header[0].eq_ignore_ascii_case("tenant")
        || !header[1].eq_ignore_ascii_case("environment")
    {
        return Err(Error {
            line: header_line,
            problem: "the header must start with `tenant,environment` (then optional answer columns named by item)".into(),
        });
    }
    let mut targets = Vec::new();
    for row in records {
        let row = row.map_err(unreadable)?;
        let line = line_of(&row);
        if row.len() != header.len() {
            return Err(Error {
                line,
                problem: format!(
                    "{} field(s) where the header has {}",
                    row.len(),
                    header.len()
                ),
            });
        }
        let name = |i: usize, what: &str| {
            row[i].parse::<Name>().map_err(|e| Error {
                line,
                problem: format!("{what} {:?}: {e}", crate::untrusted::excerpt(&row[i])),
            })
        };
        targets.push(Target {
            tenant: name(0, "tenant")?,
            environment: name(1, "environment")?,
            answers: header
                .iter()
                .zip(&row)
                .skip(2)
                .filter(|(_, cell)| !cell.is_empty())
                .map(|(item, cell)| (item.to_owned(), cell.to_owned()))
                .collect(),
        });
    }
    if targets.is_empty() {
        return Err(Error {
            line: header_line,
            problem: "no target rows after the header".into(),
        });
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_with_quoted_fields_and_answer_columns_parse() {
        let targets = parse(
            "tenant,environment,\"Ops, connection\"\n# a comment\nacme,prod,existing:ops@acme.example\nbeta,prod,\n",
        )
        .unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(
            targets[0].answers,
            vec![(
                "Ops, connection".to_owned(),
                "existing:ops@acme.example".to_owned()
            )]
        );
        assert!(targets[1].answers.is_empty());
    }

    #[test]
    fn a_spreadsheets_file_with_a_byte_order_mark_crlf_and_a_quoted_line_break_parses() {
        let targets = parse(
            "\u{feff}tenant,environment,Note\r\n  \r\nacme,prod,\"new:Two\r\nlines\"\r\nbeta,prod,\r\n",
        )
        .unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].tenant.as_str(), "acme");
        assert_eq!(
            targets[0].answers,
            vec![("Note".to_owned(), "new:Two\r\nlines".to_owned())]
        );
        assert_eq!(targets[1].to_string(), "beta/prod");
        let err =
            parse("tenant,environment,Note\nacme,prod,\"x\ny\"\nbeta,Not A Name,\n").unwrap_err();
        assert_eq!(
            err.line, 4,
            "a row's line counts the line breaks inside quotes: {err}"
        );
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(parse("").unwrap_err().line, 1);
        assert_eq!(parse("tenant,env\nacme,prod").unwrap_err().line, 1);
        let err = parse("tenant,environment\nacme\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        let err = parse("tenant,environment\nacme,prod\n\n# a note\r\n\nacme\n").unwrap_err();
        assert_eq!(err.line, 6, "blank and comment lines count: {err}");
        let err = parse("tenant,environment\nacme,Not A Name\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }
}
