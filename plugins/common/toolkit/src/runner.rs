//! The shape the C-family and script runners share, so that one macro,
//! [`crate::language_kernel!`], turns either into a complete plugin kernel: each is a runner
//! made from a static description of one language of its family (its *flavor*).

use krunner_plugin_api::sdk::{HostHandle, Result};
use krunner_plugin_api::{
    CompletionRequest, IsCompleteReply, IsCompleteRequest, PluginInfo, RunnerConfig, Sample,
};

/// A runner made from a static description of its language. The methods are those of
/// [`krunner_plugin_api::sdk::Kernel`], with the flavor passed in; `clean` and `build` have the
/// same defaults (nothing to do), so the script runner leaves them out.
pub trait LanguageRunner: Sized + Send + Sync + 'static {
    /// What distinguishes one language of the family.
    type Flavor: Sync + 'static;

    /// The plugin description for `flavor`; `version` is the plugin's own version.
    fn info(flavor: &Self::Flavor, version: &str) -> PluginInfo;

    /// The plugin's self-tests for `flavor`.
    fn samples(flavor: &Self::Flavor) -> Vec<Sample>;

    /// A runner for `flavor`.
    fn new(flavor: &'static Self::Flavor, config: RunnerConfig, host: HostHandle) -> Self;

    /// `clean *`: by default nothing to do.
    fn clean(&self) -> Result<i32> {
        Ok(0)
    }

    /// `build *` when there is no Makefile: by default nothing to do.
    fn build(&self) -> Result<i32> {
        Ok(0)
    }

    /// `exec *`.
    fn execute(&self) -> Result<i32>;

    /// `code`.
    fn query(&self, code: &str) -> Result<i32>;

    /// Completion suggestions: none by default.
    fn complete(&self, _request: &CompletionRequest) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Whether a snippet is complete: `unknown` (the console decides) by default.
    fn is_complete(&self, _request: &IsCompleteRequest) -> Result<IsCompleteReply> {
        Ok(IsCompleteReply::default())
    }

    /// Interrupts in-plugin work (a query running in a kernel); nothing by default.
    fn interrupt(&self) {}

    /// Ends what the runner started itself (a kernel); nothing by default.
    fn shutdown(&self) {}
}

/// Defines the plugin type `$plugin` around the [`LanguageRunner`] `$runner` for the flavor
/// `$flavor` and implements [`krunner_plugin_api::sdk::Kernel`] for it by delegation. Use it
/// once per module (it defines a `FLAVOR` static there); the plugin crate exports the kernels
/// with [`krunner_plugin_api::export_plugins!`]:
///
/// ```no_run
/// use krunner_toolkit::script::{no_prelude, no_setup, plain_argv, Flavor, ScriptRunner};
///
/// krunner_toolkit::language_kernel!(
///     LuaKernel,
///     ScriptRunner,
///     Flavor {
///         language: "lua",
///         interpreters: &["lua"],
///         main_files: &["main.lua"],
///         extension: "lua",
///         description: "Lua: main.lua and snippets with lua",
///         argv: plain_argv,
///         prelude: no_prelude,
///         setup: no_setup,
///         hello: "print(\"hello, world\")\n",
///         exit3: "os.exit(3)\n",
///     }
/// );
///
/// krunner_plugin_api::export_plugins!(LuaKernel);
/// ```
#[macro_export]
macro_rules! language_kernel {
    ($plugin:ident, $runner:ty, $flavor:expr $(,)?) => {
        /// The kernel of one language.
        pub struct $plugin($runner);

        static FLAVOR: <$runner as $crate::LanguageRunner>::Flavor = $flavor;

        impl $crate::__api::sdk::Kernel for $plugin {
            fn info() -> $crate::__api::PluginInfo {
                <$runner as $crate::LanguageRunner>::info(&FLAVOR, env!("CARGO_PKG_VERSION"))
            }

            fn new(
                config: $crate::__api::RunnerConfig,
                host: $crate::__api::sdk::HostHandle,
            ) -> $crate::__api::sdk::Result<Self> {
                Ok(Self(<$runner as $crate::LanguageRunner>::new(
                    &FLAVOR, config, host,
                )))
            }

            fn clean(&self) -> $crate::__api::sdk::Result<i32> {
                $crate::LanguageRunner::clean(&self.0)
            }

            fn build(&self) -> $crate::__api::sdk::Result<i32> {
                $crate::LanguageRunner::build(&self.0)
            }

            fn execute(&self) -> $crate::__api::sdk::Result<i32> {
                $crate::LanguageRunner::execute(&self.0)
            }

            fn query(&self, code: &str) -> $crate::__api::sdk::Result<i32> {
                $crate::LanguageRunner::query(&self.0, code)
            }

            fn complete(
                &self,
                request: &$crate::__api::CompletionRequest,
            ) -> $crate::__api::sdk::Result<Vec<String>> {
                $crate::LanguageRunner::complete(&self.0, request)
            }

            fn is_complete(
                &self,
                request: &$crate::__api::IsCompleteRequest,
            ) -> $crate::__api::sdk::Result<$crate::__api::IsCompleteReply> {
                $crate::LanguageRunner::is_complete(&self.0, request)
            }

            fn interrupt(&self) {
                $crate::LanguageRunner::interrupt(&self.0)
            }

            fn shutdown(&self) {
                $crate::LanguageRunner::shutdown(&self.0)
            }

            fn samples() -> Vec<$crate::__api::Sample> {
                <$runner as $crate::LanguageRunner>::samples(&FLAVOR)
            }
        }
    };
}
