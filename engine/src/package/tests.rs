//! Codec tests: every real fixture reads with the counts SOURCES.tsv records, round-trips
//! through `write`, and every kind of hostile input fails with an error naming the entry.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Write;
use std::path::PathBuf;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::inspect::Report;
use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/real-packages"
    ))
}

/// (file, kind column, contents, display_name) for each row of SOURCES.tsv.
fn sources() -> Vec<(String, String, String, String)> {
    let tsv = std::fs::read_to_string(fixtures().join("SOURCES.tsv")).unwrap();
    tsv.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (
                cols[0].into(),
                cols[1].into(),
                cols[2].into(),
                cols[3].into(),
            )
        })
        .collect()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in entries {
        if name.ends_with('/') {
            zip.add_directory(*name, options).unwrap();
        } else {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

const MANIFEST: &str = r#"{"schema":"1.0","details":{"displayName":"Tiny"},"resources":{
 "f1":{"type":"Microsoft.Flow/flows","suggestedCreationType":"New","creationType":"Existing, New, Update","dependsOn":["a1","c1","a1"]},
 "a1":{"type":"Microsoft.PowerApps/apis","id":"/providers/Microsoft.PowerApps/apis/shared_x","name":"shared_x","dependsOn":[]},
 "c1":{"type":"Microsoft.PowerApps/apis/connections","creationType":"Existing","dependsOn":["a1"]}}}"#;

