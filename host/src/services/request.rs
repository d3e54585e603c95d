//! The `start-service` payload (docs/protocol.md §6.1).

use serde_json::Value;
use thiserror::Error;

use super::definition::UserOptions;

/// Why a `start-service` payload is unusable.
#[derive(Debug, Error)]
pub(crate) enum RequestError {
    /// Not JSON.
    #[error("{0}")]
    NotJson(serde_json::Error),
    /// No service name.
    #[error("\"name\" is missing")]
    NoName,
    /// A port that is not a port number.
    #[error("invalid port {0}")]
    BadPort(Value),
    /// `options` of the wrong shape.
    #[error("invalid options: {0}")]
    BadOptions(serde_json::Error),
}

/// One start request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The service.
    pub(crate) name: String,
    /// Its (first) port.
    pub(crate) port: Option<u16>,
    /// All its ports.
    pub(crate) ports: Vec<u16>,
    /// `tcp`, `http`, `pty` or `preopen`.
    pub(crate) protocol: String,
    /// The user's arguments and environment.
    pub(crate) options: UserOptions,
    /// `options` as sent (for the plugin's service hook).
    pub(crate) raw_options: Value,
}

fn as_port(x: &Value) -> Result<u16, RequestError> {
    x.as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| RequestError::BadPort(x.clone()))
}

impl Request {
    /// A request the host makes itself (intrinsic and model services).
    pub(crate) fn internal(name: &str, port: u16, protocol: &str) -> Self {
        Self {
            name: name.to_owned(),
            port: Some(port),
            ports: vec![port],
            protocol: protocol.to_owned(),
            options: UserOptions::default(),
            raw_options: Value::Null,
        }
    }

    /// Parses a `start-service` payload.
    pub(crate) fn parse(payload: &str) -> Result<Self, RequestError> {
        let v: Value = serde_json::from_str(payload).map_err(RequestError::NotJson)?;
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or(RequestError::NoName)?
            .to_owned();
        let ports: Vec<u16> = match v.get("ports") {
            Some(Value::Array(items)) => items.iter().map(as_port).collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let port = match v.get("port") {
            Some(p) if !p.is_null() => Some(as_port(p)?),
            _ => ports.first().copied(),
        };
        let ports = if ports.is_empty() {
            port.into_iter().collect()
        } else {
            ports
        };
        // Parsed again from the text (not the Value) so argument order survives.
        #[derive(serde::Deserialize)]
        struct WithOptions {
            #[serde(default)]
            options: Option<UserOptions>,
        }
        let options = serde_json::from_str::<WithOptions>(payload)
            .map_err(RequestError::BadOptions)?
            .options
            .unwrap_or_default();
        Ok(Self {
            name,
            port,
            ports,
            protocol: v
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_owned(),
            options,
            raw_options: v.get("options").cloned().unwrap_or(Value::Null),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_parsing() {
        let r = Request::parse(r#"{"name":"sshd","port":2200,"protocol":"tcp"}"#).unwrap();
        assert_eq!((r.port, r.ports.clone()), (Some(2200), vec![2200]));
        let r = Request::parse(
            r#"{"name":"j","port":8070,"ports":[8070,8071],"protocol":"http","options":{"arguments":{"--a":"1"},"envs":{}}}"#,
        )
        .unwrap();
        assert_eq!(r.ports, vec![8070, 8071]);
        assert_eq!(r.options.arguments.0.len(), 1);
        let r = Request::parse(
            r#"{"name":"j","port":1,"options":{"arguments":{"--z":null,"--a":"1"}}}"#,
        )
        .unwrap();
        let order: Vec<&str> = r
            .options
            .arguments
            .0
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(order, ["--z", "--a"]);
        assert!(Request::parse("{oops").is_err());
        assert!(Request::parse(r#"{"port": 1}"#).is_err());
        assert!(Request::parse(r#"{"name":"x","port":70000}"#).is_err());
    }
}
