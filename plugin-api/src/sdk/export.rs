//! The glue [`crate::export_plugin!`] expands to: the root module and the runner object built
//! from a [`Kernel`], with every entry point behind [`guard`], because a panic unwinding out of
//! a plugin function would abort the whole host.

use std::any::Any;
use std::marker::PhantomData;
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
    CompletionRequest, IsCompleteRequest, PluginInfo, RunnerConfig, Sample, ServiceRequest,
};

/// One language of a plugin file: the entry points of one [`Kernel`]. Used by
/// [`crate::export_plugins!`]; not built directly.
#[doc(hidden)]
pub struct Member {
    info: fn() -> PluginInfo,
    samples: fn() -> Vec<Sample>,
    new_runner: fn(RunnerConfig, HostHandle) -> Result<RunnerBox>,
}

impl Member {
    /// The entry points of `K`.
    pub const fn of<K: Kernel>() -> Self {
        Self {
            info: K::info,
            samples: K::samples,
            new_runner: new_runner_of::<K>,
        }
    }
}

/// The languages one plugin file serves, in order: one [`Kernel`] ([`crate::export_plugin!`])
/// or several ([`crate::export_plugins!`]). Implemented by those macros; not by hand.
#[doc(hidden)]
pub trait KernelSet: 'static {
    /// The kernels; the first one also answers the root module's `info` and `samples`.
    const MEMBERS: &'static [Member];
}

/// The set of one kernel.
#[doc(hidden)]
pub struct One<K>(PhantomData<K>);

impl<K: Kernel> KernelSet for One<K> {
    const MEMBERS: &'static [Member] = &[Member::of::<K>()];
}

/// The plugin-api minor that knows files serving several languages: older hosts would ask
/// such a file only for its first language, so its infos ask for this minor.
const SEVERAL_LANGUAGES_MINOR: u32 = 4;

/// Builds the root module for `K`. Used by [`crate::export_plugin!`]; not called directly.
#[doc(hidden)]
pub fn root_module<K: Kernel>() -> KernelPluginRef {
    root_module_of::<One<K>>()
}

/// Builds the root module for the kernels of `S`. Used by [`crate::export_plugins!`].
#[doc(hidden)]
pub fn root_module_of<S: KernelSet>() -> KernelPluginRef {
    use abi_stable::prefix_type::PrefixTypeTrait;
    KernelPlugin {
        info: info_shim::<S>,
        new_runner: new_runner_shim::<S>,
        samples: samples_shim::<S>,
        languages: languages_shim::<S>,
        samples_for: samples_for_shim::<S>,
    }
    .leak_into_prefix()
}

/// The plugin info as JSON, with the SDK-owned fields filled in.
#[doc(hidden)]
pub fn info_json<K: Kernel>(panic_unwind: bool) -> RString {
    to_json(&member_info(&Member::of::<K>(), 1, panic_unwind))
}

/// The info of `member` of a set of `count`, with the SDK-owned fields filled in.
fn member_info(member: &Member, count: usize, panic_unwind: bool) -> PluginInfo {
    let mut info = guard(|| Ok((member.info)())).unwrap_or_else(|e| PluginInfo {
        description: format!("plugin info failed: {}", e.message()),
        ..PluginInfo::default()
    });
    info.api_version = API_VERSION.to_owned();
    info.panic_unwind = panic_unwind;
    if count > 1 {
        info.min_api_minor = info.min_api_minor.max(SEVERAL_LANGUAGES_MINOR);
    }
    info
}

fn to_json<T: serde::Serialize>(value: &T) -> RString {
    RString::from(serde_json::to_string(value).unwrap_or_default())
}

fn infos<S: KernelSet>() -> impl Iterator<Item = PluginInfo> {
    let count = S::MEMBERS.len();
    S::MEMBERS
        .iter()
        .map(move |m| member_info(m, count, cfg!(panic = "unwind")))
}

/// The member of `S` serving `language`: the only one of a one-kernel set (whatever the
/// host calls its language, as before 1.4), else the one whose info names it.
fn member_for<S: KernelSet>(language: &str) -> Option<&'static Member> {
    match S::MEMBERS {
        [only] => Some(only),
        members => members
            .iter()
            .find(|m| guard(|| Ok((m.info)().language == language)).unwrap_or(false)),
    }
}