fn tiny(manifest: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        ("manifest.json".into(), manifest.as_bytes().to_vec()),
        ("Microsoft.Flow/flows/f1/definition.json".into(), br#"{"properties":{"connectionReferences":{"shared_x":{"id":"/providers/Microsoft.PowerApps/apis/shared_x"}}}}"#.to_vec()),
        ("Microsoft.Flow/flows/f1/apisMap.json".into(), br#"{"shared_x":"a1"}"#.to_vec()),
        ("Microsoft.Flow/flows/f1/connectionsMap.json".into(), br#"{"shared_x":"c1"}"#.to_vec()),
    ]
}

fn read_entries(entries: &[(String, Vec<u8>)]) -> Result<Package> {
    let borrowed: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    read(&zip_of(&borrowed), &Limits::default())
}

fn error_of(result: Result<Package>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_fixture_reads_with_the_recorded_contents_and_name() {
    let rows = sources();
    assert_eq!(rows.len(), 29);
    for (file, kind, contents, display_name) in rows {
        let package = read_file(&fixtures().join(&file), &Limits::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            kind.starts_with(package.kind().as_str()),
            "{file}: kind {kind}"
        );
        let report = Report::new(&package);
        assert_eq!(report.summary, contents, "{file}");
        assert_eq!(package.display_name(), display_name, "{file}");
    }
}

#[test]
fn every_fixture_round_trips_through_write() {
    for (file, ..) in sources() {
        let package = read_file(&fixtures().join(&file), &Limits::default()).unwrap();
        let mut with_provenance = package.clone();
        with_provenance.provenance = Some(Provenance {
            source_tenant: Some("t-1".into()),
            export_migration: Some("m-1".into()),
            ..Provenance::default()
        });
        let again = read(&write(&with_provenance).unwrap(), &Limits::default()).unwrap();
        assert_eq!(again, with_provenance, "{file}");
    }
}

#[test]
fn written_packages_have_the_service_shape() {
    let package = read_entries(&tiny(MANIFEST)).unwrap();
    let bytes = write(&package).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    assert_eq!(names.last().map(String::as_str), Some("manifest.json"));
    assert!(names.contains(&"ferry/checksums.json".to_string()));
    for i in 0..archive.len() {
        let file = archive.by_index(i).unwrap();
        assert!(!file.is_dir());
        assert_eq!(file.compression(), CompressionMethod::Deflated);
    }
}

#[test]
fn links_flow_connections_through_the_maps() {
    let package = read_entries(&tiny(MANIFEST)).unwrap();
    let Contents::Legacy(legacy) = &package.contents else {
        panic!("not legacy")
    };
    assert_eq!(legacy.import_order, vec!["a1", "c1", "f1"]);
    let connection = &legacy.flows[0].connections[0];
    assert_eq!(connection.api.as_deref(), Some("a1"));
    assert_eq!(connection.connection.as_deref(), Some("c1"));
    assert_eq!(connection.api_name.as_deref(), Some("shared_x"));
}

#[test]
fn links_the_app_to_its_document_apis_and_flows() {
    let file =
        "pnp__powerapps-samples__samples_sharepoint-events_solution_EventRegistrationApp.zip";
    let package = read_file(&fixtures().join(file), &Limits::default()).unwrap();
    let Contents::Legacy(legacy) = &package.contents else {
        panic!("not legacy")
    };
    let app = &legacy.apps[0];
    assert_eq!(app.resource, "e9a51ff4-ebc1-4515-bde5-43c3c22185ae");
    assert!(app.document.ends_with("-document.msapp"));
    assert_eq!(app.flows.len(), 3);
    assert_eq!(legacy.flows.len(), 3);
}

#[test]
fn accepts_directory_entries_manifest_first_wrapper_and_missing_maps() {
    let mut entries = tiny(MANIFEST);
    entries.retain(|(n, _)| !n.ends_with("Map.json"));
    let wrapped: Vec<(String, Vec<u8>)> = std::iter::once(("w/".to_string(), Vec::new()))
        .chain(entries.into_iter().map(|(n, d)| (format!("w/{n}"), d)))
        .collect();
    let package = read_entries(&wrapped).unwrap();
    assert_eq!(package.display_name(), "Tiny");
    assert!(package
        .files
        .contains_key("Microsoft.Flow/flows/f1/definition.json"));
}

#[test]
fn rejects_empty_truncated_and_non_zip_input() {
    let limits = Limits::default();
    assert!(error_of(read(b"", &limits)).contains("empty"));
    assert!(error_of(read(b"hello, not a zip", &limits)).starts_with("not a zip archive"));
    let whole = zip_of(&[("manifest.json", MANIFEST.as_bytes())]);
    assert!(error_of(read(&whole[..whole.len() / 2], &limits)).starts_with("not a zip archive"));
}

#[test]
fn rejects_a_zip_bomb_by_ratio() {
    let zeros = vec![0u8; 8 << 20];
    let message = error_of(read(&zip_of(&[("bomb.bin", &zeros)]), &Limits::default()));
    assert!(
        message.contains("entry bomb.bin") && message.contains("ratio"),
        "{message}"
    );
}

#[test]
fn rejects_entries_past_the_size_and_count_limits() {
    let data = vec![7u8; 4096];
    let limits = Limits {
        max_entry_bytes: 1000,
        ..Limits::default()
    };
    let message = error_of(read(&zip_of(&[("big.bin", &data)]), &limits));
    assert!(
        message.contains("entry big.bin") && message.contains("larger than"),
        "{message}"
    );
    let limits = Limits {
        max_total_bytes: 6000,
        ..Limits::default()
    };
    let message = error_of(read(&zip_of(&[("a", &data), ("b", &data)]), &limits));
    assert!(
        message.contains("entry b") && message.contains("in total"),
        "{message}"
    );
    let limits = Limits {
        max_entries: 1,
        ..Limits::default()
    };
    let message = error_of(read(&zip_of(&[("a", b"1"), ("b", b"2")]), &limits));
    assert!(message.contains("too many entries"), "{message}");
}

#[test]
fn rejects_unsafe_paths() {
    for (name, reason) in [
        ("../evil.txt", "traversal"),
        ("a/../../evil.txt", "traversal"),
        ("..\\evil.txt", "traversal"),
        ("/etc/passwd", "absolute"),
        ("C:/evil.txt", "drive letter"),
        ("a\0b", "NUL"),
    ] {
        let message = error_of(read(&zip_of(&[(name, b"x")]), &Limits::default()));
        assert!(
            message.contains("unsafe path") && message.contains(reason),
            "{name}: {message}"
        );
    }
    let long = "a/".repeat(600) + "b";
    let message = error_of(read(&zip_of(&[(long.as_str(), b"x")]), &Limits::default()));
    assert!(message.contains("path is 1201 bytes long"), "{message}");
}

#[test]
fn rejects_a_package_without_manifest() {
    let message = error_of(read(&zip_of(&[("readme.txt", b"hi")]), &Limits::default()));
    assert!(
        message.starts_with("entry manifest.json: missing"),
        "{message}"
    );
}

#[test]
fn invalid_manifest_json_names_line_and_column() {
    let message = error_of(read_entries(&tiny("{\n  \"schema\": \"1.0\",\n  oops\n}")));
    assert!(
        message.starts_with("entry manifest.json: invalid JSON"),
        "{message}"
    );
    assert!(message.contains("line 3 column 3"), "{message}");
}

#[test]
fn dangling_depends_on_names_resource_and_key() {
    let manifest = MANIFEST.replace(r#""dependsOn":["a1"]"#, r#""dependsOn":["nope"]"#);
    let message = error_of(read_entries(&tiny(&manifest)));
    assert!(message.contains("resource c1 depends on nope"), "{message}");
}

#[test]
fn dangling_flow_map_names_the_map() {
    let mut entries = tiny(MANIFEST);
    entries[3].1 = br#"{"shared_x":"zz"}"#.to_vec();
    let message = error_of(read_entries(&entries));
    assert!(
        message.starts_with("entry Microsoft.Flow/flows/f1/connectionsMap.json"),
        "{message}"
    );
}

#[test]
fn invalid_solution_xml_names_the_entry() {
    let solution = |xml: &str| {
        let entries: Vec<(String, Vec<u8>)> = vec![
            ("solution.xml".into(), xml.as_bytes().to_vec()),
            ("customizations.xml".into(), b"<ImportExportXml/>".to_vec()),
            ("[Content_Types].xml".into(), b"<Types/>".to_vec()),
        ];
        read_entries(&entries)
    };
    let message = error_of(solution(
        "<ImportExportXml><SolutionManifest><UniqueName>x</Oops>",
    ));
    assert!(
        message.starts_with("entry solution.xml: invalid XML"),
        "{message}"
    );
    let message = error_of(solution("<Other/>"));
    assert!(message.contains("root element is <Other>"), "{message}");
    let message = error_of(solution("\u{feff}<?xml version=\"1.0\"?><ImportExportXml><SolutionManifest><UniqueName>x</UniqueName></SolutionManifest></ImportExportXml>"));
    assert!(
        message.contains("missing ImportExportXml/SolutionManifest/Version"),
        "{message}"
    );
}

#[test]
fn checksum_mismatch_names_the_entry() {
    let package = read_entries(&tiny(MANIFEST)).unwrap();
    let mut tampered = package.clone();
    let written = write(&package).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(written)).unwrap();
    let mut entries = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut data).unwrap();
        let name = file.name().unwrap().into_owned();
        if name.ends_with("definition.json") {
            data.extend_from_slice(b" ");
        }
        entries.push((name, data));
    }
    let mut added = entries.clone();
    added.retain(|(n, _)| !n.ends_with("definition.json"));
    added.push((
        "Microsoft.Flow/flows/f1/definition.json".into(),
        tiny(MANIFEST)[1].1.clone(),
    ));
    added.push(("smuggled.txt".into(), b"x".to_vec()));
    let message = error_of(read_entries(&added));
    assert!(
        message.starts_with("entry smuggled.txt: not listed"),
        "{message}"
    );
    let message = error_of(read_entries(&entries));
    assert!(
        message.starts_with("entry Microsoft.Flow/flows/f1/definition.json: checksum mismatch"),
        "{message}"
    );
    tampered
        .files
        .insert("ferry/checksums.json".into(), Vec::new());
    assert!(matches!(write(&tampered), Err(Error::Unwritable { .. })));
}

#[test]
fn corrupted_bytes_never_panic() {
    let file = "pnp__powerautomate-samples__samples_Try-Catch-Finally_solution_PatternTry-Catch-Finally.zip";
    let original = std::fs::read(fixtures().join(file)).unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut bytes = original.clone();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % bytes.len() as u64) as usize;
            bytes[at] = (state >> 32) as u8;
        }
        let _ = read(&bytes, &Limits::default());
    }
}

