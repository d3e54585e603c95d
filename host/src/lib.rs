//! krunner: the Backend.AI kernel runner, as a host for language plugins.
//!
//! The `krunner` binary is the long-lived process in a Backend.AI session container. It speaks
//! the agent's ZeroMQ protocol (docs/protocol.md), runs the agent's tasks one at a time through
//! a language plugin (`libkernel_<lang>.so`, see `krunner-plugin-api`), and owns every process,
//! all interactive input and the in-container services. This library is the binary; its only
//! public item is [`main`] (and, with the `fuzzing` feature, `fuzz`: the fuzz targets' entry
//! points).
//!
//! # Layout
//!
//! An op travels down this list and its answer back up (docs/architecture.md draws it):
//!
//! - [`commands`]: the command line: serve mode, `run`, `plugins list|check|test`.
//! - [`serve`]: startup, the dispatcher, the completion lane, shutdown.
//! - [`wire`]: the protocol: ops in, messages out, the outbound queue, the socket thread.
//! - [`tasks`]: the FIFO queue of `clean`/`build`/`exec`/`code`.
//! - [`plugin`]: finding, vetting and loading plugins; the runner slot; the host side of the
//!   ABI; interpreters.
//! - [`context`]: the shared state tasks, plugin callbacks and services work on.
//! - [`process`]: every process the host starts; process groups, the terminate ladder, the
//!   output pump, exit codes.
//! - [`input`]: the input queue, feeding a task's stdin, the user-input side channel.
//! - [`services`]: `start-service` and friends, service definitions, intrinsic services.
//! - Around them: [`cli`] (arguments), [`config`] (the agent's config files), [`child_env`]
//!   (the environment of user processes), [`messages`] (texts users see), [`logging`],
//!   [`proctitle`] (hiding serve mode's arguments), [`glibc`] (the oldest glibc it runs on)
//!   and [`sys`] (the libc calls).

mod child_env;
mod cli;
mod commands;
mod config;
mod context;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod glibc;
mod input;
mod logging;
mod messages;
mod plugin;
mod process;
mod proctitle;
mod serve;
mod services;
mod sys;
mod tasks;
mod wire;

pub use commands::main;
