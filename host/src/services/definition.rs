//! Service-definition files (`<service-def-dir>/<name>.json`) and the rules that turn one into
//! a command line: user arguments, user environment, interpolation.
//!
//! Files are read when a service is started or listed, never at startup: upstream parsed them
//! all at startup and one malformed file took the whole runner down. Here a bad file only makes
//! that one service fail, with the reason in its `service-result`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use thiserror::Error;

use super::interpolate::{self, py_repr, InterpolateError, Style, Variables};

/// Why a service could not be prepared. `Display` gives the Python `repr` the agent shows.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DefinitionError {
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
pub struct Ordered(pub Vec<(String, Value)>);

impl Ordered {
    /// Inserts or replaces `key`, keeping the position of an existing key (like `dict.update`).
    pub fn set(&mut self, key: String, value: Value) {
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
pub enum CommandSpec {
    /// An argv template.
    Argv(Vec<String>),
    /// A script.
    Script(String),
}

/// One prestart action.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// `write_file`, `write_tempfile`, `mkdir`, `run_command` or `log`.
    pub action: String,
    /// The action's arguments.
    #[serde(default)]
    pub args: serde_json::Map<String, Value>,
    /// Stores the action's result under this variable name.
    #[serde(default)]
    pub r#ref: Option<String>,
}

fn default_shell() -> Option<String> {
    Some("bash".into())
}

/// A parsed service definition (PROTOCOL.md §6.4).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The argv template or script.
    pub command: CommandSpec,
    /// The shell for script commands (`null` or empty: split the script like a shell would).
    #[serde(default = "default_shell")]
    pub shell: Option<String>,
    /// Nothing to spawn: the service is reported started.
    #[serde(default)]
    pub noop: bool,
    /// Returned by `get-apps`; the runner does not interpolate it.
    #[serde(default)]
    pub url_template: String,
    /// Actions run before every start (`prestart` is accepted as an alias).
    #[serde(default, alias = "prestart")]
    pub prestart_actions: Vec<ActionSpec>,
    /// Extra environment (keys and values interpolated).
    #[serde(default)]
    pub env: Ordered,
    /// Environment variables a user may pass.
    #[serde(default)]
    pub allowed_envs: Vec<String>,
    /// Arguments a user may pass.
    #[serde(default)]
    pub allowed_arguments: Vec<String>,
    /// Arguments always appended (user arguments override them).
    #[serde(default)]
    pub default_arguments: Ordered,
}

impl Definition {
    /// Parses a definition from JSON text.
    pub fn parse(text: &str) -> Result<Self, DefinitionError> {
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
    pub fn app_entry(&self, name: &str) -> Value {
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
    pub fn base_argv(&self, path: &str) -> Result<Vec<String>, DefinitionError> {
        match &self.command {
            CommandSpec::Argv(argv) => Ok(argv.clone()),
            CommandSpec::Script(script) => match self.shell.as_deref() {
                Some(shell) if !shell.is_empty() => {
                    let shell = krunner_plugin_api::util::which_in(shell, path)
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| shell.to_owned());
                    Ok(vec![shell, "-c".into(), script.clone()])
                }
                _ => shell_split(script).map_err(DefinitionError::Invalid),
            },
        }
    }
}

fn argument_value_ok(value: &Value) -> bool {
    match value {
        Value::Null | Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
        Value::Array(items) => items.iter().all(|v| !v.is_array() && !v.is_object()),
        Value::Object(_) => false,
    }
}

/// The user's `options` from a `start-service` payload.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct UserOptions {
    /// `--name: value` pairs, in payload order.
    pub arguments: Ordered,
    /// Environment variables.
    pub envs: Ordered,
}

/// A definition made concrete for one start: everything but the prestart actions' effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The final argv.
    pub argv: Vec<String>,
    /// Environment added to the child environment.
    pub env: BTreeMap<String, String>,
}

