//! Service ops (`start-service`, `shutdown-service`, `get-apps`, `start-model-service`).
//!
//! This host answers every service request exactly once, as the agent requires, so a request
//! never leaves the agent waiting: `preopen` services are reported started (nothing to spawn),
//! and other services are reported unsupported.

use crate::logging::WIRE;
use crate::protocol::{Msg, ServiceResult};

/// The reply to a `start-service` payload.
pub fn start_service(payload: &str) -> Msg {
    let request: serde_json::Value = match serde_json::from_str(payload) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(target: WIRE, "start-service: invalid request: {e}");
            return Msg::ServiceResult(ServiceResult::failed(format!("invalid request: {e}")));
        }
    };
    let name = request
        .get("name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let protocol = request
        .get("protocol")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    Msg::ServiceResult(match protocol {
        "preopen" => ServiceResult::started(),
        "pty" => ServiceResult::failed("not implemented yet"),
        _ => ServiceResult::failed(format!("unsupported service: {name}")),
    })
}

/// The reply to a `get-apps` request: the services defined for this session (none).
pub fn get_apps(_filter: &str) -> Msg {
    Msg::AppsResult(Vec::new())
}

/// The reply to a `start-model-service` payload.
pub fn start_model_service(payload: &str) -> Msg {
    let reason = match serde_json::from_str::<serde_json::Value>(payload) {
        Ok(_) => "model services are not supported by this runner".to_owned(),
        Err(e) => format!("invalid request: {e}"),
    };
    tracing::warn!(target: WIRE, "start-model-service: {reason}");
    Msg::ModelServiceResult(ServiceResult::failed(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_gets_one_reply() {
        assert_eq!(
            start_service(r#"{"name":"x","port":1,"protocol":"preopen"}"#),
            Msg::ServiceResult(ServiceResult::started())
        );
        assert_eq!(
            start_service(r#"{"name":"jupyter","port":1,"protocol":"http"}"#),
            Msg::ServiceResult(ServiceResult::failed("unsupported service: jupyter"))
        );
        assert!(matches!(start_service("{oops"), Msg::ServiceResult(r) if r.status == "failed"));
        assert!(
            matches!(start_model_service("{}"), Msg::ModelServiceResult(r) if r.status == "failed")
        );
    }
}
