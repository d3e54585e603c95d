//! How a service start ends: [`Started`], or a [`StartError`] whose text is the `error` of
//! the `service-result` reply the agent shows (docs/protocol.md §6.4).

use thiserror::Error;

use super::definition::DefinitionError;
use super::launch::LaunchError;
use super::request::RequestError;
use crate::logging::WIRE;
use crate::wire::ServiceResult;

/// Why a start failed; `Display` is the `error` of the reply.
#[derive(Debug, Error)]
pub(crate) enum StartError {
    /// The payload is unusable.
    #[error("invalid request: {0}")]
    BadRequest(#[from] RequestError),
    /// `pty` services.
    #[error("not implemented yet")]
    NotImplemented,
    /// Nothing knows how to run this service.
    #[error("unsupported service: {0}")]
    Unsupported(String),
    /// The definition or the user's options are invalid.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// Spawning failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The plugin's legacy hook failed.
    #[error("the runner's service hook failed: {0}")]
    Hook(String),
    /// The port did not open in time (the process was terminated).
    #[error("opening the service port timed out: {0}")]
    Timeout(String),
    /// The process exited before its port opened.
    #[error("the service exited with {status} before opening its port: {name}{}", last_lines(.output))]
    Exited {
        /// The service.
        name: String,
        /// How it ended.
        status: String,
        /// The last lines it printed.
        output: Vec<String>,
    },
    /// Probing the port failed.
    #[error("cannot check the service port of {name}: {reason}")]
    Probe {
        /// The service.
        name: String,
        /// What failed.
        reason: String,
    },
    /// The model directory is missing.
    #[error("the model directory does not exist: {0}")]
    MissingCwd(String),
    /// The start task itself failed.
    #[error("the process did not start properly: {0}")]
    Internal(String),
    /// Preparing the service (prestart actions, the plugin hook) took too long.
    #[error("starting the service took too long: {0}")]
    Stuck(String),
}

/// The last lines a service printed, as they follow the first line of the error.
fn last_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    format!("; its last output:\n{}", lines.join("\n"))
}

/// A successful start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Started {
    /// Spawned (and its port is open), or nothing to spawn.
    Started,
    /// It was already running.
    Running,
}

pub(crate) fn to_result(r: Result<Started, StartError>) -> ServiceResult {
    match r {
        Ok(Started::Started) => ServiceResult::started(),
        Ok(Started::Running) => ServiceResult::running(),
        Err(e) => ServiceResult::failed(e.to_string()),
    }
}

pub(crate) fn log_outcome(name: &str, r: &Result<Started, StartError>) {
    match r {
        Ok(Started::Started) => tracing::info!("service {name} started"),
        Ok(Started::Running) => tracing::info!("service {name} is already running"),
        Err(e) => tracing::warn!(target: WIRE, "service {name} failed to start: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_wording() {
        assert_eq!(
            StartError::Timeout("jupyter".into()).to_string(),
            "opening the service port timed out: jupyter"
        );
        assert_eq!(
            StartError::Unsupported("x".into()).to_string(),
            "unsupported service: x"
        );
        assert_eq!(
            StartError::NotImplemented.to_string(),
            "not implemented yet"
        );
        let exited = |output: Vec<String>| StartError::Exited {
            name: "jupyterlab".into(),
            status: "exit code 1".into(),
            output,
        };
        assert_eq!(
            exited(vec![]).to_string(),
            "the service exited with exit code 1 before opening its port: jupyterlab"
        );
        assert_eq!(
            exited(vec![
                "a".into(),
                "python3: No module named jupyterlab".into()
            ])
            .to_string(),
            "the service exited with exit code 1 before opening its port: jupyterlab; \
             its last output:\na\npython3: No module named jupyterlab"
        );
    }
}
