//! Signed checkpoints: the log's head position and digest, and the Merkle root over every
//! tenant's chain head, signed with the data directory's ed25519 key. Kept in
//! `audit/checkpoints.jsonl` beside the log (never inside it: truncating the log must not take
//! its attestations along), one JSON object per line, appended and fsynced.
//!
//! A checkpoint proves that the log at its head is a prefix of any later log whose record at
//! that position has the same hash: the hash chain makes that one hash stand for the whole
//! prefix, and the signature makes a recomputed history fail the comparison.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use ferry_schemas::Digest;
use serde::{Deserialize, Serialize};

use super::Error;

const KEY_FILE: &str = "signing.key";
const CHECKPOINTS: &str = "checkpoints.jsonl";

/// The data directory's signing key.
pub struct Keys {
    signing: SigningKey,
}

/// A public key, printed and parsed as 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

impl std::str::FromStr for PublicKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes: [u8; 32] = hex::decode(s.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("a public key is 64 hex digits")?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| format!("not an ed25519 public key: {e}"))
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

impl Keys {
    /// The key in `dir` (the data directory's `audit/`), created on first use: 32 random
    /// bytes, hex, in a file only its owner can read.
    pub fn load_or_create(dir: &Path) -> Result<Keys, Error> {
        let path = dir.join(KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let bytes: [u8; 32] = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| Error::BadKey { path: path.clone() })?;
                Ok(Keys {
                    signing: SigningKey::from_bytes(&bytes),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(dir, &path),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    fn create(dir: &Path, path: &Path) -> Result<Keys, Error> {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Io {
            action: "draw randomness for",
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let tmp = dir.join(".signing.key.tmp");
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io("create", &tmp))?;
        file.write_all(hex::encode(seed).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io("write", &tmp))?;
        fs::rename(&tmp, path).map_err(io("rename", path))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", dir))?;
        Ok(Keys {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The public half, for auditors.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }
}

/// One signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Checkpoint {
    /// The last position it covers.
    pub head: u64,
    /// That record's hash: the digest of the whole log up to `head`.
    pub digest: Digest,
    /// The Merkle root over every tenant's chain head at `head`.
    pub tenants_root: Digest,
    /// When it was signed.
    pub at: DateTime<Utc>,
    /// The signing key (64 hex digits).
    pub public_key: String,
    /// The ed25519 signature over the fields above (128 hex digits).
    pub signature: String,
}

fn message(head: u64, digest: &Digest, root: &Digest, at: &DateTime<Utc>) -> Vec<u8> {
    let mut message = b"ferry-checkpoint-v1\n".to_vec();
    message.extend_from_slice(&head.to_be_bytes());
    message.extend_from_slice(digest.as_bytes());
    message.extend_from_slice(root.as_bytes());
    message.extend_from_slice(at.to_rfc3339().as_bytes());
    message
}

impl Checkpoint {
    /// Signs a checkpoint.
    pub fn sign(
        keys: &Keys,
        head: u64,
        digest: Digest,
        tenants_root: Digest,
        at: DateTime<Utc>,
    ) -> Checkpoint {
        let signature = keys
            .signing
            .sign(&message(head, &digest, &tenants_root, &at));
        Checkpoint {
            head,
            digest,
            tenants_root,
            at,
            public_key: keys.public().to_string(),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Whether `key` signed exactly these fields.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        let Some(bytes) = hex::decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        let signature = Signature::from_bytes(&bytes);
        let message = message(self.head, &self.digest, &self.tenants_root, &self.at);
        key.0.verify(&message, &signature).is_ok()
    }
}

/// The checkpoints file of a data directory.
pub struct Checkpoints {
    path: PathBuf,
}

impl Checkpoints {
    /// The checkpoints in `dir` (the data directory's `audit/`).
    pub fn at(dir: &Path) -> Checkpoints {
        Checkpoints {
            path: dir.join(CHECKPOINTS),
        }
    }

    /// Every checkpoint, oldest first.
    pub fn load(&self) -> Result<Vec<Checkpoint>, Error> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &self.path)(e)),
        };
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line).map_err(|e| Error::BadCheckpoint {
                    line: n + 1,
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Appends `checkpoint`, durably.
    pub fn append(&self, checkpoint: &Checkpoint) -> Result<(), Error> {
        let mut line = serde_json::to_vec(checkpoint).unwrap_or_default();
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io("open", &self.path))?;
        file.write_all(&line)
            .and_then(|()| file.sync_all())
            .map_err(io("write", &self.path))
    }
}
