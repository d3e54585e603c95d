//! Service-definition files (`<service-def-dir>/<name>.json`) and the rules that turn one into
//! a command line: user arguments, user environment, interpolation.
//!
//! Files are read when a service is started or listed, never at startup: upstream parsed them
//! all at startup and one malformed file took the whole process down. Here a bad file only makes
//! that one service fail, with the reason in its `service-result`.

mod dir;
mod prepare;
mod shlex;

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use thiserror::Error;

use super::interpolate::{py_repr, InterpolateError};

pub(crate) use dir::DefinitionDir;
pub(crate) use prepare::{prepare, UserOptions};

/// Why a service could not be prepared. `Display` gives the Python `repr` the agent shows.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub(crate) enum DefinitionError {
    /// The file is unreadable, not JSON, or has the wrong structure.
    #[error("InvalidServiceDefinition({})", py_repr(.0))]
    Invalid(String),
    /// A user argument the definition does not allow.
    #[error("DisallowedArgument({})", py_repr(&format!("Argument {name} not allowed for service {service}")))]
    DisallowedArgument {
        /// The argument.
        name: String,
        /// The service.
        service: String,
    },
    /// A user environment variable the definition does not allow.
    #[error("DisallowedEnvironment({})", py_repr(&format!("Environment variable {name} not allowed for service {service}")))]
    DisallowedEnvironment {
        /// The variable.
        name: String,
        /// The service.
        service: String,
    },
    /// A user environment variable that would replace one of the session's.
    #[error("DisallowedEnvironment({})", py_repr(&format!("Environment variable {name} can't be overwritten")))]
    FrozenEnvironment {
        /// The variable.
        name: String,
    },
}

impl From<InterpolateError> for DefinitionError {
    fn from(e: InterpolateError) -> Self {
        DefinitionError::Invalid(e.to_string())
    }
}

/// A JSON object that keeps its keys in file order (Python dicts do).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Ordered(pub(crate) Vec<(String, Value)>);

impl Ordered {
    /// Inserts or replaces `key`, keeping the position of an existing key (like `dict.update`).
    pub(crate) fn set(&mut self, key: String, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out = Ordered::default();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.set(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// `command`: an argv template, or a script run by `shell`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub(crate) enum CommandSpec {
    /// An argv template.
    Argv(Vec<String>),
    /// A script.
    Script(String),
}

/// One prestart action.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionSpec {
    /// `write_file`, `write_tempfile`, `mkdir`, `run_command` or `log`.
    pub(crate) action: String,
    /// The action's arguments.
    #[serde(default)]
    pub(crate) args: serde_json::Map<String, Value>,
    /// Stores the action's result under this variable name.
    #[serde(default)]
    pub r#ref: Option<String>,
}

fn default_shell() -> Option<String> {
    Some("bash".into())
}

/// A parsed service definition (docs/protocol.md §6.5).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Definition {
    /// The argv template or script.
    pub(crate) command: CommandSpec,
    /// The shell for script commands (`null` or empty: split the script like a shell would).
    #[serde(default = "default_shell")]
    pub(crate) shell: Option<String>,
    /// Nothing to spawn: the service is reported started.
    #[serde(default)]
    pub(crate) noop: bool,
    /// Returned by `get-apps`; the host does not interpolate it.
    #[serde(default)]
    pub(crate) url_template: String,
    /// Actions run before every start (`prestart` is accepted as an alias).
    #[serde(default, alias = "prestart")]
    pub(crate) prestart_actions: Vec<ActionSpec>,
    /// Extra environment (keys and values interpolated).
    #[serde(default)]
    pub(crate) env: Ordered,
    /// Environment variables a user may pass.
    #[serde(default)]
    pub(crate) allowed_envs: Vec<String>,
    /// Arguments a user may pass.
    #[serde(default)]
    pub(crate) allowed_arguments: Vec<String>,
    /// Arguments always appended (user arguments override them).
    #[serde(default)]
    pub(crate) default_arguments: Ordered,
}

impl Definition {
    /// Parses a definition from JSON text.
    pub(crate) fn parse(text: &str) -> Result<Self, DefinitionError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| DefinitionError::Invalid(format!("not valid JSON: {e}")))?;
        if value.get("prestart").is_some() && value.get("prestart_actions").is_some() {
            return Err(DefinitionError::Invalid(
                "both \"prestart\" and \"prestart_actions\" are given".into(),
            ));
        }
        // Parsed from the text (not the Value) so argument order survives.
        let def: Definition =
            serde_json::from_str(text).map_err(|e| DefinitionError::Invalid(e.to_string()))?;
        for (name, value) in &def.default_arguments.0 {
            if !argument_value_ok(value) {
                return Err(DefinitionError::Invalid(format!(
                    "default argument {name} must be null, a string or a list of strings"
                )));
            }
        }
        for (name, value) in &def.env.0 {
            if !value.is_string() {
                return Err(DefinitionError::Invalid(format!(
                    "env {name} must be a string"
                )));
            }
        }
        Ok(def)
    }

    /// The `get-apps` entry for this service: optional keys only when non-empty.
    pub(crate) fn app_entry(&self, name: &str) -> Value {
        let mut entry = serde_json::Map::new();
        entry.insert("name".into(), Value::String(name.to_owned()));
        if !self.url_template.is_empty() {
            entry.insert("url_template".into(), self.url_template.clone().into());
        }
        if !self.allowed_arguments.is_empty() {
            entry.insert(
                "allowed_arguments".into(),
                self.allowed_arguments.clone().into(),
            );
        }
        if !self.allowed_envs.is_empty() {
            entry.insert("allowed_envs".into(), self.allowed_envs.clone().into());
        }
        Value::Object(entry)
    }

    /// The argv template before interpolation (`path` is the child's `PATH`, for the shell).
    pub(crate) fn base_argv(&self, path: &str) -> Result<Vec<String>, DefinitionError> {
        match &self.command {
            CommandSpec::Argv(argv) => Ok(argv.clone()),
            CommandSpec::Script(script) => match self.shell.as_deref() {
                Some(shell) if !shell.is_empty() => {
                    let shell = krunner_plugin_api::util::which_in(shell, path)
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| shell.to_owned());
                    Ok(vec![shell, "-c".into(), script.clone()])
                }
                _ => shlex::split(script).map_err(|e| DefinitionError::Invalid(e.to_string())),
            },
        }
    }
}

pub(crate) fn argument_value_ok(value: &Value) -> bool {
    match value {
        Value::Null | Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
        Value::Array(items) => items.iter().all(|v| !v.is_array() && !v.is_object()),
        Value::Object(_) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn malformed_definitions_are_errors_not_panics() {
        for text in [
            "{oops",
            "[]",
            r#"{"command": ["x"], "unknown": 1}"#,
            r#"{"shell": "bash"}"#,
            r#"{"command": 5}"#,
            r#"{"command": ["x"], "prestart": [], "prestart_actions": []}"#,
            r#"{"command": ["x"], "default_arguments": {"--a": {"b": 1}}}"#,
            r#"{"command": ["x"], "prestart": [{"action": "log", "extra": 1}]}"#,
        ] {
            let err = Definition::parse(text).unwrap_err();
            assert!(
                err.to_string().starts_with("InvalidServiceDefinition("),
                "{text}: {err}"
            );
        }
    }
}
