//! Where the terminal listens, and the ports it must leave alone. The terminal binds sockets of
//! its own (see the plugin-api crate docs, "When a plugin may own processes and sockets"), so
//! it refuses the ports the agent gave the host and its intrinsic services in
//! `intrinsic-ports.json`, whichever way the operator moved the terminal's own ports.

use std::collections::BTreeMap;
use std::path::Path;

/// The ports the host reads from `intrinsic-ports.json`, with the host's defaults: the wire
/// protocol's two sockets and the intrinsic services.
const INTRINSIC: [(&str, u16); 4] = [
    ("replin", 2000),
    ("replout", 2001),
    ("sshd", 2200),
    ("ttyd", 7681),
];

/// Why the terminal's endpoints cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// A port setting is not a port number.
    #[error("{var}={value} is not a port number")]
    BadPort {
        /// The setting.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// A port setting names a port of the host or of an intrinsic service.
    #[error(
        "{var}={port} is the port of \"{owner}\" (intrinsic-ports.json); the terminal needs \
         another one"
    )]
    Reserved {
        /// The setting.
        var: &'static str,
        /// The port.
        port: u16,
        /// Whose port it is.
        owner: String,
    },
}

/// Where the terminal listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Keystrokes in (SUB, bound).
    pub input: String,
    /// Terminal output (PUB, bound).
    pub output: String,
}

impl Endpoints {
    /// The endpoints from `KRUNNER_TERM_BIND` (default `*`), `KRUNNER_TERM_IN_PORT` (2002)
    /// and `KRUNNER_TERM_OUT_PORT` (2003), taken from the runner's environment or else `env`
    /// (the child environment, which includes `environ.txt`). Ports listed in
    /// `config_dir/intrinsic-ports.json` (or the host's defaults for them) are refused.
    pub fn from_settings(
        env: &BTreeMap<String, String>,
        config_dir: &Path,
    ) -> Result<Self, EndpointError> {
        let bind = setting(env, "KRUNNER_TERM_BIND", "*");
        let reserved = reserved_ports(config_dir);
        let port = |var: &'static str, default: &str| -> Result<u16, EndpointError> {
            let value = setting(env, var, default);
            let port = value
                .trim()
                .parse::<u16>()
                .map_err(|_| EndpointError::BadPort {
                    var,
                    value: value.clone(),
                })?;
            match reserved.iter().find(|(_, p)| *p == port) {
                Some((owner, _)) => Err(EndpointError::Reserved {
                    var,
                    port,
                    owner: owner.clone(),
                }),
                None => Ok(port),
            }
        };
        Ok(Self {
            input: format!("tcp://{bind}:{}", port("KRUNNER_TERM_IN_PORT", "2002")?),
            output: format!("tcp://{bind}:{}", port("KRUNNER_TERM_OUT_PORT", "2003")?),
        })
    }
}

/// A setting from the runner's own environment, else from `env`, else `default`.
pub fn setting(env: &BTreeMap<String, String>, key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .or_else(|| env.get(key).cloned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The intrinsic ports by owner: from `intrinsic-ports.json` in `config_dir` (numbers or
/// numeric strings, as the host reads them), the host's default for each one it lacks.
fn reserved_ports(config_dir: &Path) -> Vec<(String, u16)> {
    let file: krunner_plugin_api::serde_json::Value =
        std::fs::read_to_string(config_dir.join("intrinsic-ports.json"))
            .ok()
            .and_then(|text| krunner_plugin_api::serde_json::from_str(&text).ok())
            .unwrap_or_default();
    INTRINSIC
        .iter()
        .map(|(owner, default)| {
            let port = match file.get(owner) {
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .and_then(|n| u16::try_from(n).ok()),
                None => None,
            };
            ((*owner).to_owned(), port.unwrap_or(*default))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_and_settings() {
        let none = Path::new("/nonexistent-krunner-config");
        let e = Endpoints::from_settings(&env(&[]), none).expect("defaults are usable");
        assert_eq!(e.input, "tcp://*:2002");
        assert_eq!(e.output, "tcp://*:2003");
        let e = Endpoints::from_settings(
            &env(&[
                ("KRUNNER_TERM_BIND", "127.0.0.1"),
                ("KRUNNER_TERM_IN_PORT", "4002"),
            ]),
            none,
        )
        .expect("moved ports are usable");
        assert_eq!(e.input, "tcp://127.0.0.1:4002");
        assert_eq!(e.output, "tcp://127.0.0.1:2003");
    }

    #[test]
    fn intrinsic_ports_are_refused() {
        let none = Path::new("/nonexistent-krunner-config");
        let err = Endpoints::from_settings(&env(&[("KRUNNER_TERM_IN_PORT", "2000")]), none);
        assert!(matches!(
            err,
            Err(EndpointError::Reserved { port: 2000, .. })
        ));
        let dir = std::env::temp_dir().join(format!("krunner-git-ports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("intrinsic-ports.json"),
            r#"{"replin": 5000, "replout": "5001"}"#,
        )
        .expect("write");
        let moved = Endpoints::from_settings(&env(&[("KRUNNER_TERM_OUT_PORT", "5001")]), &dir);
        let freed = Endpoints::from_settings(&env(&[("KRUNNER_TERM_OUT_PORT", "2001")]), &dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(
            moved,
            Err(EndpointError::Reserved { port: 5001, .. })
        ));
        assert!(freed.is_ok());
        assert!(matches!(
            Endpoints::from_settings(&env(&[("KRUNNER_TERM_IN_PORT", "x")]), none),
            Err(EndpointError::BadPort { .. })
        ));
    }
}
