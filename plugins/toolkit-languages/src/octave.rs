//! The `octave` runner: `main.m` and snippets run with `octave-cli` (the original runner
//! checked for `main.js` before running `main.m`; this one checks the file it runs).

use krunner_toolkit::script::{no_prelude, no_setup, Flavor, ScriptRunner};
use krunner_toolkit::Lang;

fn argv(_lang: &Lang, interpreter: &str, file: &str) -> Vec<String> {
    vec![interpreter.to_owned(), "--quiet".into(), file.to_owned()]
}

krunner_toolkit::language_kernel!(
    OctaveKernel,
    ScriptRunner,
    Flavor {
        language: "octave",
        interpreters: &["octave-cli", "octave"],
        main_files: &["main.m"],
        extension: "m",
        description: "GNU Octave: main.m and snippets with octave-cli",
        argv,
        prelude: no_prelude,
        setup: no_setup,
        hello: "printf(\"hello, world\\n\");\n",
        exit3: "exit(3);\n",
    }
);
