//! The audit bundle: one tenant's records, the signed checkpoints, the proofs that tie the
//! records to them, and the public key — everything an external auditor needs to check the
//! tenant's history without the data directory and without seeing other tenants' records.
//!
//! A zip of three files:
//! - `manifest.json`: format, tenant id and name, public key, record count;
//! - `records.jsonl`: the tenant's records, one stored body per line, in log order;
//! - `checkpoints.json`: per checkpoint, the signed checkpoint, the tenant's chain head at it
//!   (`count`, `head`) and the Merkle proof of that head under the signed `tenants_root`.
//!
//! Verification recomputes each record's hash from its bytes and the tenant's chain from
//! those hashes; at each checkpoint the chain must equal the proven head, the proof must lead
//! to the signed root, and the signature must hold. A record edited, removed, added (from
//! another tenant or anywhere), reordered, or cut off changes the chain; a forged checkpoint
//! fails its proof or its signature. The last checkpoint must cover the last record.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use ferry_schemas::event::Event;
use ferry_schemas::{Record, TenantId};
use serde::{Deserialize, Serialize};

use super::merkle::{self, Step};
use super::{checkpoint, dir, ChainHead, Chains, Checkpoint, Checkpoints, Error, Keys, PublicKey};

const FORMAT: &str = "ferry-audit-bundle-1";
const MANIFEST: &str = "manifest.json";
const RECORDS: &str = "records.jsonl";
const CHECKPOINTS: &str = "checkpoints.json";
/// A bundle larger than this (decompressed, per file) is refused.
const MAX_FILE: u64 = 1 << 30;

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `ferry-audit-bundle-1`.
    pub format: String,
    /// The tenant.
    pub tenant: TenantId,
    /// Its name when exported.
    pub tenant_name: String,
    /// The key that signed the checkpoints.
    pub public_key: String,
    /// How many records `records.jsonl` holds.
    pub records: u64,
}

/// One checkpoint with the tenant's proof under it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proven {
    /// The signed checkpoint.
    pub checkpoint: Checkpoint,
    /// The tenant's chain head at the checkpoint.
    pub chain: ChainHead,
    /// Its inclusion proof under `checkpoint.tenants_root`.
    pub proof: Vec<Step>,
}

/// Writes the bundle of `tenant`: signs a fresh checkpoint first, so every record is covered.
pub fn export(
    data: &Path,
    keys: &Keys,
    tenant: TenantId,
    tenant_name: &str,
    at: DateTime<Utc>,
) -> Result<Vec<u8>, Error> {
    checkpoint(data, keys, at)?;
    let checkpoints = Checkpoints::at(&dir(data)).load()?;
    let mut pending = checkpoints.iter().peekable();
    let mut chains = Chains::default();
    let mut records = Vec::new();
    let mut count = 0u64;
    let mut proven = Vec::new();
    super::walk(data, |record, body| {
        chains.apply(record);
        if record.tenant == Some(tenant) {
            records.extend_from_slice(body);
            records.push(b'\n');
            count += 1;
        }
        while let Some(cp) = pending.next_if(|cp| cp.head == record.position) {
            if let Some((chain, proof)) = chains.prove(tenant) {
                proven.push(Proven {
                    checkpoint: cp.clone(),
                    chain,
                    proof,
                });
            }
        }
    })?;
    let manifest = Manifest {
        format: FORMAT.into(),
        tenant,
        tenant_name: tenant_name.to_owned(),
        public_key: keys.public().to_string(),
        records: count,
    };
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let files: [(&str, Vec<u8>); 3] = [
        (
            MANIFEST,
            serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        ),
        (RECORDS, records),
        (
            CHECKPOINTS,
            serde_json::to_vec_pretty(&proven).unwrap_or_default(),
        ),
    ];
    let failed = |e: &dyn std::fmt::Display| Error::Io {
        action: "write the bundle for",
        path: data.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    for (name, bytes) in files {
        zip.start_file(name, options).map_err(|e| failed(&e))?;
        zip.write_all(&bytes).map_err(|e| failed(&e))?;
    }
    zip.finish().map(Cursor::into_inner).map_err(|e| failed(&e))
}

/// What a bundle proves when it verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The tenant.
    pub tenant: TenantId,
    /// Its name.
    pub tenant_name: String,
    /// Records verified.
    pub records: u64,
    /// Checkpoints verified.
    pub checkpoints: usize,
    /// The key that signed them.
    pub public_key: String,
    /// The last checkpoint's head position in the whole log.
    pub head: u64,
}

/// Why a bundle does not verify: tampering, or not a bundle at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Tampered(pub String);

