//! Prestart actions of service definitions (`write_file`, `write_tempfile`, `mkdir`,
//! `run_command`, `log`), run in order before every start (docs/protocol.md §6.8).
//!
//! They keep upstream's observable behaviour (arguments are `str.format_map` templates,
//! `write_file` adds a newline per line and defaults to mode 644, `write_tempfile` writes lines
//! as given into a `.py` file and returns its path, `run_command` returns `{"out", "err"}`) and
//! fix its bugs: `append: true` appends instead of truncating, `run_command` gets the session's
//! child environment, and `log` accepts the documented `body` as well as `message`.
//!
//! They are also bounded and careful with files: `run_command` keeps the first
//! [`process::KEEP`] bytes of each stream (and says so in `truncated`); `write_file` does not
//! follow a symbolic link at its path, writes only to a regular file, and sets the mode before
//! the first byte is written ([`files`]).

mod files;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use krunner_plugin_api::util::which_in;
use serde_json::{Map, Value};

use super::definition::{ActionSpec, DefinitionError};
use super::interpolate::{self, Style, Variables};
use crate::process::{self, Spawn, Tracker};

/// Where and how long the actions run.
pub(crate) struct Setting<'a> {
    /// The environment of `run_command`.
    pub(crate) env: &'a BTreeMap<String, String>,
    /// The working directory of `run_command`.
    pub(crate) cwd: Option<&'a Path>,
    /// How long one `run_command` may run before it is killed (a start must be answered).
    pub(crate) timeout: Duration,
    /// Where a running `run_command` is recorded (shutdown stops it).
    pub(crate) tracker: &'a dyn Tracker,
}

/// Runs `actions` in order, storing each `ref`'d result in `vars`.
pub(crate) fn run_all(
    actions: &[ActionSpec],
    vars: &mut Variables,
    setting: &Setting<'_>,
) -> Result<(), DefinitionError> {
    for action in actions {
        let result = run(action, vars, setting)?;
        if let Some(name) = &action.r#ref {
            vars.insert(name.clone(), result);
        }
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> DefinitionError {
    DefinitionError::Invalid(msg.into())
}

/// One action's arguments, with the variables they are templates over.
struct Args<'a> {
    action: &'a str,
    args: &'a Map<String, Value>,
    vars: &'a Variables,
}

impl Args<'_> {
    fn template(&self, value: &Value) -> Result<String, DefinitionError> {
        Ok(interpolate::interpolate(
            &interpolate::to_str(value),
            self.vars,
            Style::Format,
        )?)
    }

    fn string(&self, key: &str) -> Result<String, DefinitionError> {
        let value = self
            .args
            .get(key)
            .ok_or_else(|| invalid(format!("action {} needs the argument {key:?}", self.action)))?;
        self.template(value)
    }

    fn lines(&self, key: &str) -> Result<Vec<String>, DefinitionError> {
        match self.args.get(key) {
            Some(Value::Array(items)) => items.iter().map(|v| self.template(v)).collect(),
            Some(Value::String(s)) => Ok(vec![self.template(&Value::String(s.clone()))?]),
            Some(_) => Err(invalid(format!(
                "action {}: {key:?} must be a list of strings",
                self.action
            ))),
            None => Err(invalid(format!(
                "action {} needs the argument {key:?}",
                self.action
            ))),
        }
    }

    fn flag(&self, key: &str) -> Result<bool, DefinitionError> {
        match self.args.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(invalid(format!(
                "action {}: {key:?} must be true or false, not {other}",
                self.action
            ))),
        }
    }

    fn mode(&self) -> Result<u32, DefinitionError> {
        let text = match self.args.get("mode") {
            None | Some(Value::Null) => "644".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(invalid(format!(
                    "action {}: mode must be an octal string, not {other}",
                    self.action
                )))
            }
        };
        u32::from_str_radix(text.trim(), 8)
            .map_err(|_| invalid(format!("action {}: invalid mode {text:?}", self.action)))
    }

    fn only(&self, allowed: &[&str]) -> Result<(), DefinitionError> {
        match self.args.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(invalid(format!(
                "action {} got an unexpected argument {k:?}",
                self.action
            ))),
            None => Ok(()),
        }
    }
}

