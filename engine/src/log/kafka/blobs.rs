//! Documents and packages shared through Kafka: the blob topic holds every blob in chunks
//! (one partition, kept forever), and each process mirrors what it needs into its local blob
//! folder. A blob is published — every chunk confirmed by the broker — before the record that
//! names it is appended, as the embedded store fsyncs it first.
//!
//! A chunk is one message: key = the digest, value = a JSON header line
//! `{"digest":…,"index":i,"count":n}` and then the chunk's bytes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ferry_schemas::Digest;
use rdkafka::consumer::BaseConsumer;
use rdkafka::{Message, Offset};
use serde::{Deserialize, Serialize};

use super::super::Result;
use super::producer::Deliverer;
use super::{Connection, Topics, PATIENCE};
use crate::blobs::Remote;

/// Bytes per chunk: well under Kafka's default 1 MB message limit.
const CHUNK: usize = 512 * 1024;

#[derive(Serialize, Deserialize)]
struct Header {
    digest: Digest,
    index: u32,
    count: u32,
}

/// The blob topic as a [`Remote`] of the local blob store.
pub struct KafkaBlobs {
    topic: String,
    deliverer: Deliverer,
    consumer: BaseConsumer,
    /// Chunks read so far of blobs not yet whole, and the offset to read next.
    mirror: Mutex<Mirror>,
}

#[derive(Default)]
struct Mirror {
    next_offset: i64,
    partial: HashMap<Digest, Vec<Option<Vec<u8>>>>,
}

impl std::fmt::Debug for KafkaBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBlobs")
            .field("topic", &self.topic)
            .finish()
    }
}

impl KafkaBlobs {
    /// Connects to `topics.blobs()`.
    pub fn open(connection: &Connection, topics: &Topics) -> Result<KafkaBlobs> {
        let topic = topics.blobs();
        let consumer = connection.reader(
            "blobs",
            &topic,
            Offset::Beginning,
            Duration::from_millis(10),
        )?;
        Ok(KafkaBlobs {
            deliverer: Deliverer::new(connection, topic.clone(), PATIENCE)?,
            topic,
            consumer,
            mirror: Mutex::new(Mirror::default()),
        })
    }
}

impl Remote for KafkaBlobs {
    fn publish(&self, digest: &Digest, bytes: &[u8]) -> Result<(), String> {
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            vec![bytes]
        } else {
            bytes.chunks(CHUNK).collect()
        };
        let key = digest.to_string();
        for (index, chunk) in chunks.iter().enumerate() {
            let header = Header {
                digest: *digest,
                index: index as u32,
                count: chunks.len() as u32,
            };
            let mut value = serde_json::to_vec(&header).unwrap_or_default();
            value.push(b'\n');
            value.extend_from_slice(chunk);
            self.deliverer
                .deliver(key.as_bytes(), &value)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn fetch(&self, keep: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let mut mirror = self.mirror.lock().unwrap_or_else(|e| e.into_inner());
        let (_, high) =
            super::watermarks(&self.consumer, &self.topic).map_err(|e| e.to_string())?;
        let deadline = std::time::Instant::now() + PATIENCE;
        while mirror.next_offset < high {
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "could not read {} up to offset {high} within {PATIENCE:?}",
                    self.topic
                ));
            }
            let message = match self.consumer.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "reading the blob topic; retrying");
                    continue;
                }
                Some(Ok(message)) => message,
            };
            if message.offset() < mirror.next_offset {
                continue;
            }
            mirror.next_offset = message.offset() + 1;
            let value = message.payload().unwrap_or_default();
            if let Some(bytes) = mirror.take(value) {
                keep(&bytes);
            }
        }
        Ok(())
    }
}

impl Mirror {
    /// Adds a chunk; returns the blob when it is whole and checks out against its digest.
    fn take(&mut self, value: &[u8]) -> Option<Vec<u8>> {
        let split = value.iter().position(|&b| b == b'\n')?;
        let header: Header = serde_json::from_slice(&value[..split]).ok()?;
        let count = header.count.max(1) as usize;
        let chunks = self
            .partial
            .entry(header.digest)
            .or_insert_with(|| vec![None; count]);
        if chunks.len() != count || header.index as usize >= count {
            return None;
        }
        chunks[header.index as usize] = Some(value[split + 1..].to_vec());
        if chunks.iter().any(Option::is_none) {
            return None;
        }
        let bytes: Vec<u8> = self
            .partial
            .remove(&header.digest)?
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        (Digest::of(&bytes) == header.digest).then_some(bytes)
    }
}
