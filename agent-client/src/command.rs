//! The command line of a private krunner (docs/protocol.md §5.1): it binds
//! loopback only, on the ports it is given, with its own config directory, so it never takes
//! the container's ports 2000/2001, `/home/config` or the shared user-input socket.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::ports::Ports;

/// What to do about the user-input side channel's unix socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum InputSocket {
    /// `--no-input-socket`: none (the default path may belong to another runner).
    #[default]
    Disabled,
    /// `--input-socket PATH`.
    At(PathBuf),
    /// No option: krunner's default, or whatever [`KrunnerCommand::args`] say.
    AsArgsSay,
}

/// `krunner [--plugin-dir DIR]... --bind-address 127.0.0.1 --repl-in-port IN --repl-out-port
/// OUT --config-dir DIR <input socket> [ARGS]... LANG [RUNTIME_PATH]`.
#[derive(Debug, Clone)]
pub struct KrunnerCommand {
    /// The krunner executable.
    pub program: PathBuf,
    /// `--plugin-dir` values.
    pub plugin_dirs: Vec<PathBuf>,
    /// `--config-dir`.
    pub config_dir: PathBuf,
    /// The user-input socket.
    pub input_socket: InputSocket,
    /// More options, placed before the language.
    pub args: Vec<OsString>,
    /// The language.
    pub language: String,
    /// The runtime path argument.
    pub runtime_path: Option<String>,
}

impl KrunnerCommand {
    /// `program` serving `language`, with no plugin directories, a config directory that
    /// does not exist, and no user-input socket.
    pub fn new(program: impl Into<PathBuf>, language: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            plugin_dirs: Vec::new(),
            config_dir: PathBuf::from("/nonexistent/krunner-config"),
            input_socket: InputSocket::Disabled,
            args: Vec::new(),
            language: language.into(),
            runtime_path: None,
        }
    }

    /// The command for a runner on `ports`; stdio, environment and working directory are
    /// left to the caller.
    pub fn command(&self, ports: Ports) -> Command {
        let mut cmd = Command::new(&self.program);
        for dir in &self.plugin_dirs {
            cmd.arg("--plugin-dir").arg(dir);
        }
        cmd.arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--repl-in-port")
            .arg(ports.repl_in.to_string())
            .arg("--repl-out-port")
            .arg(ports.repl_out.to_string())
            .arg("--config-dir")
            .arg(&self.config_dir);
        match &self.input_socket {
            InputSocket::Disabled => {
                cmd.arg("--no-input-socket");
            }
            InputSocket::At(path) => {
                cmd.arg("--input-socket").arg(path);
            }
            InputSocket::AsArgsSay => {}
        }
        cmd.args(&self.args).arg(&self.language);
        if let Some(rt) = &self.runtime_path {
            cmd.arg(rt);
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn command_line() {
        let mut k = KrunnerCommand::new("/bin/krunner", "python");
        k.plugin_dirs = vec!["/p1".into(), "/p2".into()];
        k.config_dir = "/cfg".into();
        k.input_socket = InputSocket::At("/cfg/in.sock".into());
        k.args = vec!["--debug".into()];
        k.runtime_path = Some("/usr/bin/python3".into());
        let cmd = k.command(Ports {
            repl_in: 5000,
            repl_out: 5001,
        });
        assert_eq!(cmd.get_program(), "/bin/krunner");
        assert_eq!(
            args(&cmd).join(" "),
            "--plugin-dir /p1 --plugin-dir /p2 --bind-address 127.0.0.1 --repl-in-port 5000 \
             --repl-out-port 5001 --config-dir /cfg --input-socket /cfg/in.sock --debug \
             python /usr/bin/python3"
        );
    }

    #[test]
    fn defaults() {
        let cmd = KrunnerCommand::new("krunner", "c").command(Ports {
            repl_in: 1,
            repl_out: 2,
        });
        assert_eq!(
            args(&cmd).join(" "),
            "--bind-address 127.0.0.1 --repl-in-port 1 --repl-out-port 2 \
             --config-dir /nonexistent/krunner-config --no-input-socket c"
        );
        let mut k = KrunnerCommand::new("krunner", "c");
        k.input_socket = InputSocket::AsArgsSay;
        assert!(!args(&k.command(Ports {
            repl_in: 1,
            repl_out: 2
        }))
        .iter()
        .any(|a| a.contains("input-socket")));
    }
}