fn io_error(action: &str, what: &str, e: std::io::Error) -> DefinitionError {
    invalid(format!("action {action}: {what}: {e}"))
}

fn run(
    spec: &ActionSpec,
    vars: &Variables,
    setting: &Setting<'_>,
) -> Result<Value, DefinitionError> {
    let a = Args {
        action: &spec.action,
        args: &spec.args,
        vars,
    };
    match spec.action.as_str() {
        "write_file" => files::write_file(&a),
        "write_tempfile" => files::write_tempfile(&a),
        "mkdir" => {
            a.only(&["path"])?;
            let path = a.string("path")?;
            std::fs::create_dir_all(&path).map_err(|e| io_error("mkdir", &path, e))?;
            Ok(Value::Null)
        }
        "run_command" => run_command(&a, setting),
        "log" => log(&a),
        other => Err(invalid(format!(
            "prestart action {other:?} is not one of write_file, write_tempfile, mkdir, run_command, log (used invalid action: {other})"
        ))),
    }
}

/// `run_command`: runs with the user processes' environment, within the start's budget;
/// returns `{"out", "err", "truncated"}`, each stream cut at [`process::KEEP`] bytes.
fn run_command(a: &Args<'_>, setting: &Setting<'_>) -> Result<Value, DefinitionError> {
    a.only(&["command", "echo"])?;
    let argv = a.lines("command")?;
    let echo = a.flag("echo")?;
    let Some((program, rest)) = argv.split_first() else {
        return Err(invalid("action run_command: the command is empty"));
    };
    let path = setting
        .env
        .get("PATH")
        .map(String::as_str)
        .unwrap_or_default();
    let spawn = Spawn {
        program: which_in(program, path).unwrap_or_else(|| PathBuf::from(program)),
        args: rest.to_vec(),
        env: setting.env.clone(),
        cwd: setting.cwd.map(Path::to_path_buf),
        ..Spawn::default()
    };
    let shown = spawn.program.display().to_string();
    let output = process::collect_within(&spawn, setting.timeout, process::KEEP, setting.tracker)
        .map_err(|e| io_error("run_command", &shown, e))?;
    if echo {
        let _ = std::io::stdout().write_all(&output.stdout.bytes);
        let _ = std::io::stderr().write_all(&output.stderr.bytes);
    }
    if !output.status.success() {
        tracing::info!("prestart command {shown} exited with {}", output.status);
    }
    let truncated = output.truncated();
    if truncated {
        tracing::warn!(
            "prestart command {shown} printed more than {} bytes on a stream; kept the first ({} and {} bytes discarded)",
            process::KEEP,
            output.stdout.dropped,
            output.stderr.dropped
        );
    }
    let mut result = Map::new();
    let text = |bytes: Vec<u8>| -> Value {
        match String::from_utf8(bytes) {
            Ok(s) => s.into(),
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned().into(),
        }
    };
    result.insert("out".into(), text(output.stdout.bytes));
    result.insert("err".into(), text(output.stderr.bytes));
    result.insert("truncated".into(), truncated.into());
    Ok(Value::Object(result))
}

