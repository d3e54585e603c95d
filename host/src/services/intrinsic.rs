//! The intrinsic services every session offers: `sshd` (dropbear) and `ttyd`.
//!
//! At startup, when their binaries exist, the runner prepares SSH keys the way the upstream
//! runner does (a user key pair whose private half the user downloads as `id_container`, and a
//! host key, preferring the agent-generated one) and starts both with a short port wait; a
//! failure is only logged, since a session without SSH is still a working session.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use krunner_plugin_api::util::{is_executable, which_in};

/// Default ports of the intrinsic services.
pub const SSHD_PORT: u16 = 2200;
/// Default ttyd port.
pub const TTYD_PORT: u16 = 7681;

/// Where the intrinsic binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// dropbear: a multi-call `dropbearmulti`, or a standalone `dropbear` (its `dropbearkey`
    /// and `dropbearconvert` are then looked up next to it, then on `PATH`).
    pub sshd: PathBuf,
    /// ttyd (tmux is expected next to it, as in `/opt/kernel`).
    pub ttyd: PathBuf,
}

/// The `sshd` and `ttyd` ports from `intrinsic-ports.json` (defaults 2200 and 7681).
pub fn ports(config_dir: &Path) -> (u16, u16) {
    let file = config_dir.join("intrinsic-ports.json");
    let value: serde_json::Value = match std::fs::read_to_string(&file) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("{} is not valid JSON: {e}", file.display());
                serde_json::Value::Null
            }
        },
        Err(_) => serde_json::Value::Null,
    };
    let port = |key: &str, default: u16| -> u16 {
        let parsed = match value.get(key) {
            None => return default,
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        match parsed.and_then(|n| u16::try_from(n).ok()) {
            Some(p) => p,
            None => {
                tracing::warn!("{}: \"{key}\" is not a port number", file.display());
                default
            }
        }
    };
    (port("sshd", SSHD_PORT), port("ttyd", TTYD_PORT))
}

/// The argv prefix that runs one dropbear tool (`dropbear`, `dropbearkey`, `dropbearconvert`).
pub fn dropbear_tool(binary: &Path, tool: &str, path: &str) -> Vec<String> {
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

/// The sshd argv (PROTOCOL.md §6.10). Without a host key, dropbear creates one itself.
pub fn sshd_argv(binary: &Path, host_key: Option<&Path>, port: u16, path: &str) -> Vec<String> {
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
pub fn ttyd_argv(binary: &Path, port: u16) -> Vec<String> {
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

fn run(
    argv: &[String],
    env: &std::collections::BTreeMap<String, String>,
) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let out = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

/// Prepares dropbear's keys; returns the host key to use.
///
/// - user key: when `<home>/.ssh/authorized_keys` is missing, a new RSA key pair is made; its
///   public half becomes `authorized_keys` and its private half `<home>/id_container` (OpenSSH
///   format), which is what users download;
/// - host key: `<config>/ssh/dropbear_rsa_host_key` if the agent made one, else a fresh key in
///   the runner's private state directory;
/// - cluster: `<config>/ssh/id_cluster.pub` is authorized once.
pub fn init_sshd(
    binary: &Path,
    home: &Path,
    config_dir: &Path,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<PathBuf, String> {
    let path = env.get("PATH").map(String::as_str).unwrap_or_default();
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let state = std::env::temp_dir().join(format!("dropbear-{uid}"));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state)
        .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    set_mode(&state, 0o700)?;
    let key_tool = |args: &[&str]| -> Vec<String> {
        let mut argv = dropbear_tool(binary, "dropbearkey", path);
        argv.extend(args.iter().map(|s| (*s).to_owned()));
        argv
    };
    let ssh_dir = home.join(".ssh");
    let authorized = ssh_dir.join("authorized_keys");
    if !authorized.exists() {
        std::fs::create_dir_all(&ssh_dir)
            .map_err(|e| format!("cannot create {}: {e}", ssh_dir.display()))?;
        set_mode(&ssh_dir, 0o700)?;
        let user_key = state.join("id_dropbear");
        let user_key_s = user_key.display().to_string();
        let out = run(
            &key_tool(&["-t", "rsa", "-s", "2048", "-f", &user_key_s]),
            env,
        )?;
        let public = out
            .lines()
            .find(|l| l.starts_with("ssh-"))
            .ok_or("dropbearkey printed no public key")?;
        std::fs::write(&authorized, format!("{public}\n"))
            .map_err(|e| format!("cannot write {}: {e}", authorized.display()))?;
        set_mode(&authorized, 0o600)?;
        let mut convert = dropbear_tool(binary, "dropbearconvert", path);
        let id_container = home.join("id_container");
        let _ = std::fs::remove_file(&id_container);
        convert.extend([
            "dropbear".to_owned(),
            "openssh".to_owned(),
            user_key_s,
            id_container.display().to_string(),
        ]);
        run(&convert, env)?;
    } else {
        set_mode(&ssh_dir, 0o700)?;
        set_mode(&authorized, 0o600)?;
    }
    let cluster_pub = config_dir.join("ssh/id_cluster.pub");
    if let Ok(key) = std::fs::read_to_string(&cluster_pub) {
        let key = key.trim();
        let current = std::fs::read_to_string(&authorized).unwrap_or_default();
        if !key.is_empty() && !current.lines().any(|l| l.trim() == key) {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&authorized)
                .map_err(|e| format!("cannot open {}: {e}", authorized.display()))?;
            writeln!(file, "{key}")
                .map_err(|e| format!("cannot write {}: {e}", authorized.display()))?;
        }
    }
    if config_dir.join("ssh/id_cluster").is_file() {
        let replicas = env
            .get("BACKENDAI_CLUSTER_REPLICAS")
            .map(String::as_str)
            .unwrap_or("main:1");
        let mapping = std::fs::read_to_string(config_dir.join("ssh/port-mapping.json")).ok();
        let config = ssh_dir.join("config");
        let current = std::fs::read_to_string(&config).unwrap_or_default();
        let blocks = cluster_ssh_config(&current, replicas, mapping.as_deref(), config_dir);
        if !blocks.is_empty() {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&config)
                .map_err(|e| format!("cannot open {}: {e}", config.display()))?;
            file.write_all(blocks.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        }
    }
    let agent_key = config_dir.join("ssh/dropbear_rsa_host_key");
    if agent_key.is_file() {
        return Ok(agent_key);
    }
    let host_key = state.join("dropbear_rsa_host_key");
    let host_key_s = host_key.display().to_string();
    run(
        &key_tool(&["-t", "rsa", "-s", "2048", "-f", &host_key_s]),
        env,
    )?;
    Ok(host_key)
}

/// The `~/.ssh/config` blocks that let cluster nodes reach each other, minus those already in
/// `current` (upstream's duplicate check never matched, so blocks piled up on every start).
/// With `port-mapping.json` (`{"<host>": ["<hostname>", <port>]}`) one block per host;
/// otherwise one `Host <role>*` block per role of `BACKENDAI_CLUSTER_REPLICAS`, port 2200.
pub fn cluster_ssh_config(
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

    #[test]
    fn ports_from_file() {
        let dir = std::env::temp_dir().join(format!("krunner-intrinsic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(ports(&dir), (2200, 7681));
        std::fs::write(
            dir.join("intrinsic-ports.json"),
            r#"{"sshd": 3022, "ttyd": "7000"}"#,
        )
        .unwrap();
        assert_eq!(ports(&dir), (3022, 7000));
        let _ = std::fs::remove_dir_all(dir);
    }
}
