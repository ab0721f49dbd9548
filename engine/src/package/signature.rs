//! Signed packages: an ed25519 signature in `ferry/signature.json` over `ferry/checksums.json`,
//! which holds the SHA-256 of every other entry — so the signature covers the whole package
//! (provenance included) and other readers still ignore Ferry's folder.
//!
//! ## Invariants
//! - A package is signed by a key only if the signature verifies over the exact bytes of its
//!   `checksums.json` and those checksums match every entry: an entry changed with the
//!   checksums recomputed, or a signature moved to another package, is refused.
//! - A signature without checksums signs nothing and is refused.
//! - Signing is deterministic: the same package and key give the same bytes.

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::read::json;
use super::{archive, ferry, write, Error, Files, Limits, Result};

/// Where the signature lives.
pub(crate) const SIGNATURE: &str = "ferry/signature.json";
const ALGORITHM: &str = "ed25519";
/// What is signed is this, then the SHA-256 of `checksums.json`: a signature of anything
/// else Ferry signs (audit checkpoints) can never pass for a package's.
const DOMAIN: &[u8] = b"ferry package signature v1\n";

#[derive(Serialize, Deserialize)]
struct SignatureFile {
    algorithm: String,
    public_key: String,
    signature: String,
}

fn message(checksums: &[u8]) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(&Sha256::digest(checksums));
    message
}

/// A new signing key: its 32-byte secret seed and its public key, both as hex.
pub fn keygen() -> std::io::Result<(String, String)> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    Ok((
        hex::encode(seed),
        hex::encode(key.verifying_key().to_bytes()),
    ))
}

/// The signing key in a key file's text (64 hex digits, as [`keygen`] makes it).
pub fn signing_key(text: &str) -> Option<SigningKey> {
    let seed: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    Some(SigningKey::from_bytes(&seed))
}

/// The public key (hex) of a signing key.
pub fn public_key(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

/// `package` (zip bytes) signed with `key`: its entries, checksums made or checked, and the
/// signature, as a new zip. A signature already there is replaced.
pub fn sign(package: &[u8], key: &SigningKey) -> Result<Vec<u8>> {
    let mut files: Files = super::read::unwrap_root(archive::read(package, &Limits::DEFAULT)?)?;
    files.remove(SIGNATURE);
    let checksums = match files.remove(ferry::CHECKSUMS) {
        Some(bytes) => {
            // Sign only what verifies: a package changed since its checksums were made is
            // refused, not blessed.
            ferry::verify(&files, &json(ferry::CHECKSUMS, &bytes)?)?;
            bytes
        }
        None => write::to_json(ferry::CHECKSUMS, &ferry::checksums(&files))?,
    };
    let signature = SignatureFile {
        algorithm: ALGORITHM.into(),
        public_key: public_key(key),
        signature: hex::encode(key.sign(&message(&checksums)).to_bytes()),
    };
    files.insert(ferry::CHECKSUMS.into(), checksums);
    files.insert(SIGNATURE.into(), write::to_json(SIGNATURE, &signature)?);
    write::zip(&files)
}

/// Checks `signature` (the bytes of `ferry/signature.json`) over `checksums` (the bytes of
/// `ferry/checksums.json`, already verified against the entries); returns the signer's key.
pub(crate) fn verify(signature: &[u8], checksums: Option<&[u8]>) -> Result<String> {
    let malformed = |problem: String| Error::Malformed {
        entry: SIGNATURE.into(),
        problem,
    };
    let file: SignatureFile = json(SIGNATURE, signature)?;
    if file.algorithm != ALGORITHM {
        return Err(malformed(format!(
            "unknown algorithm {:?}, expected ed25519",
            crate::untrusted::excerpt(&file.algorithm)
        )));
    }
    let Some(checksums) = checksums else {
        return Err(malformed(
            "a signature without ferry/checksums.json signs nothing".into(),
        ));
    };
    let key: [u8; 32] = hex::decode(&file.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("public_key is not 64 hex digits".into()))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| malformed("public_key is not an ed25519 key".into()))?;
    let signature: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("signature is not 128 hex digits".into()))?;
    key.verify(
        &message(checksums),
        &ed25519_dalek::Signature::from_bytes(&signature),
    )
    .map_err(|_| Error::BadSignature {
        key: hex::encode(key.to_bytes()),
    })?;
    Ok(hex::encode(key.to_bytes()))
}
