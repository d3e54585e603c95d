//! Which command a service runs (docs/protocol.md §6.2): a model service's definition, the
//! built-in `sshd` and `ttyd`, a service-definition file (with its prestart actions), or the
//! plugin's service hook, in that order.
//!
//! Resolving is blocking work (it reads files, runs prestart commands and calls the plugin),
//! so it runs off the runtime's thread.

use std::collections::BTreeMap;
use std::path::PathBuf;

use krunner_plugin_api::{capability, ServiceCommand, ServiceRequest};
use serde_json::Value;

use super::definition::{self, Definition};
use super::error::StartError;
use super::interpolate::Variables;
use super::request::Request;
use super::{actions, intrinsic, launch, lock, Services};

/// What resolving a request produced.
pub(crate) enum Resolved {
    /// Nothing to spawn.
    Noop,
    /// A command.
    Launch {
        /// The final argv.
        argv: Vec<String>,
        /// Environment added to the user processes'.
        env: BTreeMap<String, String>,
        /// Working directory, when not the session directory.
        cwd: Option<PathBuf>,
    },
}

impl Resolved {
    fn argv(argv: Vec<String>, cwd: Option<PathBuf>) -> Self {
        Resolved::Launch {
            argv,
            env: BTreeMap::new(),
            cwd,
        }
    }
}

impl Services {
    /// Finds the command for a request.
    pub(crate) fn resolve(
        &self,
        request: &Request,
        model: Option<&Definition>,
        cwd: Option<PathBuf>,
    ) -> Result<Resolved, StartError> {
        if let Some(def) = model {
            self.prestart(def, request, cwd.as_deref())?;
            return Ok(Resolved::argv(def.base_argv(self.path())?, cwd));
        }
        if let Some(argv) = self.intrinsic_argv(request) {
            return Ok(Resolved::argv(argv, cwd));
        }
        if let Some(def) = self.defs.load(&request.name) {
            return self.with_definition(&def?, request, cwd);
        }
        match self.legacy_hook(request)? {
            Some(cmd) if !cmd.argv.is_empty() => Ok(Resolved::Launch {
                argv: cmd.argv,
                env: cmd.env,
                cwd: cmd.cwd.map(PathBuf::from).or(cwd),
            }),
            _ => Err(StartError::Unsupported(request.name.clone())),
        }
    }

    /// The user processes' `PATH`.
    fn path(&self) -> &str {
        self.context.child_env.get("PATH").unwrap_or_default()
    }

    /// The built-in commands of `sshd` and `ttyd`.
    fn intrinsic_argv(&self, request: &Request) -> Option<Vec<String>> {
        let port = request.port.unwrap_or_default();
        let settings = &self.config.intrinsic;
        match request.name.as_str() {
            "sshd" => {
                let key = lock(&self.host_key).clone();
                Some(intrinsic::sshd_argv(
                    &settings.sshd,
                    key.as_deref(),
                    port,
                    self.path(),
                ))
            }
            "ttyd" => Some(intrinsic::ttyd_argv(&settings.ttyd, port)),
            _ => None,
        }
    }

    /// A service-definition file: prestart actions, then the prepared command.
    fn with_definition(
        &self,
        def: &Definition,
        request: &Request,
        cwd: Option<PathBuf>,
    ) -> Result<Resolved, StartError> {
        let vars = self.prestart(def, request, cwd.as_deref())?;
        if def.noop {
            return Ok(Resolved::Noop);
        }
        let child_env = self.context.child_env.vars();
        let frozen = |n: &str| child_env.contains_key(n);
        let prepared = definition::prepare(
            &request.name,
            def,
            &request.options,
            &vars,
            &frozen,
            self.path(),
        )?;
        Ok(Resolved::Launch {
            argv: prepared.argv,
            env: prepared.env,
            cwd,
        })
    }

    /// Runs the definition's prestart actions; returns the template variables with their
    /// results.
    fn prestart(
        &self,
        def: &Definition,
        request: &Request,
        cwd: Option<&std::path::Path>,
    ) -> Result<Variables, StartError> {
        let mut env = self.context.child_env.vars().clone();
        launch::strip_runner_libs(&mut env);
        let mut vars = self.variables(request);
        let setting = actions::Setting {
            env: &env,
            cwd,
            timeout: self.config.timeout,
            tracker: &self.registry,
        };
        actions::run_all(&def.prestart_actions, &mut vars, &setting)?;
        Ok(vars)
    }

    fn variables(&self, request: &Request) -> Variables {
        let mut vars = Variables::new();
        vars.insert(
            "runtime_path".into(),
            Value::String(self.config.runtime_path.clone()),
        );
        vars.insert(
            "ports".into(),
            Value::Array(request.ports.iter().map(|p| Value::from(*p)).collect()),
        );
        vars
    }

    /// The plugin's service hook (docs/protocol.md §6.9).
    fn legacy_hook(&self, request: &Request) -> Result<Option<ServiceCommand>, StartError> {
        if !self.runner.has(capability::SERVICES) {
            return Ok(None);
        }
        let Ok(runner) = self.runner.get() else {
            return Ok(None);
        };
        let payload = ServiceRequest {
            name: request.name.clone(),
            port: request.port.unwrap_or_default(),
            ports: request.ports.clone(),
            protocol: request.protocol.clone(),
            options: request.raw_options.clone(),
        };
        let json = serde_json::to_string(&payload).map_err(|e| StartError::Hook(e.to_string()))?;
        let answer = runner
            .start_service(json.as_str().into())
            .into_result()
            .map_err(|e| StartError::Hook(e.message().to_owned()))?;
        let value: Value = serde_json::from_str(answer.as_str())
            .map_err(|e| StartError::Hook(format!("invalid answer: {e}")))?;
        if value.is_null() {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| StartError::Hook(format!("invalid answer: {e}")))
    }
}
