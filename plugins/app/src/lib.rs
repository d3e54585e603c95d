//! The `app` runner, the default for images that only provide services (web apps, model
//! servers): explicit batch commands run as usual, there is no default build or exec, and
//! there is no query mode.

use krunner_plugin_api::sdk::{HostHandle, Kernel, Result};
use krunner_plugin_api::{capability, PluginInfo, RunnerConfig, Sample};

/// The plugin.
pub struct AppKernel {
    host: HostHandle,
}

impl Kernel for AppKernel {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "app".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![capability::BATCH.into()],
            description: "service-only images: explicit commands, no defaults, no query mode"
                .into(),
            ..PluginInfo::default()
        }
    }

    fn samples() -> Vec<Sample> {
        vec![
            Sample {
                name: "explicit-exec".into(),
                exec: Some("echo hello, world".into()),
                expect_stdout: Some("hello, world\n".into()),
                ..Sample::default()
            },
            Sample {
                name: "no-query-mode".into(),
                code: Some("print('hi')".into()),
                expect_stdout: Some(String::new()),
                expect_exit: 127,
                ..Sample::default()
            },
        ]
    }

    fn new(_config: RunnerConfig, host: HostHandle) -> Result<Self> {
        Ok(Self { host })
    }

    fn build(&self) -> Result<i32> {
        self.host
            .warn("the app runner has no default build step; send a build command");
        Ok(0)
    }

    fn execute(&self) -> Result<i32> {
        self.host
            .warn("the app runner has no default exec command; send an exec command");
        Ok(0)
    }
}

krunner_plugin_api::export_plugin!(AppKernel);
