//! Integration tests: the real binary against real PostgreSQL 15.
//!
//! Run as root (`cargo test`): the tests create PostgreSQL clusters owned by
//! the `postgres` user in temporary directories.

mod bad_input;
mod cli;
mod differential;
mod fake_cluster;
mod fake_cluster_tests;
mod harness;
mod lifecycle;
mod ocft;
mod replication;
