//! The `lua` runner: `main.lua` and snippets run with `lua` (or a versioned `lua5.x`, or
//! `luajit`, whichever the image has).

use krunner_toolkit::script::{no_prelude, no_setup, plain_argv, Flavor, ScriptRunner};

krunner_toolkit::language_kernel!(
    LuaKernel,
    ScriptRunner,
    Flavor {
        language: "lua",
        interpreters: &["lua", "lua5.4", "lua5.3", "lua5.2", "lua5.1", "luajit"],
        main_files: &["main.lua"],
        extension: "lua",
        description: "Lua: main.lua and snippets with lua",
        argv: plain_argv,
        prelude: no_prelude,
        setup: no_setup,
        hello: "print(\"hello, world\")\n",
        exit3: "os.exit(3)\n",
    }
);
