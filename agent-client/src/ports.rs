//! The two TCP ports of a runner (docs/protocol.md §1.1): ops go to `repl-in`, results
//! come from `repl-out`. Private runners get free loopback ports; the OS picks them, so two
//! runners started at once rarely collide (and [`crate::LocalRunner`] retries when they do).

use std::net::TcpListener;

use crate::error::ClientError;

/// A runner's ports, named after its `--repl-in-port` and `--repl-out-port` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Where the runner PULLs ops (the agent PUSHes to it).
    pub repl_in: u16,
    /// Where the runner PUSHes messages (the agent PULLs from it).
    pub repl_out: u16,
}

impl Ports {
    /// Two ports that were free on loopback a moment ago.
    pub fn free() -> Result<Self, ClientError> {
        Ok(Self {
            repl_in: free_port()?,
            repl_out: free_port()?,
        })
    }
}

/// A TCP port that was free on loopback a moment ago.
pub fn free_port() -> Result<u16, ClientError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(ClientError::FreePort)?;
    let address = listener.local_addr().map_err(ClientError::FreePort)?;
    Ok(address.port())
}
