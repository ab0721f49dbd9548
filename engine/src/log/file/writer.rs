//! The writer thread: group commit. Owns the file for writing and the sequencer.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};

use ferry_schemas::{NewEvent, Record, StreamId};
use tracing::error;

use super::super::frame::{self, END};
use super::super::sequencer::{Decision, Sequencer};
use super::super::{Appended, Error, Expected, Result};
use super::shared::Shared;
use super::{Medium, Options};

/// One append waiting for the writer.
pub(crate) struct Request {
    pub(crate) stream: StreamId,
    pub(crate) expected: Expected,
    pub(crate) events: Vec<NewEvent>,
    pub(crate) reply: mpsc::SyncSender<Result<Appended>>,
}

pub(crate) struct Writer {
    medium: Box<dyn Medium>,
    sequencer: Sequencer,
    /// Byte offset where the next frame goes.
    end: u64,
    shared: Arc<Shared>,
    options: Options,
    poisoned: bool,
}

impl Writer {
    pub(crate) fn new(
        medium: Box<dyn Medium>,
        sequencer: Sequencer,
        end: u64,
        shared: Arc<Shared>,
        options: Options,
    ) -> Self {
        Self {
            medium,
            sequencer,
            end,
            shared,
            options,
            poisoned: false,
        }
    }

    /// Serves requests until every sender is gone.
    pub(crate) fn run(mut self, queue: mpsc::Receiver<Request>) {
        let max_batch = self.options.max_batch.max(1);
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match queue.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
    }

    /// Decides every request of the batch, makes the new records durable with one fsync, then
    /// publishes them and answers every request.
    fn commit(&mut self, batch: Vec<Request>) {
        if self.poisoned {
            for request in batch {
                let _ = request.reply.send(Err(Error::Poisoned));
            }
            return;
        }
        let now = self.options.clock.now();
        let mut buf = Vec::new();
        let mut written: Vec<(Record, u64, u64)> = Vec::new();
        // Positions sealed in this batch, to their index in `written` (for duplicate checks).
        let mut pending: HashMap<u64, usize> = HashMap::new();
        let mut answers = Vec::with_capacity(batch.len());
        let mut appends = 0u64;
        for request in batch {
            let shared = &self.shared;
            let lookup = |position| match pending.get(&position) {
                Some(&i) => Ok(Record::clone(&written[i].0)),
                None => shared.read(position),
            };
            let decision = self.sequencer.decide(
                &request.stream,
                request.expected,
                request.events,
                now,
                lookup,
            );
            let answer = match decision {
                Ok(Decision::Duplicate(appended)) => Ok(appended),
                Ok(Decision::Write(sealed, appended)) => {
                    appends += 1;
                    let last = sealed.len() - 1;
                    for (i, (record, body)) in sealed.into_iter().enumerate() {
                        let offset = self.end + buf.len() as u64;
                        frame::encode(&body, if i == last { END } else { 0 }, &mut buf);
                        let len = self.end + buf.len() as u64 - offset;
                        pending.insert(record.position, written.len());
                        written.push((record, offset, len));
                    }
                    Ok(appended)
                }
                Err(e) => Err(e),
            };
            answers.push((request.reply, answer));
        }
        if !buf.is_empty() {
            if let Err(source) = self
                .medium
                .write_all(&buf)
                .and_then(|()| self.medium.sync_data())
            {
                self.poisoned = true;
                let path = self.shared.path();
                error!(%source, path = %path.display(), "log write or fsync failed; refusing further appends");
                // Every answer of this batch was decided on state that includes the records
                // that may not be on disk: none of them can be given.
                for (reply, _) in answers {
                    let _ = reply.send(Err(Error::Io {
                        action: "writing",
                        path: path.to_path_buf(),
                        source: std::io::Error::new(source.kind(), source.to_string()),
                    }));
                }
                return;
            }
            self.end += buf.len() as u64;
            self.shared.publish(written, appends);
        }
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }
}
