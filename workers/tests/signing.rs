//! Signed packages and trust policies, end to end through the real binary and a real server:
//! the vendor makes a key and signs at export; the operator trusts the key in the customer's
//! environment and asks for signed packages there; unsigned, untrusted and tampered packages
//! are refused with the reason; reviews and the audit log show who signed what.
#![allow(clippy::unwrap_used)] // Tests: a panic is a failed test.

mod common {
    #[allow(dead_code)] // Shared by several test crates; each uses a part.
    pub mod cli;
    #[allow(dead_code)] // The Kafka harness: used when FERRY_TEST_LOG=kafka.
    pub mod kafka;
    #[allow(dead_code)]
    pub mod server;
}

use std::collections::BTreeMap;
use std::io::{Read, Write};

use common::cli::{customer, export, text, user, vendor, Ferry};
use common::server::Server;
use serde_json::{json, Value};

/// The entries of a zip.
fn entries(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().to_string(), data)
        })
        .collect()
}

fn zipped(entries: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// `signed.zip` with its app document changed and `ferry/checksums.json` recomputed to match:
/// only the signature can tell.
fn tampered(signed: &[u8]) -> Vec<u8> {
    let mut files = entries(signed);
    let app = files
        .keys()
        .find(|k| k.starts_with("Microsoft.PowerApps/apps/"))
        .cloned()
        .unwrap();
    files.get_mut(&app).unwrap().extend_from_slice(b" ");
    let sums: BTreeMap<&String, String> = files
        .iter()
        .filter(|(k, _)| {
            k.as_str() != "ferry/checksums.json" && k.as_str() != "ferry/signature.json"
        })
        .map(|(k, v)| (k, ferry_schemas::Digest::of(v).to_string()))
        .collect();
    let checksums = json!({"algorithm": "sha256", "files": sums});
    files.insert(
        "ferry/checksums.json".into(),
        serde_json::to_vec(&checksums).unwrap(),
    );
    zipped(&files)
}

#[test]
fn a_signed_package_is_imported_where_signed_ones_are_required_and_nothing_else_is() {
    let f = Ferry::new();
    vendor(&f);
    customer(&f);
    common::cli::connections(&f, "cust/prod", "cust/bob");

    // The vendor's key: the secret in an owner-only file, the public key printed.
    let made = f.json("package keygen --out vendor.key");
    let public = text(&made, "public_key");
    assert_eq!(public.len(), 64);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(f.path("vendor.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    f.refused(
        2,
        "package keygen --out vendor.key",
        &["cannot write the key"],
    );

    let exported = f.json(
        "export vendor/dev --app Expenses --as vendor/ann --name Expenses --out signed.zip \
         --sign-key vendor.key",
    );
    assert_eq!(exported["signer"], public.as_str());
    let signed = std::fs::read(f.path("signed.zip")).unwrap();
    assert_eq!(
        exported["sha256"],
        ferry_schemas::Digest::of(&signed).to_string()
    );
    export(&f, "plain.zip");
    assert_eq!(
        f.json("package inspect signed.zip")["signer"],
        public.as_str()
    );
    assert_eq!(f.json("package inspect plain.zip")["signer"], Value::Null);
    assert!(f
        .ok("package inspect signed.zip")
        .contains(&format!("by key {public}")));
    // `package sign` gives the same bytes for the same package and key.
    f.ok("package sign plain.zip --key vendor.key --out resigned.zip");
    assert_eq!(
        f.json("package inspect resigned.zip")["signer"],
        public.as_str()
    );

    // Only the operator sets policies and trusts keys.
    f.refused(
        4,
        "env policy cust/prod --require-signed --as cust/bob",
        &["operator"],
    );
    let policy = f.json("env policy cust/prod --require-signed");
    assert_eq!(policy["require_signed"], true);
    let import = |package: &str| format!("import {package} --into cust/prod --as cust/bob");
    f.refused(
        4,
        &import("plain.zip"),
        &["only packages signed", "is unsigned"],
    );
    f.refused(
        4,
        &import("signed.zip"),
        &["signed by key", "does not trust"],
    );
    f.refused(
        2,
        &format!("trust add cust/prod {} --name x", "ab".repeat(8)),
        &["not a signing key"],
    );
    f.ok(&format!("trust add cust/prod {public} --name vendor"));
    let listed = f.json("trust list cust/prod");
    assert_eq!(
        listed["trusted"],
        json!([{"key": public, "name": "vendor"}])
    );

    // Tampered (checksums recomputed) or stripped of Ferry's folder: refused.
    f.write("tampered.zip", &tampered(&signed));
    f.refused(2, &import("tampered.zip"), &["changed after it was signed"]);
    let mut stripped = entries(&signed);
    stripped.retain(|k, _| !k.starts_with("ferry/"));
    f.write("stripped.zip", &zipped(&stripped));
    f.refused(4, &import("stripped.zip"), &["is unsigned"]);
    assert_eq!(
        f.json("status"),
        json!([]),
        "no refused import was recorded"
    );

    // Trusted: imported, and the review says by whom.
    let review = f.json_code(3, &import("signed.zip"));
    assert_eq!(
        review["signer"],
        json!({"key": public, "trusted_as": "vendor"})
    );
    let migration = text(&review, "migration");
    let shown = f
        .expect(3, &format!("review {migration} --as cust/bob"))
        .stdout;
    assert!(
        shown.contains(&format!("signed by vendor (key {public})")),
        "{shown}"
    );
    let log: Value = serde_json::from_str(&f.ok("audit log --format json")).unwrap();
    let facts = log.as_array().unwrap();
    let requested = facts
        .iter()
        .find(|fact| fact["action"] == "import requested")
        .unwrap();
    assert_eq!(requested["choices"], format!("signed by vendor ({public})"));
    assert!(facts
        .iter()
        .any(|fact| fact["action"] == "policy set" && fact["choices"] == "signed packages only"));
    assert!(facts.iter().any(|fact| fact["action"] == "signer trusted"));

    // Where no policy is set, an unsigned package is imported and marked so.
    user(&f, "vendor/ops", "plan2", &["vendor/prod"]);
    let plain = f.json_code(3, "import plain.zip --into vendor/prod --as vendor/ops");
    assert_eq!(plain["signer"], Value::Null);
    let migration = text(&plain, "migration");
    let shown = f
        .expect(3, &format!("review {migration} --as vendor/ops"))
        .stdout;
    assert!(shown.contains("unsigned"), "{shown}");

    // Provisioning follows the target's policy: the unsigned package skips cust/prod.
    f.write(
        "targets.csv",
        b"tenant,environment\ncust,prod\nvendor,prod\n",
    );
    let out = f.run("provision plain.zip --targets targets.csv --json");
    let run: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(run["failed"], 1, "{run}");
    let failed = f.json(&format!(
        "provision status {} --failed",
        text(&run, "provision")
    ));
    let reasons = failed.to_string();
    assert!(reasons.contains("unsigned-package"), "{reasons}");

    // Removing the key stops its packages again.
    f.ok(&format!("trust remove cust/prod {public}"));
    f.refused(4, &import("signed.zip"), &["does not trust"]);
    f.assert_replays();
}

#[test]
fn trust_and_policy_through_the_api_are_the_operators_and_uploads_follow_them() {
    let f = Ferry::new();
    vendor(&f);
    customer(&f);
    let made = f.json("package keygen --out vendor.key");
    let public = text(&made, "public_key");
    f.ok(
        "export vendor/dev --app Expenses --as vendor/ann --name Expenses --out signed.zip \
         --sign-key vendor.key",
    );
    export(&f, "plain.zip");
    let operator = text(&f.json("token create --operator"), "token");
    let bob = text(&f.json("token create cust/bob"), "token");
    let server = Server::start(&f);
    let env = "/v1/environments/cust/prod";

    let policy = |token: &str, require: bool| {
        server.send(
            "PUT",
            &format!("{env}/policy"),
            Some(token),
            &json!({"require_signed": require}),
        )
    };
    assert_eq!(policy(&bob, true).status, 403);
    let set = policy(&operator, true);
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["require_signed"], true);
    let trust = |token: &str| {
        server.send(
            "POST",
            &format!("{env}/trust"),
            Some(token),
            &json!({"key": public, "name": "vendor"}),
        )
    };
    assert_eq!(trust(&bob).status, 403);
    assert_eq!(trust(&operator).status, 200);
    assert_eq!(trust(&operator).status, 409, "already trusted");
    let shown = server.get(&format!("{env}/policy"), Some(&bob));
    assert_eq!(
        shown.status, 200,
        "bob sees the policy of an environment he works in"
    );
    assert_eq!(shown.body["trusted"][0]["name"], "vendor");

    let upload = |file: &str| {
        let bytes = std::fs::read(f.path(file)).unwrap();
        server.upload(&format!("{env}/imports"), &bob, &bytes, &[])
    };
    let refused = upload("plain.zip");
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.body["code"], "unsigned-package");
    let accepted = upload("signed.zip");
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    assert_eq!(accepted.body["signer"]["trusted_as"], "vendor");

    let removed = server.send(
        "DELETE",
        &format!("{env}/trust/{public}"),
        Some(&operator),
        &json!({}),
    );
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.body["trusted"], json!([]));
    let again = upload("signed.zip");
    assert_eq!(again.body["code"], "untrusted-signer", "{}", again.text);
    assert_eq!(server.stop(), 0);
}