extern "C" fn info_shim<S: KernelSet>() -> RString {
    infos::<S>().next().map(|i| to_json(&i)).unwrap_or_default()
}

extern "C" fn languages_shim<S: KernelSet>() -> RString {
    to_json(&infos::<S>().collect::<Vec<_>>())
}

fn samples_json(member: Option<&Member>) -> RString {
    let samples = member
        .and_then(|m| guard(|| Ok((m.samples)())).ok())
        .unwrap_or_default();
    RString::from(serde_json::to_string(&samples).unwrap_or_else(|_| "[]".into()))
}

extern "C" fn samples_shim<S: KernelSet>() -> RString {
    samples_json(S::MEMBERS.first())
}

extern "C" fn samples_for_shim<S: KernelSet>(language: RStr<'_>) -> RString {
    samples_json(member_for::<S>(language.as_str()))
}

fn new_runner_of<K: Kernel>(config: RunnerConfig, host: HostHandle) -> Result<RunnerBox> {
    let kernel = K::new(config, host)?;
    Ok(Runner_TO::from_value(Adapter(kernel), TD_Opaque))
}

extern "C" fn new_runner_shim<S: KernelSet>(
    config_json: RStr<'_>,
    host: HostBox,
) -> RResult<RunnerBox, PluginError> {
    guard(|| {
        let config: RunnerConfig = serde_json::from_str(config_json.as_str())?;
        let Some(member) = member_for::<S>(&config.language) else {
            let served: Vec<String> = infos::<S>().map(|i| i.language).collect();
            return Err(PluginError::new(
                ErrorCode::UNSUPPORTED,
                format!(
                    "this plugin serves {}, not {:?}",
                    served.join(", "),
                    config.language
                ),
            ));
        };
        (member.new_runner)(config, HostHandle::new(host))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::Kernel;

    macro_rules! kernel {
        ($name:ident, $language:literal) => {
            struct $name;

            impl Kernel for $name {
                fn info() -> PluginInfo {
                    PluginInfo {
                        language: $language.into(),
                        ..PluginInfo::default()
                    }
                }

                fn new(_config: RunnerConfig, _host: HostHandle) -> Result<Self> {
                    Ok(Self)
                }

                fn samples() -> Vec<Sample> {
                    vec![Sample {
                        name: concat!($language, "-sample").into(),
                        ..Sample::default()
                    }]
                }
            }
        };
    }

    kernel!(Lua, "lua");
    kernel!(Scheme, "scheme");

    struct Both;

    impl KernelSet for Both {
        const MEMBERS: &'static [Member] = &[Member::of::<Lua>(), Member::of::<Scheme>()];
    }

    fn infos_of(json: RString) -> Vec<PluginInfo> {
        serde_json::from_str(json.as_str()).expect("infos")
    }

    #[test]
    fn a_set_lists_every_language_and_asks_for_a_host_that_knows_sets() {
        let infos = infos_of(languages_shim::<Both>());
        let languages: Vec<&str> = infos.iter().map(|i| i.language.as_str()).collect();
        assert_eq!(languages, ["lua", "scheme"]);
        assert!(infos
            .iter()
            .all(|i| i.min_api_minor == SEVERAL_LANGUAGES_MINOR && i.api_version == API_VERSION));
        let first: PluginInfo = serde_json::from_str(info_shim::<Both>().as_str()).expect("info");
        assert_eq!(first.language, "lua");
    }

    #[test]
    fn samples_are_those_of_the_language_asked_for() {
        let samples = |language: &str| -> Vec<Sample> {
            serde_json::from_str(samples_for_shim::<Both>(RStr::from(language)).as_str())
                .expect("samples")
        };
        assert_eq!(samples("scheme")[0].name, "scheme-sample");
        assert_eq!(samples("lua")[0].name, "lua-sample");
        assert!(samples("ruby").is_empty());
    }

    #[test]
    fn one_kernel_serves_whatever_it_is_called_and_needs_no_newer_host() {
        let infos = infos_of(languages_shim::<One<Lua>>());
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].min_api_minor, 0);
        assert!(member_for::<One<Lua>>("renamed").is_some());
        assert!(member_for::<Both>("scheme").is_some());
        assert!(member_for::<Both>("ruby").is_none());
    }
}
