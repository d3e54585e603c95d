//! The SSH keys of the intrinsic sshd, made the way sessions expect them.
//!
//! - user key: when `<home>/.ssh/authorized_keys` is missing, a new RSA key pair is made; its
//!   public half becomes `authorized_keys` and its private half `<home>/id_container` (OpenSSH
//!   format), which is what users download;
//! - host key: `<config>/ssh/dropbear_rsa_host_key` if the agent made one, else a fresh key in
//!   the host's private state directory, `<tmp>/dropbear-<uid>`: made anew with mode 700 by
//!   `mkdir` (which never follows a symbolic link), never chmod-ed by path; when that name is
//!   taken by anything but our own directory (a link, another user's directory), a fresh
//!   unique name is used instead;
//! - cluster: `<config>/ssh/id_cluster.pub` is authorized once, and `~/.ssh/config` gets a
//!   block per cluster host (once, not at every start).
//!
//! Files and directories are created with their final mode, and existing ones are changed
//! through a descriptor opened without following a symbolic link, so a link planted in
//! `$HOME` cannot redirect a chmod or a write.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use super::dropbear_tool;
use super::nofollow::{private_dir, set_mode};
use crate::process::{self, Spawn, Tracker};
use crate::sys;

/// How long one key tool may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the keys could not be prepared (sshd then starts without them, or not at all).
#[derive(Debug, Error)]
pub(crate) enum KeyError {
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    File {
        /// What was being done.
        action: &'static str,
        /// To what.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key tool could not run.
    #[error("cannot run {program}: {source}")]
    Tool {
        /// The tool.
        program: String,
        /// The error.
        source: std::io::Error,
    },
    /// A key tool failed.
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// `dropbearkey` printed no public key.
    #[error("dropbearkey printed no public key")]
    NoPublicKey,
}

pub(super) fn file_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> KeyError {
    let path = path.to_path_buf();
    move |source| KeyError::File {
        action,
        path,
        source,
    }
}

/// Runs a key tool and returns its stdout.
fn run(
    argv: &[String],
    env: &BTreeMap<String, String>,
    tracker: &dyn Tracker,
) -> Result<String, KeyError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(KeyError::Tool {
            program: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let spawn = Spawn {
        program: program.into(),
        args: args.to_vec(),
        env: env.clone(),
        ..Spawn::default()
    };
    let out = process::collect_within(&spawn, TOOL_TIMEOUT, process::KEEP, tracker)
        .map_err(|source| KeyError::Tool {
            program: program.clone(),
            source,
        })?
        .into_output();
    if !out.status.success() {
        return Err(KeyError::Failed {
            command: argv.join(" "),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The dropbear tools and where they write.
struct Tools<'a> {
    binary: &'a Path,
    env: &'a BTreeMap<String, String>,
    state: PathBuf,
    tracker: &'a dyn Tracker,
}

impl Tools<'_> {
    fn path(&self) -> &str {
        self.env.get("PATH").map(String::as_str).unwrap_or_default()
    }

    /// Runs `dropbearkey` making an RSA key at `file`; returns its output.
    fn make_key(&self, file: &Path) -> Result<String, KeyError> {
        let mut argv = dropbear_tool(self.binary, "dropbearkey", self.path());
        argv.extend(["-t", "rsa", "-s", "2048", "-f"].map(str::to_owned));
        argv.push(file.display().to_string());
        run(&argv, self.env, self.tracker)
    }

    /// Runs `dropbearconvert` from dropbear's key format to OpenSSH's.
    fn to_openssh(&self, from: &Path, to: &Path) -> Result<(), KeyError> {
        let mut argv = dropbear_tool(self.binary, "dropbearconvert", self.path());
        argv.extend(["dropbear".to_owned(), "openssh".to_owned()]);
        argv.extend([from.display().to_string(), to.display().to_string()]);
        run(&argv, self.env, self.tracker).map(drop)
    }
}

/// Prepares dropbear's keys (see the module docs); returns the host key to use. The key tools
/// are recorded in `tracker` while they run.
pub(crate) fn init_sshd(
    binary: &Path,
    home: &Path,
    config_dir: &Path,
    env: &BTreeMap<String, String>,
    tracker: &dyn Tracker,
) -> Result<PathBuf, KeyError> {
    let state = private_dir(&std::env::temp_dir(), &format!("dropbear-{}", sys::uid()))?;
    let tools = Tools {
        binary,
        env,
        state,
        tracker,
    };
    let ssh_dir = home.join(".ssh");
    user_key(&tools, home, &ssh_dir)?;
    authorize_cluster_key(config_dir, &ssh_dir.join("authorized_keys"))?;
    if config_dir.join("ssh/id_cluster").is_file() {
        add_cluster_hosts(config_dir, &ssh_dir.join("config"), env)?;
    }
    let agent_key = config_dir.join("ssh/dropbear_rsa_host_key");
    if agent_key.is_file() {
        return Ok(agent_key);
    }
    let host_key = tools.state.join("dropbear_rsa_host_key");
    tools.make_key(&host_key)?;
    Ok(host_key)
}

/// Makes the user's key pair unless `authorized_keys` exists.
fn user_key(tools: &Tools<'_>, home: &Path, ssh_dir: &Path) -> Result<(), KeyError> {
    let authorized = ssh_dir.join("authorized_keys");
    if authorized.exists() {
        set_mode(ssh_dir, 0o700)?;
        return set_mode(&authorized, 0o600);
    }
    match std::fs::DirBuilder::new().mode(0o700).create(ssh_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => set_mode(ssh_dir, 0o700)?,
        Err(e) => return Err(file_error("create", ssh_dir)(e)),
    }
    let user_key = tools.state.join("id_dropbear");
    let out = tools.make_key(&user_key)?;
    let public = out
        .lines()
        .find(|l| l.starts_with("ssh-"))
        .ok_or(KeyError::NoPublicKey)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&authorized)
        .map_err(file_error("create", &authorized))?;
    writeln!(file, "{public}").map_err(file_error("write", &authorized))?;
    let id_container = home.join("id_container");
    let _ = std::fs::remove_file(&id_container);
    tools.to_openssh(&user_key, &id_container)
}

/// Adds `<config>/ssh/id_cluster.pub` to `authorized_keys` once.
fn authorize_cluster_key(config_dir: &Path, authorized: &Path) -> Result<(), KeyError> {
    let Ok(key) = std::fs::read_to_string(config_dir.join("ssh/id_cluster.pub")) else {
        return Ok(());
    };
    let key = key.trim();
    let current = std::fs::read_to_string(authorized).unwrap_or_default();
    if key.is_empty() || current.lines().any(|l| l.trim() == key) {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(authorized)
        .map_err(file_error("open", authorized))?;
    writeln!(file, "{key}").map_err(file_error("write", authorized))
}

/// Appends the cluster hosts' blocks to `~/.ssh/config`.
fn add_cluster_hosts(
    config_dir: &Path,
    config: &Path,
    env: &BTreeMap<String, String>,
) -> Result<(), KeyError> {
    let replicas = env
        .get("BACKENDAI_CLUSTER_REPLICAS")
        .map(String::as_str)
        .unwrap_or("main:1");
    let mapping = std::fs::read_to_string(config_dir.join("ssh/port-mapping.json")).ok();
    let current = std::fs::read_to_string(config).unwrap_or_default();
    let blocks = cluster_ssh_config(&current, replicas, mapping.as_deref(), config_dir);
    if blocks.is_empty() {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config)
        .map_err(file_error("open", config))?;
    file.write_all(blocks.as_bytes())
        .map_err(file_error("write", config))
}

/// The `~/.ssh/config` blocks that let cluster nodes reach each other, minus those already in
/// `current` (upstream's duplicate check never matched, so blocks piled up on every start).
/// With `port-mapping.json` (`{"<host>": ["<hostname>", <port>]}`) one block per host;
/// otherwise one `Host <role>*` block per role of `BACKENDAI_CLUSTER_REPLICAS`, port 2200.
pub(crate) fn cluster_ssh_config(
    current: &str,
    replicas: &str,
    port_mapping: Option<&str>,
    config_dir: &Path,
) -> String {
    let identity = config_dir.join("ssh/id_cluster");
    let present = |host: &str| current.lines().any(|l| l.trim() == format!("Host {host}"));
    let mut out = String::new();
    let mapping: Option<serde_json::Map<String, serde_json::Value>> =
        port_mapping.and_then(|text| serde_json::from_str(text).ok());
    if let Some(mapping) = mapping {
        for (host, target) in mapping {
            let (Some(hostname), Some(port)) = (
                target.get(0).and_then(|v| v.as_str()),
                target.get(1).and_then(|v| v.as_u64()),
            ) else {
                tracing::warn!("port-mapping.json: ignoring {host}: {target}");
                continue;
            };
            if present(&host) {
                continue;
            }
            out.push_str(&format!(
                "\nHost {host}\n\tHostName {hostname}\n\tPort {port}\n\tStrictHostKeyChecking no\n\tIdentityFile {}\n",
                identity.display()
            ));
        }
    } else {
        for pair in replicas.split(',') {
            let role = pair.rsplit_once(':').map_or(pair, |(role, _)| role).trim();
            let host = format!("{role}*");
            if role.is_empty() || present(&host) {
                continue;
            }
            out.push_str(&format!(
                "\nHost {host}\n\tPort 2200\n\tStrictHostKeyChecking no\n\tIdentityFile {}\n",
                identity.display()
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cluster_config_blocks_are_added_once() {
        let cfg = Path::new("/home/config");
        let first = cluster_ssh_config("", "main:1,sub:2", None, cfg);
        assert_eq!(first.matches("Host ").count(), 2);
        assert!(first.contains("\nHost sub*\n\tPort 2200\n"));
        assert!(first.contains("IdentityFile /home/config/ssh/id_cluster"));
        assert_eq!(cluster_ssh_config(&first, "main:1,sub:2", None, cfg), "");
        let mapped = cluster_ssh_config("", "", Some(r#"{"main1": ["10.0.0.1", 30022]}"#), cfg);
        assert!(mapped.contains("Host main1\n\tHostName 10.0.0.1\n\tPort 30022\n"));
        assert_eq!(
            cluster_ssh_config(&mapped, "", Some(r#"{"main1": ["10.0.0.1", 30022]}"#), cfg),
            ""
        );
    }
}
