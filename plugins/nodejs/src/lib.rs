//! The `nodejs` runner: `main.js` and snippets run with `node`. Each snippet is its own
//! process (state does not carry over between `code` ops).

use krunner_interp::script::{no_prelude, no_setup, plain_argv};

krunner_interp::script_plugin!(
    NodejsKernel,
    krunner_interp::Script {
        language: "nodejs",
        interpreters: &["node", "nodejs"],
        main_files: &["main.js"],
        extension: "js",
        description: "Node.js: main.js and snippets with node",
        argv: plain_argv,
        prelude: no_prelude,
        setup: no_setup,
        hello: "console.log(\"hello, world\");\n",
        exit3: "process.exit(3);\n",
    }
);
