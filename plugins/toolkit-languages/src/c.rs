//! The `c` runner: `main.c` projects built with gcc (or the given compiler), and C snippets.

use krunner_toolkit::cfamily::{CFamilyRunner, Flavor};

krunner_toolkit::language_kernel!(
    CKernel,
    CFamilyRunner,
    Flavor {
        language: "c",
        compiler: "gcc",
        main_file: "main.c",
        extensions: &["c"],
        description: "C: build *.c into ./main with gcc; snippets compiled privately",
        hello: "#include <stdio.h>\nint main(void) { printf(\"hello, world\\n\"); return 0; }\n",
    }
);
