//! The `julia` runner: `main.jl` and snippets run with `julia`. Julia images install it under
//! `/opt/julia` or `/usr/local/julia`, so those directories join `PATH` and the load path.

use krunner_toolkit::script::{no_prelude, plain_argv, Flavor, ScriptRunner};
use krunner_toolkit::Lang;

fn setup(lang: &mut Lang) {
    for dir in ["/opt/julia/bin", "/usr/local/julia/bin", "/usr/local/julia"] {
        if std::path::Path::new(dir).is_dir() {
            lang.prepend_path(dir);
        }
    }
    // The trailing empty entry keeps Julia's default load path (`@`, `@v#.#`, `@stdlib`).
    let roots: Vec<&str> = ["/opt/julia", "/usr/local/julia"]
        .into_iter()
        .filter(|d| std::path::Path::new(d).is_dir())
        .collect();
    if !roots.is_empty() && !lang.host.child_env().contains_key("JULIA_LOAD_PATH") {
        lang.set_env("JULIA_LOAD_PATH", &format!("{}:", roots.join(":")));
    }
}

krunner_toolkit::language_kernel!(
    JuliaKernel,
    ScriptRunner,
    Flavor {
        language: "julia",
        interpreters: &["julia"],
        main_files: &["main.jl"],
        extension: "jl",
        description: "Julia: main.jl and snippets with julia",
        argv: plain_argv,
        prelude: no_prelude,
        setup,
        hello: "println(\"hello, world\")\n",
        exit3: "exit(3)\n",
    }
);
