//! A complete krunner plugin: the `bash` runner.
//!
//! - `exec *` runs `main.sh`, or explains that it is missing;
//! - `code` runs the snippet with `bash -c`;
//! - `runtime_path` (the second argument of `krunner bash ...`) picks another shell;
//! - `samples()` lets `krunner plugins test bash` check the plugin end to end.
//!
//! The host runs every command in its own process group, streams its output, delivers
//! interrupts and owns input; the plugin only decides what to run.

use std::path::Path;

use krunner_plugin_api::sdk::{HostHandle, Kernel, Result};
use krunner_plugin_api::{capability, PluginInfo, RunSpec, RunnerConfig, Sample};

/// The runner.
pub struct Bash {
    host: HostHandle,
    shell: String,
}

impl Kernel for Bash {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "bash".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![capability::BATCH.into(), capability::QUERY.into()],
            description: "bash: main.sh for batch mode, snippets with bash -c".into(),
            default_runtime: Some("bash".into()),
            ..PluginInfo::default()
        }
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        let shell = config.runtime_path.unwrap_or_else(|| "bash".into());
        Ok(Self { host, shell })
    }

    fn execute(&self) -> Result<i32> {
        if !Path::new("main.sh").is_file() {
            self.host
                .error("cannot find the main script (main.sh); add it or send an exec command");
            return Ok(127);
        }
        self.host.run(&RunSpec::argv([self.shell.as_str(), "main.sh"]))
    }

    fn query(&self, code: &str) -> Result<i32> {
        self.host.run(&RunSpec::argv([self.shell.as_str(), "-c", code]))
    }

    fn samples() -> Vec<Sample> {
        vec![
            Sample {
                name: "hello-batch".into(),
                files: [("main.sh".to_owned(), "echo hello, world\n".to_owned())].into(),
                exec: Some("*".into()),
                expect_stdout: Some("hello, world\n".into()),
                requires: Some("bash".into()),
                ..Sample::default()
            },
            Sample {
                name: "hello-query".into(),
                code: Some("echo hello, $((6 * 7))".into()),
                expect_stdout: Some("hello, 42\n".into()),
                requires: Some("bash".into()),
                ..Sample::default()
            },
        ]
    }
}

krunner_plugin_api::export_plugin!(Bash);
