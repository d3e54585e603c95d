//! Which kernel serves which plugin: the languages table, and `KRUNNER_JUPYTER`.
//!
//! A language plugin's query mode uses an installed kernel whose kernelspec `language` is one
//! of its own (case-insensitively; the first such kernel by name). `KRUNNER_JUPYTER` in the
//! runner's environment or `environ.txt` chooses otherwise: `off` keeps the plugin's own
//! query mode, a kernel name uses that kernel, and `auto` (the default) uses a kernel of the
//! language when one is installed. python and nodejs keep their own stateful sessions (faster,
//! and with their own input and interrupt semantics) unless `KRUNNER_JUPYTER` is set.

use std::collections::BTreeMap;

use crate::spec::KernelSpec;

/// The variable that chooses.
pub const VARIABLE: &str = "KRUNNER_JUPYTER";

/// Each plugin and the kernelspec languages it takes.
const PLUGINS: &[(&str, &[&str])] = &[
    ("python", &["python", "python3"]),
    ("r", &["r"]),
    ("octave", &["octave"]),
    ("julia", &["julia"]),
    ("nodejs", &["javascript"]),
    ("lua", &["lua"]),
    ("php", &["php"]),
    ("scheme", &["scheme"]),
];

/// Plugins whose own query mode is stateful: they use a kernel only when asked to.
const OWN_SESSION: &[&str] = &["python", "nodejs"];

/// The plugin whose query mode would use a kernel of `language`.
pub fn plugin_for(language: &str) -> Option<&'static str> {
    let language = language.to_lowercase();
    PLUGINS
        .iter()
        .find(|(_, langs)| langs.contains(&language.as_str()))
        .map(|(p, _)| *p)
}

/// Whether `plugin` keeps its own session unless `KRUNNER_JUPYTER` is set.
pub fn own_session_by_default(plugin: &str) -> bool {
    OWN_SESSION.contains(&plugin)
}

/// What `KRUNNER_JUPYTER` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// A kernel of the plugin's language if one is installed.
    Auto,
    /// The plugin's own query mode.
    Off,
    /// This kernel.
    Kernel(String),
}

impl Choice {
    /// The choice in `env`; `None` when the variable is unset or empty.
    pub fn from_env(env: &BTreeMap<String, String>) -> Option<Self> {
        let value = env.get(VARIABLE)?.trim();
        Some(match value.to_lowercase().as_str() {
            "" => return None,
            "auto" => Self::Auto,
            "off" | "none" | "0" | "no" | "false" => Self::Off,
            _ => Self::Kernel(value.to_owned()),
        })
    }

    /// The choice for `plugin` in `env`, with the plugin's default when unset.
    pub fn for_plugin(plugin: &str, env: &BTreeMap<String, String>) -> Self {
        Self::from_env(env).unwrap_or(if own_session_by_default(plugin) {
            Self::Off
        } else {
            Self::Auto
        })
    }
}

/// The outcome of choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    /// Serve queries through this kernel.
    Kernel(KernelSpec),
    /// The plugin's own query mode.
    Own,
    /// The named kernel is not installed (the message says which are).
    Missing(String),
}

/// Finds the kernel named `name` (case-insensitively) among `found`.
pub fn by_name<'a>(found: &'a [KernelSpec], name: &str) -> Option<&'a KernelSpec> {
    let name = name.to_lowercase();
    found.iter().find(|k| k.name == name)
}

