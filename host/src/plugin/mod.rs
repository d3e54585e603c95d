//! Plugins and the runner they provide.
//!
//! - [`search`]: where plugin files are looked for, and which one serves a language.
//! - [`preflight`]: checks a file before the dynamic loader sees it.
//! - [`load`] and [`version`]: `dlopen`, the plugin-api version policy and the plugin's
//!   self-description; [`error`]: every way that fails.
//! - [`slot`]: the one live runner ([`RunnerSlot`]), replaced after a panic; [`lane`]: the
//!   threads its interrupts and events are handed to, so a hung method cannot pile them up.
//! - [`callbacks`]: the host side of the ABI (what a plugin may ask of the host).
//! - [`interpreter`]: the long-lived processes plugins start through `Host::spawn`.
//! - [`probe`]: loading a file in a throwaway child process, for the `plugins` commands.

mod callbacks;
mod error;
mod interpreter;
mod lane;
mod load;
pub(crate) mod preflight;
pub(crate) mod probe;
mod search;
mod slot;
mod version;

pub(crate) use error::LoadError;
pub(crate) use load::{load, Plugin};
pub(crate) use search::{NotFound, SearchPath};
pub(crate) use slot::RunnerSlot;
