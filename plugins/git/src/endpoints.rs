//! Where the terminal listens. The terminal binds sockets of its own (see the plugin-api crate
//! docs, "When a plugin may own processes and sockets"): by default ports 2002 and 2003 on all
//! interfaces, movable with `KRUNNER_TERM_BIND`, `KRUNNER_TERM_IN_PORT` and
//! `KRUNNER_TERM_OUT_PORT` (docs/protocol.md §1.6).

use std::collections::BTreeMap;

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
    /// (the child environment, which includes `environ.txt`).
    pub fn from_settings(env: &BTreeMap<String, String>) -> Result<Self, EndpointError> {
        let bind = setting(env, "KRUNNER_TERM_BIND", "*");
        let port = |var: &'static str, default: &str| -> Result<u16, EndpointError> {
            let value = setting(env, var, default);
            value
                .trim()
                .parse::<u16>()
                .map_err(|_| EndpointError::BadPort { var, value })
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
        let e = Endpoints::from_settings(&env(&[])).expect("defaults are usable");
        assert_eq!(e.input, "tcp://*:2002");
        assert_eq!(e.output, "tcp://*:2003");
        let e = Endpoints::from_settings(&env(&[
            ("KRUNNER_TERM_BIND", "127.0.0.1"),
            ("KRUNNER_TERM_IN_PORT", "4002"),
        ]))
        .expect("moved ports are usable");
        assert_eq!(e.input, "tcp://127.0.0.1:4002");
        assert_eq!(e.output, "tcp://127.0.0.1:2003");
    }

    #[test]
    fn a_port_must_be_a_number() {
        assert!(matches!(
            Endpoints::from_settings(&env(&[("KRUNNER_TERM_IN_PORT", "x")])),
            Err(EndpointError::BadPort { .. })
        ));
    }
}
