//! The `scheme` runner: `main.scm` and snippets with whichever Scheme the image has — GNU
//! Guile, MIT/GNU Scheme or Chez Scheme, each invoked its own way. The original runner piped
//! the file into `scheme --quiet` and reported no exit code at all; here the program's exit
//! status is the task's exit code.

use std::path::Path;

use krunner_toolkit::script::{no_prelude, no_setup, Flavor, ScriptRunner};
use krunner_toolkit::Lang;

fn argv(lang: &Lang, interpreter: &str, file: &str) -> Vec<String> {
    let name = Path::new(interpreter)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let interp = interpreter.to_owned();
    let file = file.to_owned();
    let mit = || {
        vec![
            interp.clone(),
            "--quiet".into(),
            "--load".into(),
            file.clone(),
            "--eval".into(),
            "(exit)".into(),
        ]
    };
    let chez = || vec![interp.clone(), "--script".into(), file.clone()];
    if name.starts_with("guile") {
        vec![interp, "--no-auto-compile".into(), file]
    } else if name.starts_with("mit-scheme") {
        mit()
    } else if name == "scheme" {
        // Both MIT/GNU Scheme and Chez Scheme install a `scheme` binary.
        let version = lang.capture([interpreter, "--version"]).unwrap_or_default();
        if format!("{}{}", version.stdout, version.stderr).contains("MIT") {
            mit()
        } else {
            chez()
        }
    } else if name.starts_with("chez") || name.starts_with("petite") {
        chez()
    } else {
        vec![interp, file]
    }
}

krunner_toolkit::language_kernel!(
    SchemeKernel,
    ScriptRunner,
    Flavor {
        language: "scheme",
        interpreters: &["guile", "guile-3.0", "scheme", "mit-scheme", "chezscheme"],
        main_files: &["main.scm"],
        extension: "scm",
        description: "Scheme: main.scm and snippets with guile, mit-scheme or chez",
        argv,
        prelude: no_prelude,
        setup: no_setup,
        hello: "(display \"hello, world\")\n(newline)\n",
        exit3: "(exit 3)\n",
    }
);