/// Applies PROTOCOL.md §6.7 and interpolation: the def's command plus default arguments are
/// templates; user argument values are taken literally (they are data, not templates, so a
/// user's JSON value never needs escaping). User envs must be allowed and must not replace a
/// session variable (`frozen`); the def's env is applied after them.
pub fn prepare(
    service: &str,
    def: &Definition,
    options: &UserOptions,
    vars: &Variables,
    frozen: &dyn Fn(&str) -> bool,
    path: &str,
) -> Result<Prepared, DefinitionError> {
    let mut argv = Vec::new();
    for part in def.base_argv(path)? {
        argv.push(interpolate::interpolate(&part, vars, Style::Command)?);
    }
    // (name, value, whether the value is a template)
    let mut arguments: Vec<(String, Value, bool)> = def
        .default_arguments
        .0
        .iter()
        .map(|(k, v)| (k.clone(), v.clone(), true))
        .collect();
    for (name, value) in &options.arguments.0 {
        if !def.allowed_arguments.contains(name) {
            return Err(DefinitionError::DisallowedArgument {
                name: name.clone(),
                service: service.to_owned(),
            });
        }
        if !argument_value_ok(value) {
            return Err(DefinitionError::Invalid(format!(
                "argument {name} must be null, a string or a list of strings"
            )));
        }
        match arguments.iter_mut().find(|(k, _, _)| k == name) {
            Some(slot) => {
                slot.1 = value.clone();
                slot.2 = false;
            }
            None => arguments.push((name.clone(), value.clone(), false)),
        }
    }
    for (name, value, template) in arguments {
        let expand = |s: String| -> Result<String, DefinitionError> {
            if template {
                Ok(interpolate::interpolate(&s, vars, Style::Command)?)
            } else {
                Ok(s)
            }
        };
        argv.push(expand(name)?);
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    argv.push(expand(interpolate::to_str(&item))?);
                }
            }
            other => argv.push(expand(interpolate::to_str(&other))?),
        }
    }
    let mut env = BTreeMap::new();
    for (name, value) in &options.envs.0 {
        if !def.allowed_envs.contains(name) {
            return Err(DefinitionError::DisallowedEnvironment {
                name: name.clone(),
                service: service.to_owned(),
            });
        }
        if frozen(name) {
            return Err(DefinitionError::FrozenEnvironment { name: name.clone() });
        }
        env.insert(name.clone(), interpolate::to_str(value));
    }
    for (key, value) in &def.env.0 {
        let key = interpolate::interpolate(key, vars, Style::Command)?;
        let value = interpolate::interpolate(&interpolate::to_str(value), vars, Style::Command)?;
        env.insert(key, value);
    }
    Ok(Prepared { argv, env })
}

/// Whether `name` can be a file stem in the definitions directory.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The definitions directory.
#[derive(Debug, Clone)]
pub struct DefinitionDir(pub PathBuf);

impl DefinitionDir {
    /// The file that would define `name`.
    pub fn file(&self, name: &str) -> Option<PathBuf> {
        valid_name(name).then(|| self.0.join(format!("{name}.json")))
    }

