//! The intrinsic services every session offers: `sshd` (dropbear) and `ttyd`
//! (docs/protocol.md §6.12).
//!
//! At startup, when their binaries exist, the host prepares SSH keys ([`ssh_keys`]) and starts
//! both with a short port wait; a failure is only logged, since a session without SSH is still
//! a working session.

mod nofollow;
mod ssh_keys;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use krunner_plugin_api::util::{is_executable, which_in};

use super::request::Request;
use super::start::How;
use super::{lock, Services};

/// Port-wait budget of the intrinsic services.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the intrinsic binaries are, and their ports (from `intrinsic-ports.json`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// dropbear: a multi-call `dropbearmulti`, or a standalone `dropbear` (its `dropbearkey`
    /// and `dropbearconvert` are then looked up next to it, then on `PATH`).
    pub(crate) sshd: PathBuf,
    /// ttyd (tmux is expected next to it, as in `/opt/kernel`).
    pub(crate) ttyd: PathBuf,
    /// The sshd port.
    pub(crate) sshd_port: u16,
    /// The ttyd port.
    pub(crate) ttyd_port: u16,
}

impl Services {
    /// Starts `sshd` and `ttyd` when their binaries exist; results are only logged.
    pub(crate) fn start_intrinsic(self: &Arc<Self>) {
        let settings = self.config.intrinsic.clone();
        if settings.sshd.is_file() {
            // A start-service for sshd waits until its keys are ready.
            self.sshd_ready.send_replace(false);
            let this = Arc::clone(self);
            tokio::spawn(async move {
                this.prepare_sshd().await;
                this.start_intrinsic_one("sshd", "tcp", settings.sshd_port)
                    .await;
            });
        } else {
            tracing::debug!("no sshd: {} does not exist", settings.sshd.display());
        }
        if settings.ttyd.is_file() {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                this.start_intrinsic_one("ttyd", "http", settings.ttyd_port)
                    .await
            });
        } else {
            tracing::debug!("no ttyd: {} does not exist", settings.ttyd.display());
        }
    }

    /// Makes the SSH keys, off the runtime's thread; sshd starts without them if this fails.
    async fn prepare_sshd(self: &Arc<Self>) {
        let this = Arc::clone(self);
        let prepared = tokio::task::spawn_blocking(move || {
            let env = this.context.child_env.vars().clone();
            let home = env
                .get("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_dir())
                .unwrap_or_else(|| this.config.work_dir.clone());
            ssh_keys::init_sshd(
                &this.config.intrinsic.sshd,
                &home,
                &this.config.config_dir,
                &env,
                &this.registry,
            )
        })
        .await;
        match prepared {
            Ok(Ok(key)) => *lock(&self.host_key) = Some(key),
            Ok(Err(e)) => tracing::warn!("sshd: key setup failed: {e}"),
            Err(e) => tracing::warn!("sshd: key setup failed: {e}"),
        }
        self.sshd_ready.send_replace(true);
    }

    async fn start_intrinsic_one(self: &Arc<Self>, name: &str, protocol: &str, port: u16) {
        let request = Request::internal(name, port, protocol);
        let wait = TIMEOUT.min(self.config.timeout.max(Duration::from_secs(1)));
        match self
            .start_guarded(request, How::new(Some(wait), true))
            .await
        {
            Ok(_) => tracing::info!("intrinsic service {name} started on port {port}"),
            Err(e) => tracing::warn!("intrinsic service {name} did not start: {e}"),
        }
    }
}

/// The argv prefix that runs one dropbear tool (`dropbear`, `dropbearkey`, `dropbearconvert`).
pub(crate) fn dropbear_tool(binary: &Path, tool: &str, path: &str) -> Vec<String> {
    let shown = binary.display().to_string();
    let multi = binary
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("multi"));
    if multi {
        return vec![shown, tool.to_owned()];
    }
    if tool == "dropbear" {
        return vec![shown];
    }
    if let Some(sibling) = binary.parent().map(|d| d.join(tool)) {
        if is_executable(&sibling) {
            return vec![sibling.display().to_string()];
        }
    }
    vec![which_in(tool, path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| tool.to_owned())]
}

/// The sshd argv (docs/protocol.md §6.12). Without a host key, dropbear creates one itself.
pub(crate) fn sshd_argv(
    binary: &Path,
    host_key: Option<&Path>,
    port: u16,
    path: &str,
) -> Vec<String> {
    let mut argv = dropbear_tool(binary, "dropbear", path);
    match host_key {
        Some(key) => argv.extend(["-r".to_owned(), key.display().to_string()]),
        None => argv.push("-R".into()),
    }
    argv.extend(
        ["-E", "-F", "-g", "-w", "-K", "15", "-I", "0", "-p"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    argv.push(format!("0.0.0.0:{port}"));
    argv
}

/// The ttyd argv: the best shell in `/bin`, attached to tmux unless it is `ash`.
pub(crate) fn ttyd_argv(binary: &Path, port: u16) -> Vec<String> {
    let shell = ["zsh", "bash", "ash", "sh"]
        .into_iter()
        .find(|s| Path::new("/bin").join(s).exists())
        .unwrap_or("sh");
    let mut argv = vec![
        binary.display().to_string(),
        "-W".into(),
        "-p".into(),
        port.to_string(),
        format!("/bin/{shell}"),
    ];
    if shell != "ash" {
        let tmux = binary
            .parent()
            .map(|d| d.join("tmux"))
            .unwrap_or_else(|| PathBuf::from("tmux"));
        argv.push("-c".into());
        argv.push(format!(
            "export SHELL=/bin/{shell}; {} -2 attach",
            tmux.display()
        ));
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_shapes() {
        let multi = Path::new("/opt/kernel/dropbearmulti");
        let argv = sshd_argv(multi, Some(Path::new("/k")), 2200, "");
        assert_eq!(
            argv.join(" "),
            "/opt/kernel/dropbearmulti dropbear -r /k -E -F -g -w -K 15 -I 0 -p 0.0.0.0:2200"
        );
        assert_eq!(
            dropbear_tool(multi, "dropbearkey", ""),
            ["/opt/kernel/dropbearmulti", "dropbearkey"]
        );
        assert_eq!(
            dropbear_tool(Path::new("/usr/sbin/dropbear"), "dropbear", ""),
            ["/usr/sbin/dropbear"]
        );
        let ttyd = ttyd_argv(Path::new("/opt/kernel/ttyd"), 7681);
        assert_eq!(&ttyd[..4], ["/opt/kernel/ttyd", "-W", "-p", "7681"]);
    }
}
