//! The connection file a kernel is started with: five loopback ports, the transport, and the
//! signing key.
//!
//! The kernel binds the ports; the bridge only connects to them. Ports are picked at random
//! among those no socket on the machine uses (`/proc/net/tcp` and `tcp6`), below Linux's
//! ephemeral range so outgoing connections do not take them meanwhile. If one is taken before
//! the kernel binds it anyway, the kernel fails to start and the bridge tries other ports.

use std::collections::HashSet;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

/// The range ports are picked from.
const PORTS: std::ops::Range<u16> = 10_000..30_000;

/// A kernel's channels, in the connection file's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Requests and replies.
    Shell,
    /// Broadcast output and status.
    Iopub,
    /// Input requests from the kernel.
    Stdin,
    /// Interrupts and shutdown.
    Control,
    /// Heartbeat echo.
    Heartbeat,
}

impl Channel {
    /// All of them.
    pub const ALL: [Self; 5] = [
        Self::Shell,
        Self::Iopub,
        Self::Stdin,
        Self::Control,
        Self::Heartbeat,
    ];

    /// The name used in connection files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Shell => "shell",
            Self::Iopub => "iopub",
            Self::Stdin => "stdin",
            Self::Control => "control",
            Self::Heartbeat => "hb",
        }
    }
}

/// What the kernel is told.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Ports, in [`Channel::ALL`] order.
    pub ports: [u16; 5],
    /// The HMAC key (hex text; its bytes are the key).
    pub key: String,
}

impl ConnectionInfo {
    /// Fresh ports and a fresh key.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            ports: free_ports()?,
            key: crate::wire::hex(&random_bytes(32)?),
        })
    }

    /// The address of `channel`.
    pub fn addr(&self, channel: Channel) -> SocketAddr {
        let i = Channel::ALL.iter().position(|c| *c == channel).unwrap_or(0);
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports[i]))
    }

    /// The connection file's JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "transport": "tcp",
            "ip": "127.0.0.1",
            "signature_scheme": "hmac-sha256",
            "key": self.key,
        });
        for (c, port) in Channel::ALL.iter().zip(self.ports) {
            v[format!("{}_port", c.name())] = port.into();
        }
        v
    }

    /// Writes the connection file (readable by the owner only: it holds the key).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(self.to_json().to_string().as_bytes())
    }
}

/// `n` bytes from the kernel's random source.
pub fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// Five distinct ports no socket uses now.
fn free_ports() -> std::io::Result<[u16; 5]> {
    let used = used_ports();
    let span = u32::from(PORTS.end - PORTS.start);
    let mut ports = [0u16; 5];
    let mut n = 0;
    for chunk in random_bytes(256)?.chunks(2) {
        let r = u32::from(u16::from_le_bytes([chunk[0], chunk[1]]));
        let port = PORTS.start + (r % span) as u16;
        if !used.contains(&port) && !ports[..n].contains(&port) {
            ports[n] = port;
            n += 1;
            if n == ports.len() {
                return Ok(ports);
            }
        }
    }
    Err(std::io::Error::other("no free loopback ports found"))
}

/// Local ports of every TCP socket on the machine.
fn used_ports() -> HashSet<u16> {
    let mut used = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let port = line
                .split_whitespace()
                .nth(1)
                .and_then(|local| local.rsplit(':').next())
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            used.extend(port);
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_and_in_range() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = listener.local_addr().expect("addr").port();
        assert!(used_ports().contains(&taken));
        let info = ConnectionInfo::new().expect("info");
        let mut sorted = info.ports.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 5);
        assert!(info.ports.iter().all(|p| PORTS.contains(p)));
        assert_eq!(info.key.len(), 64);
        let json = info.to_json();
        assert_eq!(json["hb_port"], info.ports[4]);
        assert_eq!(json["signature_scheme"], "hmac-sha256");
        assert_eq!(info.addr(Channel::Iopub).port(), info.ports[1]);
    }
}