/// Every real fixture, signed: reads back signed by the key, with the same contents; changed
/// in any entry (checksums recomputed or not), or with the signature moved to another
/// package, it is refused; with Ferry's folder removed it reads as unsigned.
#[test]
fn signed_packages_verify_and_every_tampering_is_caught() {
    let key = signature::signing_key(&"7".repeat(64)).unwrap();
    let public = signature::public_key(&key);
    let mut signatures = Vec::new();
    for (file, ..) in sources() {
        let bytes = std::fs::read(fixtures().join(&file)).unwrap();
        let original = read(&bytes, &Limits::default()).unwrap();
        assert_eq!(original.signer, None, "{file}");
        let signed = signature::sign(&bytes, &key).unwrap();
        assert_eq!(
            signature::sign(&bytes, &key).unwrap(),
            signed,
            "deterministic"
        );
        let back = read(&signed, &Limits::default()).unwrap();
        assert_eq!(back.signer.as_deref(), Some(public.as_str()), "{file}");
        assert_eq!(back.contents, original.contents, "{file}");
        assert_eq!(Report::new(&back).signer, Some(public.clone()));

        let mut entries = archive::read(&signed, &Limits::default()).unwrap();
        signatures.push(entries[signature::SIGNATURE].clone());
        let victim = entries
            .keys()
            .find(|p| !p.starts_with("ferry/"))
            .cloned()
            .unwrap();
        // An entry changed, checksums left: the checksums catch it.
        let mut changed = entries.clone();
        changed.get_mut(&victim).unwrap().push(b' ');
        let zipped = write::zip(&changed).unwrap();
        assert!(matches!(
            read(&zipped, &Limits::default()),
            Err(Error::ChecksumMismatch { .. })
        ));
        // An entry changed and the checksums recomputed: the signature catches it.
        changed.remove(ferry::CHECKSUMS);
        let sums = {
            let mut others = changed.clone();
            others.remove(signature::SIGNATURE);
            ferry::checksums(&others)
        };
        changed.insert(ferry::CHECKSUMS.into(), serde_json::to_vec(&sums).unwrap());
        let zipped = write::zip(&changed).unwrap();
        let refused = read(&zipped, &Limits::default()).unwrap_err();
        assert!(
            matches!(refused, Error::BadSignature { .. }),
            "{file}: {refused}"
        );
        // Ferry's folder removed: an unsigned package (the trust policy decides).
        entries.retain(|path, _| !path.starts_with("ferry/"));
        let stripped = read(&write::zip(&entries).unwrap(), &Limits::default()).unwrap();
        assert_eq!(stripped.signer, None);
    }
    // A signature moved to another package does not verify there.
    let bytes = std::fs::read(fixtures().join(&sources()[0].0)).unwrap();
    let other = signature::sign(&bytes, &key).unwrap();
    let mut entries = archive::read(&other, &Limits::default()).unwrap();
    entries.insert(signature::SIGNATURE.into(), signatures[1].clone());
    assert!(matches!(
        read(&write::zip(&entries).unwrap(), &Limits::default()),
        Err(Error::BadSignature { .. })
    ));
    // A signature with no checksums signs nothing.
    entries.remove(ferry::CHECKSUMS);
    assert!(matches!(
        read(&write::zip(&entries).unwrap(), &Limits::default()),
        Err(Error::Malformed { .. })
    ));
}
