//! A definition made concrete for one start: the user's arguments and environment checked
//! against what the definition allows, and every template expanded (docs/protocol.md §6.6,
//! §6.7).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{argument_value_ok, Definition, DefinitionError, Ordered};
use crate::services::interpolate::{self, Style, Variables};

/// The user's `options` from a `start-service` payload.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct UserOptions {
    /// `--name: value` pairs, in payload order.
    pub(crate) arguments: Ordered,
    /// Environment variables.
    pub(crate) envs: Ordered,
}

/// A definition made concrete for one start: everything but the prestart actions' effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prepared {
    /// The final argv.
    pub(crate) argv: Vec<String>,
    /// Environment added to the child environment.
    pub(crate) env: BTreeMap<String, String>,
}

/// Applies docs/protocol.md §6.7 and interpolation: the def's command plus default arguments are
/// templates; user argument values are taken literally (they are data, not templates, so a
/// user's JSON value never needs escaping). User envs must be allowed and must not replace a
/// session variable (`frozen`); the def's env is applied after them.
pub(crate) fn prepare(
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
    for argument in arguments(service, def, options)? {
        argument.push_onto(&mut argv, vars)?;
    }
    let mut env = user_env(service, def, options, frozen)?;
    for (key, value) in &def.env.0 {
        let key = interpolate::interpolate(key, vars, Style::Command)?;
        let value = interpolate::interpolate(&interpolate::to_str(value), vars, Style::Command)?;
        env.insert(key, value);
    }
    Ok(Prepared { argv, env })
}

/// One `--name value` argument.
struct Argument {
    name: String,
    value: Value,
    /// Whether it comes from the definition (a template) or from the user (literal).
    template: bool,
}

impl Argument {
    fn push_onto(self, argv: &mut Vec<String>, vars: &Variables) -> Result<(), DefinitionError> {
        let expand = |s: String| -> Result<String, DefinitionError> {
            if self.template {
                Ok(interpolate::interpolate(&s, vars, Style::Command)?)
            } else {
                Ok(s)
            }
        };
        argv.push(expand(self.name.clone())?);
        match self.value {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    argv.push(expand(interpolate::to_str(&item))?);
                }
            }
            other => argv.push(expand(interpolate::to_str(&other))?),
        }
        Ok(())
    }
}

/// The definition's default arguments, overridden and extended by the user's, in order.
fn arguments(
    service: &str,
    def: &Definition,
    options: &UserOptions,
) -> Result<Vec<Argument>, DefinitionError> {
    let mut arguments: Vec<Argument> = def
        .default_arguments
        .0
        .iter()
        .map(|(k, v)| Argument {
            name: k.clone(),
            value: v.clone(),
            template: true,
        })
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
        let user = Argument {
            name: name.clone(),
            value: value.clone(),
            template: false,
        };
        match arguments.iter_mut().find(|a| a.name == *name) {
            Some(slot) => *slot = user,
            None => arguments.push(user),
        }
    }
    Ok(arguments)
}

/// The user's environment variables, each allowed by the definition and not replacing one of
/// the session's (`frozen`).
fn user_env(
    service: &str,
    def: &Definition,
    options: &UserOptions,
    frozen: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<String, String>, DefinitionError> {
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
    Ok(env)
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
    }
}
