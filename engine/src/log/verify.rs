//! Verification of a whole log: positions, stream versions and the hash chain.

use std::collections::HashMap;

use ferry_schemas::{Digest, StreamId};

use super::{Result, Store};

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Every record links to the one before; `head` and `digest` identify the verified log.
    Intact {
        /// The last position verified.
        head: u64,
        /// The hash of the last record: a digest of the whole history.
        digest: Digest,
    },
    /// The first record that does not check out.
    Broken {
        /// Its position.
        position: u64,
        /// What is wrong with it.
        problem: String,
    },
}

/// Walks the whole log from position 1 and checks every record: positions without gaps, stream
/// versions without gaps, each hash equal to the SHA-256 of its body, each `prev_hash` equal to
/// the previous record's hash.
pub fn verify(store: &dyn Store) -> Result<Verification> {
    const BATCH: usize = 4096;
    let mut expected_position = 1u64;
    let mut prev = Digest::ZERO;
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    loop {
        let records = store.read_all(expected_position, BATCH)?;
        if records.is_empty() {
            return Ok(Verification::Intact {
                head: expected_position - 1,
                digest: prev,
            });
        }
        for record in records {
            let broken = |problem: String| {
                Ok(Verification::Broken {
                    position: expected_position,
                    problem,
                })
            };
            if record.position != expected_position {
                return broken(format!("record claims position {}", record.position));
            }
            if record.prev_hash != prev {
                return broken(format!(
                    "previous hash is {prev} but the record links to {}",
                    record.prev_hash
                ));
            }
            if Digest::of(&record.body_bytes()) != record.hash {
                return broken("record content does not match its hash".into());
            }
            let version = versions.entry(record.stream.clone()).or_insert(0);
            if record.stream_version != *version + 1 {
                return broken(format!(
                    "stream {} jumps from version {} to {}",
                    record.stream, version, record.stream_version
                ));
            }
            *version += 1;
            prev = record.hash;
            expected_position += 1;
        }
    }
}
