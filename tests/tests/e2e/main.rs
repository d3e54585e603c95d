//! End-to-end tests: a real `krunner` process, real plugins built by cargo, real ZeroMQ
//! sockets, real subprocesses. Each test starts its own runner on free ports.

#![allow(clippy::unwrap_used)]

mod aws_polly;
mod batch;
mod console;
mod ecosystem;
mod faults;
mod input;
mod jupyter;
mod jupyter_is_complete;
mod languages;
mod lifecycle;
mod misbehaving;
mod moto;
mod nodejs_repl;
mod plugins;
mod processes;
mod protocol;
mod python;
mod query;
mod service_faults;
mod services;

use std::time::Duration;

/// Generous upper bound for one task in these tests.
pub const TASK: Duration = Duration::from_secs(60);
