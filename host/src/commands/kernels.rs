//! `krunner kernels`: the Jupyter kernels the runners would find (by Jupyter's rules, in the
//! environment user processes get, `environ.txt` included) and which runner would use each:
//! the language plugin whose query mode it serves (under `KRUNNER_JUPYTER` as set), and the
//! generic `jupyter` runner, which can use any of them.

use std::path::Path;
use std::time::Duration;

use krunner_jupyter::select::{plugin_for, select, Choice, Selected};
use krunner_jupyter::spec::InterruptMode;
use krunner_jupyter::{Installed, KernelSpec};
use serde::Serialize;

use crate::child_env::ChildEnv;
use crate::process::{self, Spawn};

/// One kernel in the listing.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    language: String,
    display_name: String,
    dir: String,
    interrupt_mode: &'static str,
    /// The language plugin whose query mode takes kernels of this language.
    plugin: Option<&'static str>,
    /// Whether that plugin uses this kernel under the current `KRUNNER_JUPYTER`.
    plugin_uses_it: bool,
    /// A sentence for people.
    used_by: String,
}

#[derive(Debug, Serialize)]
struct Listing {
    dirs: Vec<String>,
    kernels: Vec<Row>,
    problems: Vec<(String, String)>,
}

/// The `sys.prefix` of the `python3` on the child's `PATH`.
fn python_prefix(env: &ChildEnv) -> Option<String> {
    let python = krunner_plugin_api::util::which_in("python3", env.get("PATH")?)?;
    let spawn = Spawn {
        program: python,
        args: vec!["-c".into(), "import sys; print(sys.prefix)".into()],
        env: env.vars().clone(),
        ..Spawn::default()
    };
    let out = process::output_within(&spawn, Duration::from_secs(10)).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn row(spec: &KernelSpec, installed: &[KernelSpec], env: &ChildEnv) -> Row {
    let plugin = plugin_for(&spec.language);
    let chosen = plugin.is_some_and(|p| {
        let choice = Choice::for_plugin(p, env.vars());
        matches!(select(p, &choice, installed), Selected::Kernel(k) if k.name == spec.name)
    });
    let generic = format!("`krunner jupyter {}`", spec.name);
    let used_by = match plugin {
        Some(p) if chosen => format!("{p} (queries), {generic}"),
        Some(p) => format!("{p} with KRUNNER_JUPYTER={}, {generic}", spec.name),
        None => generic,
    };
    Row {
        name: spec.name.clone(),
        language: spec.language.clone(),
        display_name: spec.display_name.clone(),
        dir: spec.dir.display().to_string(),
        interrupt_mode: match spec.interrupt_mode {
            InterruptMode::Signal => "signal",
            InterruptMode::Message => "message",
        },
        plugin,
        plugin_uses_it: chosen,
        used_by,
    }
}

/// Prints the listing.
pub(crate) fn list(config_dir: &Path, json: bool) {
    let (env, _) = ChildEnv::build(ChildEnv::process_env(), config_dir);
    let prefix = python_prefix(&env);
    let installed = Installed::find(env.vars(), prefix.as_deref());
    let listing = Listing {
        dirs: installed
            .dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect(),
        kernels: installed
            .kernels
            .iter()
            .map(|k| row(k, &installed.kernels, &env))
            .collect(),
        problems: installed
            .problems
            .iter()
            .map(|p| (p.path.display().to_string(), p.reason.clone()))
            .collect(),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&listing).unwrap_or_else(|_| "{}".into())
        );
        return;
    }
    println!("jupyter data directories: {}", listing.dirs.join(":"));
    if listing.kernels.is_empty() {
        println!("no Jupyter kernels found");
    } else {
        println!(
            "{:<14} {:<12} {:<9} {:<44} DIRECTORY",
            "KERNEL", "LANGUAGE", "INTERRUPT", "USED BY"
        );
    }
    for k in &listing.kernels {
        println!(
            "{:<14} {:<12} {:<9} {:<44} {}",
            k.name, k.language, k.interrupt_mode, k.used_by, k.dir
        );
    }
    for (path, reason) in &listing.problems {
        println!("unusable: {path}: {reason}");
    }
}