/// A list of kernel names for messages (`none` when empty).
pub fn names(found: &[KernelSpec]) -> String {
    if found.is_empty() {
        return "none".into();
    }
    found
        .iter()
        .map(|k| format!("{} ({})", k.name, k.language))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What serves `plugin`'s queries under `choice`, among the installed kernels `found`.
pub fn select(plugin: &str, choice: &Choice, found: &[KernelSpec]) -> Selected {
    match choice {
        Choice::Off => Selected::Own,
        Choice::Kernel(name) => match by_name(found, name) {
            Some(k) => Selected::Kernel(k.clone()),
            None => Selected::Missing(format!(
                "{VARIABLE}={name}, but no Jupyter kernel of that name is installed (installed: {})",
                names(found)
            )),
        },
        Choice::Auto => found
            .iter()
            .find(|k| plugin_for(&k.language) == Some(plugin))
            .map_or(Selected::Own, |k| Selected::Kernel(k.clone())),
    }
}

/// How `exec *` of the generic runner runs a main file for a kernel's language: the main
/// files looked for and the interpreter (the kernel's own Python for Python kernels).
pub fn batch_command(spec: &KernelSpec) -> Option<(&'static [&'static str], Vec<String>)> {
    let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Some(match spec.language.to_lowercase().as_str() {
        "python" | "python3" => (&["main.py"], vec![python_of(spec)]),
        "r" => (&["main.R", "main.r"], v(&["Rscript"])),
        "bash" => (&["main.sh"], v(&["bash"])),
        "octave" => (&["main.m"], v(&["octave-cli", "--quiet"])),
        "javascript" => (&["main.js"], v(&["node"])),
        "julia" => (&["main.jl"], v(&["julia"])),
        "lua" => (&["main.lua"], v(&["lua"])),
        "php" => (&["main.php"], v(&["php"])),
        _ => return None,
    })
}

/// The Python of a Python kernel: its argv's program when that is a Python, else `python3`.
fn python_of(spec: &KernelSpec) -> String {
    let program = &spec.argv[0];
    let base = program.rsplit('/').next().unwrap_or_default();
    if base.starts_with("python") {
        program.clone()
    } else {
        "python3".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::InterruptMode;

    fn spec(name: &str, language: &str) -> KernelSpec {
        KernelSpec {
            name: name.into(),
            dir: format!("/k/{name}").into(),
            argv: vec!["k".into()],
            display_name: name.into(),
            language: language.into(),
            interrupt_mode: InterruptMode::Signal,
            env: BTreeMap::new(),
        }
    }

    fn env(value: &str) -> BTreeMap<String, String> {
        [(VARIABLE.to_owned(), value.to_owned())].into()
    }

    #[test]
    fn choices_and_defaults() {
        let none = BTreeMap::new();
        assert_eq!(Choice::for_plugin("r", &none), Choice::Auto);
        assert_eq!(Choice::for_plugin("python", &none), Choice::Off);
        assert_eq!(Choice::for_plugin("nodejs", &none), Choice::Off);
        assert_eq!(Choice::for_plugin("python", &env("auto")), Choice::Auto);
        assert_eq!(Choice::for_plugin("r", &env("OFF")), Choice::Off);
        assert_eq!(
            Choice::for_plugin("r", &env(" ir ")),
            Choice::Kernel("ir".into())
        );
        assert_eq!(Choice::for_plugin("r", &env("")), Choice::Auto);
    }

    #[test]
    fn selection() {
        let found = [
            spec("bash", "bash"),
            spec("ir", "R"),
            spec("python3", "python"),
        ];
        assert_eq!(
            select("r", &Choice::Auto, &found),
            Selected::Kernel(spec("ir", "R"))
        );
        assert_eq!(select("lua", &Choice::Auto, &found), Selected::Own);
        assert_eq!(select("r", &Choice::Off, &found), Selected::Own);
        assert_eq!(
            select("r", &Choice::Kernel("Bash".into()), &found),
            Selected::Kernel(spec("bash", "bash"))
        );
        let Selected::Missing(why) = select("r", &Choice::Kernel("nope".into()), &found) else {
            panic!("not missing");
        };
        assert!(why.contains("nope") && why.contains("ir (R)"), "{why}");
        assert_eq!(plugin_for("JavaScript"), Some("nodejs"));
        assert_eq!(plugin_for("bash"), None);
    }

    #[test]
    fn batch_commands_by_language() {
        let mut py = spec("python3", "python");
        py.argv = vec!["/venv/bin/python3.11".into(), "-m".into()];
        assert_eq!(
            batch_command(&py),
            Some((&["main.py"][..], vec!["/venv/bin/python3.11".to_owned()]))
        );
        assert!(batch_command(&spec("tslab", "typescript")).is_none());
        assert_eq!(
            batch_command(&spec("ir", "R")).map(|b| b.0),
            Some(&["main.R", "main.r"][..])
        );
    }
}
