//! The glue [`crate::export_plugin!`] expands to: the root module and the runner object built
//! from a [`Kernel`], with every entry point behind [`guard`], because a panic unwinding out of
//! a plugin function would abort the whole host.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RStr, RString},
};

use super::{HostHandle, Kernel, Result};
use crate::abi::{
    HostBox, KernelPlugin, KernelPluginRef, Runner, RunnerBox, Runner_TO, API_VERSION,
};
use crate::error::{ErrorCode, PluginError};
use crate::payload::{
    CompletionRequest, IsCompleteRequest, PluginInfo, RunnerConfig, ServiceRequest,
};

/// Builds the root module for `K`. Used by [`crate::export_plugin!`]; not called directly.
#[doc(hidden)]
pub fn root_module<K: Kernel>() -> KernelPluginRef {
    use abi_stable::prefix_type::PrefixTypeTrait;
    KernelPlugin {
        info: info_shim::<K>,
        new_runner: new_runner_shim::<K>,
        samples: samples_shim::<K>,
    }
    .leak_into_prefix()
}

/// The plugin info as JSON, with the SDK-owned fields filled in.
#[doc(hidden)]
pub fn info_json<K: Kernel>(panic_unwind: bool) -> RString {
    let info = guard(|| {
        let mut info = K::info();
        info.api_version = API_VERSION.to_owned();
        info.panic_unwind = panic_unwind;
        Ok(info)
    })
    .unwrap_or_else(|e| PluginInfo {
        description: format!("plugin info failed: {}", e.message()),
        api_version: API_VERSION.to_owned(),
        ..PluginInfo::default()
    });
    RString::from(serde_json::to_string(&info).unwrap_or_default())
}

extern "C" fn info_shim<K: Kernel>() -> RString {
    info_json::<K>(cfg!(panic = "unwind"))
}

extern "C" fn samples_shim<K: Kernel>() -> RString {
    let samples = guard(|| Ok(K::samples())).unwrap_or_default();
    RString::from(serde_json::to_string(&samples).unwrap_or_else(|_| "[]".into()))
}

extern "C" fn new_runner_shim<K: Kernel>(
    config_json: RStr<'_>,
    host: HostBox,
) -> RResult<RunnerBox, PluginError> {
    guard(|| {
        let config: RunnerConfig = serde_json::from_str(config_json.as_str())?;
        let kernel = K::new(config, HostHandle::new(host))?;
        Ok(Runner_TO::from_value(Adapter(kernel), TD_Opaque))
    })
    .into()
}

/// Runs `f`, turning a panic into a [`PluginError`] with [`ErrorCode::PANIC`].
pub fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(PluginError::new(
            ErrorCode::PANIC,
            format!("the plugin panicked: {}", panic_message(payload.as_ref())),
        )),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

struct Adapter<K>(K);

impl<K: Kernel> Runner for Adapter<K> {
    fn clean(&self) -> RResult<i32, PluginError> {
        guard(|| self.0.clean()).into()
    }

    fn build(&self) -> RResult<i32, PluginError> {
        guard(|| self.0.build()).into()
    }

    fn execute(&self) -> RResult<i32, PluginError> {
        guard(|| self.0.execute()).into()
    }

    fn query(&self, code: RStr<'_>) -> RResult<i32, PluginError> {
        guard(|| self.0.query(code.as_str())).into()
    }

    fn complete(&self, request_json: RStr<'_>) -> RResult<RString, PluginError> {
        guard(|| {
            let request: CompletionRequest = serde_json::from_str(request_json.as_str())?;
            let suggestions = self.0.complete(&request)?;
            Ok(RString::from(serde_json::to_string(&suggestions)?))
        })
        .into()
    }

    fn interrupt(&self) {
        let _ = guard(|| {
            self.0.interrupt();
            Ok(())
        });
    }

    fn start_service(&self, request_json: RStr<'_>) -> RResult<RString, PluginError> {
        guard(|| {
            let request: ServiceRequest = serde_json::from_str(request_json.as_str())?;
            let command = self.0.start_service(&request)?;
            Ok(RString::from(serde_json::to_string(&command)?))
        })
        .into()
    }

    fn shutdown(&self) {
        let _ = guard(|| {
            self.0.shutdown();
            Ok(())
        });
    }

    fn is_complete(&self, request_json: RStr<'_>) -> RResult<RString, PluginError> {
        guard(|| {
            let request: IsCompleteRequest = serde_json::from_str(request_json.as_str())?;
            let reply = self.0.is_complete(&request)?;
            Ok(RString::from(serde_json::to_string(&reply)?))
        })
        .into()
    }

    fn on_event(&self, event_json: RStr<'_>) {
        let _ = guard(|| {
            let event: serde_json::Value = serde_json::from_str(event_json.as_str())?;
            self.0.on_event(&event);
            Ok(())
        });
    }
}
