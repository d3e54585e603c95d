//! The host side of the plugin ABI: what a plugin can ask the host to do (the `Host` trait of
//! `krunner-plugin-api`).
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

use super::interpreter::Interpreter;
use crate::context::Context;
use crate::messages;
use crate::process::Stream;
use crate::wire::{validate_media, Msg};

/// The object handed to plugins.
pub(crate) struct Callbacks {
    context: Arc<Context>,
}

impl Callbacks {
    /// Wraps the context as an ABI object.
    pub(crate) fn host_box(context: Arc<Context>) -> HostBox {
        Host_TO::from_ptr(RArc::new(Self { context }), TD_Opaque)
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
            .map(|spec| self.context.run(&spec))
            .into()
    }

    fn capture(&self, spec_json: RStr<'_>) -> RResult<RString, PluginError> {
        parse_spec(spec_json)
            .and_then(|spec| self.context.capture(&spec))
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
                self.context.output(Stream::Stdout, data.to_vec());
                return RResult::ROk(());
            }
            output::STDERR => {
                self.context.output(Stream::Stderr, data.to_vec());
                return RResult::ROk(());
            }
            output::MEDIA => validate_media(data)
                .map(Msg::Media)
                .map_err(|e| PluginError::invalid_request(messages::invalid_plugin_output(e))),
            output::HTML => utf8("html", data).map(Msg::Html),
            output::LOG => utf8("log", data).map(Msg::Log),
            other => Err(PluginError::invalid_request(format!(
                "plugins cannot send {other:?} messages"
            ))),
        };
        match msg {
            Ok(m) => {
                self.context.outbox.send(m);
                RResult::ROk(())
            }
            Err(e) => {
                tracing::warn!("{}", e.message());
                RResult::RErr(e)
            }
        }
    }

    fn read_input(&self, prompt: RStr<'_>, is_password: bool) -> RResult<RString, PluginError> {
        self.context
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
        self.context.groups.interrupted()
    }

    fn child_env(&self) -> RString {
        RString::from(self.context.child_env.to_json())
    }

    fn host_info(&self) -> RString {
        RString::from(host_info_json())
    }

    fn spawn(&self, spec_json: RStr<'_>) -> RResult<ProcessBox, PluginError> {
        parse_spec(spec_json)
            .and_then(|spec| self.context.resolve(&spec))
            .and_then(|spawn| {
                Interpreter::start(&spawn, Arc::clone(&self.context.groups))
                    .map_err(PluginError::from)
            })
            .map(|p| Process_TO::from_value(p, TD_Opaque))
            .into()
    }
}

/// The host's versions, for `Host::host_info`.
pub(crate) fn host_info_json() -> String {
    serde_json::json!({
        "host_version": env!("CARGO_PKG_VERSION"),
        "api_version": krunner_plugin_api::API_VERSION,
    })
    .to_string()
}
