//! `ferry init`: create the data directory (idempotent).

use std::path::Path;

use ferry_engine::data_dir::DataDir;
use ferry_engine::log::Options;

use super::{directory::fail, exit};

/// Creates the data directory if needed and says where it is.
pub fn run(data_dir: &Path, json: bool) -> u8 {
    match DataDir::init(data_dir, Options::default()) {
        Ok((dir, created)) => {
            if json {
                let out = serde_json::json!({
                    "data_dir": dir.path(),
                    "created": created,
                });
                println!("{out}");
            } else if created {
                println!("initialised Ferry data directory {}", dir.path().display());
            } else {
                println!("{} is already a Ferry data directory", dir.path().display());
            }
            exit::OK
        }
        Err(error) => fail(&error.to_string(), exit::FAILURE),
    }
}