    /// Loads `name`: `None` when there is no such file.
    pub fn load(&self, name: &str) -> Option<Result<Definition, DefinitionError>> {
        let file = self.file(name)?;
        match std::fs::read_to_string(&file) {
            Ok(text) => Some(Definition::parse(&text).map_err(|e| match e {
                DefinitionError::Invalid(msg) => {
                    DefinitionError::Invalid(format!("{}: {msg}", file.display()))
                }
                other => other,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(DefinitionError::Invalid(format!(
                "cannot read {}: {e}",
                file.display()
            )))),
        }
    }

    /// Every service name with a definition file, sorted.
    pub fn names(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                (path.extension().and_then(|x| x.to_str()) == Some("json"))
                    .then(|| path.file_stem()?.to_str().map(str::to_owned))
                    .flatten()
            })
            .filter(|n| valid_name(n))
            .collect();
        names.sort();
        names
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Splits a command line like Python's `shlex.split` (POSIX mode, no comments).
pub fn shell_split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('\\' | '"' | '$' | '`' | '\n')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("No escaped character".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Variables {
        let mut v = Variables::new();
        v.insert("ports".into(), json!([9000]));
        v.insert("runtime_path".into(), json!("/usr/bin/python3"));
        v
    }

    #[test]
    fn parses_every_field_and_keeps_argument_order() {
        let def = Definition::parse(
            r#"{"command": ["{runtime_path}", "-m", "app", "--port", "{ports[0]}"],
                "url_template": "{protocol}://{host}:{port}/",
                "prestart": [{"action": "mkdir", "args": {"path": "/tmp/x"}, "ref": "d"}],
                "env": {"APP_PORT": "{ports[0]}"},
                "allowed_envs": ["PASSWORD"],
                "allowed_arguments": ["--zeta", "--alpha", "--flag"],
                "default_arguments": {"--zeta": "1", "--alpha": ["a", "b"]}}"#,
        )
        .unwrap();
        assert_eq!(def.prestart_actions.len(), 1);
        assert_eq!(def.shell.as_deref(), Some("bash"));
        let options: UserOptions = serde_json::from_value(json!({
            "arguments": {"--flag": null, "--zeta": "2"},
            "envs": {"PASSWORD": "pw"}
        }))
        .unwrap();
        let p = prepare("app", &def, &options, &vars(), &|_| false, "/bin").unwrap();
        assert_eq!(
            p.argv,
            [
                "/usr/bin/python3",
                "-m",
                "app",
                "--port",
                "9000",
                "--zeta",
                "2",
                "--alpha",
                "a",
                "b",
                "--flag"
            ]
        );
        assert_eq!(p.env.get("APP_PORT").map(String::as_str), Some("9000"));
        assert_eq!(p.env.get("PASSWORD").map(String::as_str), Some("pw"));
        assert_eq!(
            def.app_entry("app"),
            json!({"name": "app", "url_template": "{protocol}://{host}:{port}/",
                   "allowed_arguments": ["--zeta", "--alpha", "--flag"],
                   "allowed_envs": ["PASSWORD"]})
        );
    }

    #[test]
    fn argument_and_env_rules() {
        let def = Definition::parse(
            r#"{"command": ["x"], "allowed_arguments": ["--ok"], "allowed_envs": ["OK", "HOME"],
                "env": {"OK": "from-def"}}"#,
        )
        .unwrap();
        let opts = |v: Value| -> UserOptions { serde_json::from_value(v).unwrap() };
        let frozen = |n: &str| n == "HOME";
        let rejected = |options: Value| {
            prepare("svc", &def, &opts(options), &vars(), &frozen, "")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            rejected(json!({"arguments": {"--foo": "1"}})),
            "DisallowedArgument('Argument --foo not allowed for service svc')"
        );
        assert_eq!(
            rejected(json!({"envs": {"NOPE": "1"}})),
            "DisallowedEnvironment('Environment variable NOPE not allowed for service svc')"
        );
        assert_eq!(
            rejected(json!({"envs": {"HOME": "/x"}})),
            "DisallowedEnvironment(\"Environment variable HOME can't be overwritten\")"
        );
        // The def's env wins over the user's; user values are literal (no interpolation).
        let p = prepare(
            "svc",
            &def,
            &opts(json!({"arguments": {"--ok": "{\"a\": 1}"}, "envs": {"OK": "user"}})),
            &vars(),
            &frozen,
            "",
        )
        .unwrap();
        assert_eq!(p.argv, ["x", "--ok", "{\"a\": 1}"]);
        assert_eq!(p.env.get("OK").map(String::as_str), Some("from-def"));
    }

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

    #[test]
    fn script_commands() {
        let def =
            Definition::parse(r#"{"command": "echo {ports[0]} ${HOME}", "shell": "sh"}"#).unwrap();
        let p = prepare(
            "s",
            &def,
            &UserOptions::default(),
            &vars(),
            &|_| false,
            "/bin:/usr/bin",
        )
        .unwrap();
        assert!(p.argv[0].ends_with("/sh"), "{:?}", p.argv);
        assert_eq!(&p.argv[1..], ["-c", "echo 9000 ${HOME}"]);
        let def = Definition::parse(r#"{"command": "run 'a b' \"c\\\"d\" e\\ f", "shell": null}"#)
            .unwrap();
        assert_eq!(def.base_argv("").unwrap(), ["run", "a b", "c\"d", "e f"]);
        assert!(shell_split("'open").is_err());
    }

    #[test]
    fn names_are_file_stems_only() {
        assert!(valid_name("jupyter-lab_2"));
        assert!(!valid_name("../etc/passwd"));
        assert!(!valid_name(""));
        assert!(!valid_name(".hidden"));
    }
}
