//! Dataverse solution zips: reads `solution.xml` into a [`SolutionSummary`].
//!
//! ## Invariants
//! - A solution has `solution.xml`, `customizations.xml` and `[Content_Types].xml` at its
//!   root, and `solution.xml`'s root element is `ImportExportXml`.
//! - `solution.xml` may start with a UTF-8 BOM and an XML declaration.
//! - Only `SolutionManifest` is interpreted; the files are kept verbatim by the caller.

use std::collections::BTreeMap;

use ferry_schemas::solution::{
    ComponentRef, LocalizedText, MissingDependency, RootComponent, SolutionSummary,
};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::{Error, Files, Result};

pub(crate) const SOLUTION: &str = "solution.xml";
const REQUIRED: [&str; 2] = ["customizations.xml", "[Content_Types].xml"];
const ROOT: &str = "ImportExportXml";

/// Parses the solution's manifest, after checking its companion entries exist.
pub(crate) fn read(files: &Files) -> Result<SolutionSummary> {
    for entry in REQUIRED {
        if !files.contains_key(entry) {
            return Err(Error::MissingEntry {
                entry: entry.into(),
                reason: "every solution zip has it beside solution.xml".into(),
            });
        }
    }
    let bytes = files.get(SOLUTION).ok_or(Error::MissingManifest)?;
    let text = std::str::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
    parse(text.trim_start_matches('\u{feff}'))
}

fn invalid(reason: String) -> Error {
    Error::InvalidXml {
        entry: SOLUTION.into(),
        reason,
    }
}

/// What is collected while walking the document.
#[derive(Default)]
struct Walk {
    summary: SolutionSummary,
    seen_unique_name: bool,
    seen_version: bool,
    seen_managed: bool,
    dependency: MissingDependency,
}

fn parse(text: &str) -> Result<SolutionSummary> {
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut walk = Walk::default();
    let mut content = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| invalid(format!("{e} at byte {}", reader.error_position())))?;
        match event {
            Event::Start(start) | Event::Empty(start)
                if path.is_empty() && local(&start) != ROOT =>
            {
                return Err(invalid(format!(
                    "root element is <{}>, expected <{ROOT}>",
                    local(&start)
                )));
            }
            Event::Start(start) => {
                path.push(local(&start));
                walk.open(&path, &start)?;
                content.clear();
            }
            Event::Empty(start) => {
                path.push(local(&start));
                walk.open(&path, &start)?;
                content.clear();
                walk.close(&path, "")?;
                path.pop();
            }
            Event::Text(text) => content.push_str(&text.xml10_content()),
            Event::CData(data) => content.push_str(&data.xml10_content()),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    _ => quick_xml::escape::resolve_predefined_entity(&reference.xml10_content())
                        .map(str::to_owned),
                };
                content.push_str(&resolved.unwrap_or_default());
            }
            Event::End(_) => {
                walk.close(&path, content.trim())?;
                content.clear();
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(invalid(format!(
            "unexpected end of document inside <{}>",
            path.join("/")
        )));
    }
    walk.finish()
}

fn local(start: &BytesStart<'_>) -> String {
    start.local_name().as_ref().to_owned()
}

fn attributes(start: &BytesStart<'_>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| invalid(format!("bad attribute: {e}")))?;
        let name = attribute.key.local_name().as_ref().to_owned();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| invalid(format!("bad attribute {name}: {e}")))?;
        out.insert(name, value.into_owned());
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(element: &str, name: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| {
        invalid(format!(
            "<{element}> has {name}={value:?}, expected a number"
        ))
    })
}

fn localized(attrs: &mut BTreeMap<String, String>) -> Result<LocalizedText> {
    let language_code = match attrs.remove("languagecode") {
        Some(code) => Some(number("LocalizedName", "languagecode", &code)?),
        None => None,
    };
    Ok(LocalizedText {
        description: attrs.remove("description").unwrap_or_default(),
        language_code,
    })
}