fn read_entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
) -> Result<Vec<u8>, Tampered> {
    let file = archive
        .by_name(name)
        .map_err(|_| Tampered(format!("the bundle has no {name}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Tampered(format!("{name} does not read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Tampered(format!("{name} is larger than {MAX_FILE} bytes")));
    }
    Ok(bytes)
}

/// Verifies a bundle offline. With `pinned`, the checkpoints must be signed by that key (the
/// one `ferry audit key` printed); without it, by the key the bundle names — compare that key
/// with one obtained out of band.
pub fn verify(bytes: &[u8], pinned: Option<&PublicKey>) -> Result<Report, Tampered> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| Tampered(format!("not a bundle (zip): {e}")))?;
    let manifest: Manifest = serde_json::from_slice(&read_entry(&mut archive, MANIFEST)?)
        .map_err(|e| Tampered(format!("{MANIFEST}: {e}")))?;
    if manifest.format != FORMAT {
        return Err(Tampered(format!(
            "unknown bundle format {:?}",
            manifest.format
        )));
    }
    let named: PublicKey = manifest
        .public_key
        .parse()
        .map_err(|e| Tampered(format!("{MANIFEST}: {e}")))?;
    if pinned.is_some_and(|key| *key != named) {
        return Err(Tampered(format!(
            "the bundle is signed by {named}, not by the pinned key"
        )));
    }
    let proven: Vec<Proven> = serde_json::from_slice(&read_entry(&mut archive, CHECKPOINTS)?)
        .map_err(|e| Tampered(format!("{CHECKPOINTS}: {e}")))?;
    let records = read_entry(&mut archive, RECORDS)?;
    let mut chain = ChainHead::EMPTY;
    let mut last_position = 0u64;
    let mut next = proven.iter().peekable();
    let mut checked = 0usize;
    let check = |p: &Proven, chain: &ChainHead| -> Result<(), Tampered> {
        let at = p.checkpoint.at.to_rfc3339();
        if p.checkpoint.public_key != manifest.public_key || !p.checkpoint.signed_by(&named) {
            return Err(Tampered(format!(
                "the checkpoint at position {} ({at}) is not signed by {named}",
                p.checkpoint.head
            )));
        }
        if merkle::fold(p.chain.leaf(manifest.tenant), &p.proof) != p.checkpoint.tenants_root {
            return Err(Tampered(format!(
                "the tenant's chain head at position {} is not the one the checkpoint signed",
                p.checkpoint.head
            )));
        }
        if p.chain != *chain {
            return Err(Tampered(format!(
                "the records up to position {} do not match the checkpoint: {} record(s) chain to {}, the checkpoint signed {} chaining to {}",
                p.checkpoint.head, chain.count, chain.head, p.chain.count, p.chain.head
            )));
        }
        Ok(())
    };
    for (n, line) in records
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let record = Record::from_body(line)
            .map_err(|e| Tampered(format!("record {} does not decode: {e}", n + 1)))?;
        // The name the manifest gives must be the one the tenant was created with.
        if let Ok(Event::TenantCreated(created)) = Event::from_record(&record) {
            if created.tenant == manifest.tenant && created.name.as_str() != manifest.tenant_name {
                return Err(Tampered(format!(
                    "the manifest names the tenant {:?}, its records {:?}",
                    manifest.tenant_name,
                    created.name.as_str()
                )));
            }
        }
        if record.tenant != Some(manifest.tenant) {
            return Err(Tampered(format!(
                "record at position {} belongs to another tenant",
                record.position
            )));
        }
        if record.position <= last_position {
            return Err(Tampered(format!(
                "record at position {} is out of order",
                record.position
            )));
        }
        // Checkpoints before this record's position must match the chain so far.
        while let Some(p) = next.next_if(|p| p.checkpoint.head < record.position) {
            check(p, &chain)?;
            checked += 1;
        }
        chain = chain.extend(&record.hash);
        last_position = record.position;
    }
    for p in next {
        check(p, &chain)?;
        checked += 1;
    }
    let last = proven
        .last()
        .ok_or_else(|| Tampered("the bundle has no checkpoint".into()))?;
    if last.chain.count != chain.count || chain.count != manifest.records {
        return Err(Tampered(format!(
            "the bundle holds {} record(s); its manifest says {} and its last checkpoint covers {}",
            chain.count, manifest.records, last.chain.count
        )));
    }
    Ok(Report {
        tenant: manifest.tenant,
        tenant_name: manifest.tenant_name,
        records: chain.count,
        checkpoints: checked,
        public_key: manifest.public_key,
        head: last.checkpoint.head,
    })
}
