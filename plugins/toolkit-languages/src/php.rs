//! The `php` runner: `main.php` and snippets run with `php`. Snippets may omit the opening
//! `<?php` tag; it is added when the code does not start with one.

use krunner_toolkit::script::{no_setup, plain_argv, Flavor, ScriptRunner};

fn prelude(code: &str) -> String {
    if code.trim_start().starts_with("<?") {
        code.to_owned()
    } else {
        format!("<?php\n\n{code}")
    }
}

krunner_toolkit::language_kernel!(
    PhpKernel,
    ScriptRunner,
    Flavor {
        language: "php",
        interpreters: &["php"],
        main_files: &["main.php"],
        extension: "php",
        description: "PHP: main.php and snippets (<?php optional) with php",
        argv: plain_argv,
        prelude,
        setup: no_setup,
        hello: "<?php\necho \"hello, world\\n\";\n",
        exit3: "exit(3);\n",
    }
);
