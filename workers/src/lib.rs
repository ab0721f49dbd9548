//! The Ferry process: the command line (binary `ferry`), and later the worker pool and the
//! Kafka transport.

pub mod cli;
