//! The Ferry process: the command line (binary `ferry`), the HTTP server (`ferry serve`) and
//! the worker pool that runs migrations. No business rules: those are `ferry_engine::app`'s.

pub mod cli;
pub mod client;
pub mod pool;
pub mod server;
