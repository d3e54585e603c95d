//! Turning a kernelspec into the command the host starts: `{connection_file}`,
//! `{resource_dir}` and `{prefix}` in its argv, `${VAR}` in its `env`, the program looked up
//! the way the child will find it, and what goes wrong on the way ([`StartError`]).

use std::collections::BTreeMap;
use std::path::Path;

use krunner_plugin_api::util::{is_executable, which_in};

use crate::spec::KernelSpec;

/// Why a kernel did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its program is not installed.
    #[error("its program {program:?} is not installed (argv[0] of {kernel_json})")]
    Missing {
        /// argv\[0\].
        program: String,
        /// The kernel.json.
        kernel_json: String,
    },
    /// The host could not start it.
    #[error("it could not be started: {0}")]
    Spawn(String),
    /// It exited before it was ready.
    #[error(
        "it exited during startup with status {status}{}",
        output_suffix(output)
    )]
    Exited {
        /// Its exit status (128+N after signal N).
        status: i32,
        /// The end of what it printed.
        output: String,
    },
    /// It did not answer `kernel_info_request` in time.
    #[error(
        "it did not answer kernel_info within {secs} s, so it was stopped{}",
        output_suffix(output)
    )]
    NoAnswer {
        /// The time limit.
        secs: u64,
        /// The end of what it printed.
        output: String,
    },
    /// Its sockets do not speak the protocol.
    #[error("{0}")]
    Protocol(String),
    /// The query waiting for it was interrupted.
    #[error("starting it was interrupted")]
    Interrupted,
    /// Files or sockets of the bridge itself.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn output_suffix(output: &str) -> String {
    let output = output.trim();
    if output.is_empty() {
        String::new()
    } else {
        format!("; its output ends with:\n{output}")
    }
}

impl StartError {
    /// The exit code of the query that needed the kernel.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Missing { .. } => 127,
            Self::Spawn(_) => 126,
            Self::Interrupted => 130,
            Self::Exited { .. } | Self::NoAnswer { .. } | Self::Protocol(_) | Self::Io(_) => 1,
        }
    }

    /// Whether another attempt with other ports may succeed (a port was taken meanwhile).
    pub fn port_taken(&self) -> bool {
        matches!(self, Self::Exited { output, .. } if output.contains("Address already in use"))
    }
}

/// The environment a kernel runs in: the child environment, the plugin's additions, and the
/// directories the plugin puts in front of `PATH`.
#[derive(Debug, Clone, Default)]
pub struct LaunchEnv {
    /// The child environment (for `${VAR}` and `PATH`).
    pub child: BTreeMap<String, String>,
    /// The plugin's additions.
    pub env: BTreeMap<String, String>,
    /// Directories before `PATH`.
    pub path_prepend: Vec<String>,
}

impl LaunchEnv {
    fn path(&self) -> String {
        let mut dirs = self.path_prepend.clone();
        dirs.extend(self.env.get("PATH").or(self.child.get("PATH")).cloned());
        dirs.join(":")
    }

    /// Looks a program up as the child will.
    pub fn which(&self, program: &str) -> Option<String> {
        if program.contains('/') {
            return is_executable(Path::new(program)).then(|| program.to_owned());
        }
        which_in(program, &self.path()).map(|p| p.to_string_lossy().into_owned())
    }
}

/// The argv to start `spec` with `connection_file`, its program resolved.
pub fn argv(
    spec: &KernelSpec,
    connection_file: &Path,
    env: &LaunchEnv,
) -> Result<Vec<String>, StartError> {
    let resource_dir = spec.dir.to_string_lossy();
    let prefix = spec.prefix().map(|p| p.to_string_lossy().into_owned());
    let connection = connection_file.to_string_lossy();
    let mut argv: Vec<String> = spec
        .argv
        .iter()
        .map(|a| {
            let mut a = a
                .replace("{connection_file}", &connection)
                .replace("{resource_dir}", &resource_dir);
            if let Some(p) = &prefix {
                a = a.replace("{prefix}", p);
            }
            a
        })
        .collect();
    argv[0] = program(spec, env).ok_or_else(|| StartError::Missing {
        program: spec.argv[0].clone(),
        kernel_json: spec.dir.join("kernel.json").display().to_string(),
    })?;
    Ok(argv)
}

/// argv\[0\] as the child will find it. A bare `python`/`python3` (as ipykernel installs its
/// kernelspec) is, as Jupyter does it, the Python of the environment the kernelspec belongs
/// to, else the first of `python` and `python3` on `PATH`.
fn program(spec: &KernelSpec, env: &LaunchEnv) -> Option<String> {
    let program = &spec.argv[0];
    let is_python = program.starts_with("python") && !program.contains('/');
    if is_python {
        if let Some(prefix) = spec.prefix() {
            let own = prefix.join("bin").join(program);
            if is_executable(&own) {
                return Some(own.to_string_lossy().into_owned());
            }
        }
    }
    env.which(program)
        .or_else(|| is_python.then(|| env.which("python3")).flatten())
}

/// The kernelspec's `env`, with `${VAR}` replaced from the child environment (an unknown
/// variable stays as it is, as Jupyter's `safe_substitute` leaves it).
pub fn kernel_env(spec: &KernelSpec, child: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    spec.env
        .iter()
        .map(|(k, v)| (k.clone(), substitute(v, child)))
        .collect()
}

fn substitute(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find('}') {
            Some(end) if vars.contains_key(&after[..end]) => {
                out.push_str(&vars[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::InterruptMode;

    fn spec(argv: &[&str]) -> KernelSpec {
        KernelSpec {
            name: "k".into(),
            dir: "/p/share/jupyter/kernels/k".into(),
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            display_name: "k".into(),
            language: "x".into(),
            interrupt_mode: InterruptMode::Signal,
            env: [("A".to_owned(), "${HOME}/x:${NOPE}".to_owned())].into(),
        }
    }

    #[test]
    fn placeholders_and_the_program() {
        let env = LaunchEnv {
            child: [("PATH".to_owned(), "/usr/bin:/bin".to_owned())].into(),
            ..LaunchEnv::default()
        };
        let argv = argv(
            &spec(&[
                "sh",
                "-f",
                "{connection_file}",
                "{resource_dir}/x",
                "{prefix}",
                "{other}",
            ]),
            Path::new("/tmp/c.json"),
            &env,
        )
        .expect("argv");
        assert!(argv[0].ends_with("/sh"), "{argv:?}");
        assert_eq!(
            &argv[1..],
            [
                "-f",
                "/tmp/c.json",
                "/p/share/jupyter/kernels/k/x",
                "/p",
                "{other}"
            ]
        );
        let missing = super::argv(&spec(&["no-such-kernel-program"]), Path::new("/c"), &env)
            .expect_err("missing");
        assert_eq!(missing.exit_code(), 127);
        assert!(missing.to_string().contains("no-such-kernel-program"));
    }

    #[test]
    fn env_substitution() {
        let child = [("HOME".to_owned(), "/home/u".to_owned())].into();
        assert_eq!(kernel_env(&spec(&["k"]), &child)["A"], "/home/u/x:${NOPE}");
        assert_eq!(substitute("${", &child), "${");
        assert_eq!(substitute("a${HOME", &child), "a${HOME");
    }
}
