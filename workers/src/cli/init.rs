//! `ferry init`: create the data directory (idempotent).

use std::path::Path;

use ferry_engine::data_dir::DataDir;
use ferry_engine::log::Options;

use super::directory::{fail, log_settings};
use super::exit;

/// Creates the data directory if needed and says where it is.
pub fn run(data_dir: &Path, json: bool) -> u8 {
    match DataDir::init_with(data_dir, Options::default(), &log_settings()) {
        Ok((dir, created)) => {
            let log = match DataDir::settings(dir.path())
                .ok()
                .and_then(|s| s.kafka().ok().flatten())
            {
                Some((connection, topics)) => {
                    format!("kafka {} (topic {})", connection.brokers(), topics.log())
                }
                None => "embedded".to_string(),
            };
            if json {
                let out = serde_json::json!({
                    "data_dir": dir.path(),
                    "created": created,
                    "log": log,
                });
                say!("{out}");
            } else if created {
                say!(
                    "initialised Ferry data directory {} (log: {log})",
                    dir.path().display()
                );
            } else {
                say!(
                    "{} is already a Ferry data directory (log: {log})",
                    dir.path().display()
                );
            }
            exit::OK
        }
        Err(error) => fail(&error.to_string(), exit::FAILURE),
    }
}
