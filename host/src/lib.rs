//! krunner: the Backend.AI kernel runner as a plugin host.
//!
//! The binary speaks the agent's ZeroMQ protocol ([`protocol`], [`transport`]), runs tasks one
//! at a time ([`worker`]) through a language plugin ([`plugins`], [`runner`], [`callbacks`]),
//! owns every subprocess ([`process`]) and interactive input ([`input`]: the queue;
//! [`stdin_feed`] and [`stdin_watch`]: task stdin pipes fed when a program blocks reading them;
//! [`input_socket`]: the upstream side channel), and ships a client for people ([`client`]).

pub mod callbacks;
pub mod cli;
pub mod client;
pub mod env;
pub mod input;
pub mod input_socket;
pub mod logging;
pub mod plugins;
pub mod process;
pub mod proctitle;
pub mod protocol;
pub mod runner;
pub mod server;
pub mod services;
pub mod session;
pub mod sessions;
pub mod stdin_feed;
pub mod stdin_watch;
pub mod transport;
pub mod worker;
