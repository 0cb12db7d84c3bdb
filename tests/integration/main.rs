//! Integration tests: the real binary against real PostgreSQL 15 (and every
//! major from 10 to 18 in `versions`, see tests/pg-versions).
//!
//! Run as root (`cargo test`): the tests create PostgreSQL clusters owned by
//! the `postgres` user in temporary directories.

mod archive;
mod bad_input;
mod check;
mod cli;
mod controlfile;
mod differential;
mod differential_replication;
mod docs;
mod fake_cluster;
mod fake_cluster_tests;
mod harness;
mod lifecycle;
mod matrix;
mod ocft;
mod pgsqlms;
mod rejoin;
mod reliability;
mod replication;
mod scenario;
mod upfront;
mod versions;