/// `log`: `message` (or the documented `body`) to the host's log.
fn log(a: &Args<'_>) -> Result<Value, DefinitionError> {
    a.only(&["message", "body", "debug"])?;
    let message = if a.args.contains_key("message") {
        a.string("message")?
    } else {
        a.string("body")?
    };
    if a.flag("debug")? {
        tracing::debug!("{message}");
    } else {
        tracing::info!("{message}");
    }
    Ok(Value::Null)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    pub(super) fn action(v: Value) -> ActionSpec {
        serde_json::from_value(v).unwrap()
    }

    pub(super) fn setting(env: &BTreeMap<String, String>, timeout_ms: u64) -> Setting<'_> {
        Setting {
            env,
            cwd: None,
            timeout: Duration::from_millis(timeout_ms),
            tracker: &process::Untracked,
        }
    }

    pub(super) fn path_env() -> BTreeMap<String, String> {
        [("PATH".to_owned(), "/usr/bin:/bin".to_owned())].into()
    }

    #[test]
    fn run_command_keeps_a_bounded_part_of_its_output() {
        let mut vars = Variables::new();
        let big = process::KEEP + 3_000_000;
        let actions = [
            action(json!({"action": "run_command", "ref": "big",
                "args": {"command": ["sh", "-c", format!("head -c {big} /dev/zero; echo done >&2")]}})),
            action(
                json!({"action": "run_command", "ref": "small", "args": {"command": ["echo", "hi"]}}),
            ),
        ];
        run_all(&actions, &mut vars, &setting(&path_env(), 30_000)).unwrap();
        assert_eq!(vars["big"]["out"].as_str().unwrap().len(), process::KEEP);
        assert_eq!(vars["big"]["err"], "done\n");
        assert_eq!(vars["big"]["truncated"], true);
        assert_eq!(
            vars["small"],
            json!({"out": "hi\n", "err": "", "truncated": false})
        );
    }

    #[test]
    fn file_actions_and_refs() {
        let dir = tempfile_dir();
        let file = dir.join("sub/conf.txt");
        let mut vars = Variables::new();
        vars.insert("ports".into(), json!([1234]));
        let env: BTreeMap<String, String> = [
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            ("MARK".to_owned(), "m1".to_owned()),
        ]
        .into();
        let actions = vec![
            action(
                json!({"action": "mkdir", "args": {"path": dir.join("sub").display().to_string()}}),
            ),
            action(
                json!({"action": "write_file", "args": {"filename": file.display().to_string(), "body": ["port={ports[0]}", "{{x}}"]}}),
            ),
            action(
                json!({"action": "write_file", "args": {"filename": file.display().to_string(), "body": ["more"], "append": true, "mode": "600"}}),
            ),
            action(
                json!({"action": "write_tempfile", "args": {"body": ["a\n", "b\n"]}, "ref": "tmp"}),
            ),
            action(
                json!({"action": "run_command", "args": {"command": ["sh", "-c", "printf %s \"$MARK\""]}, "ref": "cmd"}),
            ),
            action(json!({"action": "log", "args": {"body": "started {ports[0]}"}})),
        ];
        run_all(&actions, &mut vars, &setting(&env, 10_000)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "port=1234\n{x}\nmore\n"
        );
        let mode = PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions()) & 0o777;
        assert_eq!(mode, 0o600);
        let tmp = vars["tmp"].as_str().unwrap().to_owned();
        assert!(tmp.ends_with(".py"));
        assert_eq!(std::fs::read_to_string(&tmp).unwrap(), "a\nb\n");
        assert_eq!(vars["cmd"]["out"], "m1");
        let _ = std::fs::remove_file(tmp);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_actions_are_errors() {
        let mut vars = Variables::new();
        let env = BTreeMap::new();
        for a in [
            json!({"action": "format_disk"}),
            json!({"action": "mkdir", "args": {}}),
            json!({"action": "mkdir", "args": {"path": "/tmp/x", "extra": 1}}),
            json!({"action": "log", "args": {"message": "{undefined}"}}),
            json!({"action": "run_command", "args": {"command": []}}),
        ] {
            let err = run_all(&[action(a.clone())], &mut vars, &setting(&env, 10_000)).unwrap_err();
            assert!(
                err.to_string().starts_with("InvalidServiceDefinition("),
                "{a}: {err}"
            );
        }
    }

    #[test]
    fn a_hanging_command_is_killed() {
        let env: BTreeMap<String, String> =
            [("PATH".to_owned(), "/usr/bin:/bin".to_owned())].into();
        let started = Instant::now();
        let err = run_all(
            &[action(
                json!({"action": "run_command", "args": {"command": ["sleep", "30"]}}),
            )],
            &mut Variables::new(),
            &setting(&env, 300),
        )
        .unwrap_err();
        assert!(err.to_string().contains("still running"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    pub(super) fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "krunner-actions-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
