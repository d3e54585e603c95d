//! The host side of the plugin ABI: what a plugin can ask the host to do.
//!
//! Every call is validated here, at the boundary: run specs must parse, and output messages
//! must respect the protocol (only `stdout`/`stderr` may carry arbitrary bytes; `media` must be
//! a JSON object with `type` and `data`), so a buggy plugin cannot break the agent's reader.

use std::sync::Arc;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RResult, RSlice, RStr, RString};
use krunner_plugin_api::abi::Host;
use krunner_plugin_api::{
    output, HostBox, Host_TO, LogLevel, PluginError, ProcessBox, Process_TO, RunSpec,
};

use crate::process::Stream;
use crate::protocol::{validate_media, Msg};
use crate::session::Session;
use crate::sessions::SessionProcess;

/// The object handed to plugins.
pub struct Callbacks {
    session: Arc<Session>,
}

impl Callbacks {
    /// Wraps the session as an ABI object.
    pub fn host_box(session: Arc<Session>) -> HostBox {
        Host_TO::from_ptr(RArc::new(Self { session }), TD_Opaque)
    }
}

fn parse_spec(json: RStr<'_>) -> Result<RunSpec, PluginError> {
    serde_json::from_str(json.as_str())
        .map_err(|e| PluginError::invalid_request(format!("invalid run spec: {e}")))
}

fn utf8(kind: &str, data: &[u8]) -> Result<String, PluginError> {
    String::from_utf8(data.to_vec())
        .map_err(|e| PluginError::invalid_request(format!("{kind} output must be UTF-8: {e}")))
}

impl Host for Callbacks {
    fn run(&self, spec_json: RStr<'_>) -> RResult<i32, PluginError> {
        parse_spec(spec_json)
            .map(|spec| self.session.run(&spec))
            .into()
    }

    fn capture(&self, spec_json: RStr<'_>) -> RResult<RString, PluginError> {
        parse_spec(spec_json)
            .and_then(|spec| self.session.capture(&spec))
            .and_then(|out| {
                serde_json::to_string(&out).map_err(|e| PluginError::internal(e.to_string()))
            })
            .map(RString::from)
            .into()
    }

    fn emit(&self, kind: RStr<'_>, data: RSlice<'_, u8>) -> RResult<(), PluginError> {
        let data = data.as_slice();
        let msg = match kind.as_str() {
            output::STDOUT => {
                self.session.output(Stream::Stdout, data.to_vec());
                return RResult::ROk(());
            }
            output::STDERR => {
                self.session.output(Stream::Stderr, data.to_vec());
                return RResult::ROk(());
            }
            output::MEDIA => validate_media(data)
                .map(Msg::Media)
                .map_err(|e| PluginError::invalid_request(format!("invalid media message: {e}"))),
            output::HTML => utf8("html", data).map(Msg::Html),
            output::LOG => utf8("log", data).map(Msg::Log),
            other => Err(PluginError::invalid_request(format!(
                "plugins cannot send {other:?} messages"
            ))),
        };
        match msg {
            Ok(m) => {
                self.session.outbox.send(m);
                RResult::ROk(())
            }
            Err(e) => {
                tracing::warn!("{}", e.message());
                RResult::RErr(e)
            }
        }
    }

    fn read_input(&self, prompt: RStr<'_>, is_password: bool) -> RResult<RString, PluginError> {
        self.session
            .read_input(prompt.as_str(), is_password)
            .map(RString::from)
            .into()
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let message = message.as_str();
        match level {
            l if l >= LogLevel::ERROR => tracing::error!("{message}"),
            LogLevel::WARN => tracing::warn!("{message}"),
            LogLevel::INFO => tracing::info!("{message}"),
            LogLevel::DEBUG => tracing::debug!("{message}"),
            _ => tracing::trace!("{message}"),
        }
    }

    fn interrupted(&self) -> bool {
        self.session.groups.interrupted()
    }

    fn child_env(&self) -> RString {
        RString::from(self.session.child_env.to_json())
    }

    fn host_info(&self) -> RString {
        RString::from(host_info_json())
    }

    fn spawn(&self, spec_json: RStr<'_>) -> RResult<ProcessBox, PluginError> {
        parse_spec(spec_json)
            .and_then(|spec| self.session.resolve(&spec))
            .and_then(|spawn| {
                SessionProcess::start(&spawn, Arc::clone(&self.session.groups))
                    .map_err(PluginError::from)
            })
            .map(|p| Process_TO::from_value(p, TD_Opaque))
            .into()
    }
}

/// The host's versions, for `Host::host_info`.
pub fn host_info_json() -> String {
    serde_json::json!({
        "host_version": env!("CARGO_PKG_VERSION"),
        "api_version": krunner_plugin_api::API_VERSION,
    })
    .to_string()
}
