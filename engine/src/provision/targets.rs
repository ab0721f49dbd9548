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

/// Splits one CSV line into fields (RFC 4180 quoting: `"a,b"`, `"say ""hi"""`).
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    fields.push(field);
    Ok(fields.into_iter().map(|f| f.trim().to_owned()).collect())
}

/// Parses a targets file.
pub fn parse(text: &str) -> Result<Vec<Target>, Error> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (header_line, header) = lines.next().ok_or(Error {
        line: 1,
        problem: "the file is empty; it needs a header `tenant,environment` and one row per target"
            .into(),
    })?;
    let header = fields(header).map_err(|problem| Error {
        line: header_line,
        problem,
    })?;
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
    for (line, text) in lines {
        let row = fields(text).map_err(|problem| Error { line, problem })?;
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
                problem: format!("{what} {:?}: {e}", row[i]),
            })
        };
        targets.push(Target {
            tenant: name(0, "tenant")?,
            environment: name(1, "environment")?,
            answers: header[2..]
                .iter()
                .zip(&row[2..])
                .filter(|(_, cell)| !cell.is_empty())
                .map(|(item, cell)| (item.clone(), cell.clone()))
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
    fn bad_files_name_the_line() {
        assert_eq!(parse("").unwrap_err().line, 1);
        assert_eq!(parse("tenant,env\nacme,prod").unwrap_err().line, 1);
        let err = parse("tenant,environment\nacme\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        let err = parse("tenant,environment\nacme,Not A Name\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }
}
