//! The `r` runner: `main.R` and snippets run with `Rscript`.

use krunner_toolkit::script::{no_prelude, no_setup, plain_argv, Flavor, ScriptRunner};

krunner_toolkit::language_kernel!(
    RKernel,
    ScriptRunner,
    Flavor {
        language: "r",
        interpreters: &["Rscript"],
        main_files: &["main.R", "main.r"],
        extension: "R",
        description: "R: main.R and snippets with Rscript",
        argv: plain_argv,
        prelude: no_prelude,
        setup: no_setup,
        hello: "cat(\"hello, world\\n\")\n",
        exit3: "quit(status = 3)\n",
    }
);