fn component_ref(mut attrs: BTreeMap<String, String>, element: &str) -> Result<ComponentRef> {
    let component_type = match attrs.remove("type") {
        Some(t) => Some(number(element, "type", &t)?),
        None => None,
    };
    Ok(ComponentRef {
        component_type,
        schema_name: attrs.remove("schemaName"),
        display_name: attrs.remove("displayName"),
        id: attrs.remove("id"),
        solution: attrs.remove("solution"),
        package: None,
        attributes: attrs,
    })
}

impl Walk {
    /// Handles an opening tag at `path` (which ends with it).
    fn open(&mut self, path: &[String], start: &BytesStart<'_>) -> Result<()> {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(["SolutionManifest", rest @ ..]) = names.get(1..) else {
            return Ok(());
        };
        let s = &mut self.summary;
        match rest {
            ["LocalizedNames", "LocalizedName"] => {
                s.localized_names.push(localized(&mut attributes(start)?)?)
            }
            ["Descriptions"] => s.descriptions = Some(Vec::new()),
            ["Descriptions", "Description"] => {
                let text = localized(&mut attributes(start)?)?;
                s.descriptions.get_or_insert_with(Vec::new).push(text);
            }
            ["Publisher", "LocalizedNames", "LocalizedName"] => s
                .publisher
                .localized_names
                .push(localized(&mut attributes(start)?)?),
            ["RootComponents", "RootComponent"] => {
                let mut attrs = attributes(start)?;
                let component_type = attrs
                    .remove("type")
                    .ok_or_else(|| invalid("<RootComponent> has no type attribute".into()))?;
                let behavior = match attrs.remove("behavior") {
                    Some(b) => Some(number("RootComponent", "behavior", &b)?),
                    None => None,
                };
                s.root_components.push(RootComponent {
                    component_type: number("RootComponent", "type", &component_type)?,
                    schema_name: attrs.remove("schemaName"),
                    id: attrs.remove("id"),
                    behavior,
                });
            }
            ["MissingDependencies", "MissingDependency"] => {
                self.dependency = MissingDependency::default()
            }
            ["MissingDependencies", "MissingDependency", "Required"] => {
                self.dependency.required = component_ref(attributes(start)?, "Required")?
            }
            ["MissingDependencies", "MissingDependency", "Dependent"] => {
                self.dependency.dependent = component_ref(attributes(start)?, "Dependent")?
            }
            _ => {}
        }
        Ok(())
    }

    /// Handles a closing tag at `path` with the element's trimmed text.
    fn close(&mut self, path: &[String], text: &str) -> Result<()> {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(["SolutionManifest", rest @ ..]) = names.get(1..) else {
            return Ok(());
        };
        let s = &mut self.summary;
        match rest {
            ["UniqueName"] => {
                s.unique_name = text.to_owned();
                self.seen_unique_name = true;
            }
            ["Version"] => {
                s.version = text.to_owned();
                self.seen_version = true;
            }
            ["Managed"] => {
                s.managed = match text {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    other => {
                        return Err(invalid(format!("<Managed> is {other:?}, expected 0 or 1")))
                    }
                };
                self.seen_managed = true;
            }
            ["Publisher", "UniqueName"] => s.publisher.unique_name = text.to_owned(),
            ["Publisher", "CustomizationPrefix"] => {
                s.publisher.customization_prefix = text.to_owned()
            }
            ["Publisher", "CustomizationOptionValuePrefix"] if !text.is_empty() => {
                s.publisher.customization_option_value_prefix = Some(text.to_owned())
            }
            ["MissingDependencies", "MissingDependency", "Required", "package"] => {
                self.dependency.required.package = Some(text.to_owned())
            }
            ["MissingDependencies", "MissingDependency"] => s
                .missing_dependencies
                .push(std::mem::take(&mut self.dependency)),
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<SolutionSummary> {
        let missing = [
            (
                self.seen_unique_name && !self.summary.unique_name.is_empty(),
                "UniqueName",
            ),
            (
                self.seen_version && !self.summary.version.is_empty(),
                "Version",
            ),
            (self.seen_managed, "Managed"),
        ];
        if let Some((_, element)) = missing.iter().find(|(seen, _)| !seen) {
            return Err(invalid(format!(
                "missing ImportExportXml/SolutionManifest/{element}"
            )));
        }
        Ok(self.summary)
    }
}
