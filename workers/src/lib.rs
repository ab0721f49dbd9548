//! The Ferry process: the command line (binary `ferry`) and the worker pool that runs
//! migrations; later the Kafka transport.

pub mod cli;
pub mod pool;
