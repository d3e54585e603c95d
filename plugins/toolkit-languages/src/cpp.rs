//! The `cpp` runner: `main.cpp` projects built with g++ (or the given compiler), and C++
//! snippets.

use krunner_toolkit::cfamily::{CFamilyRunner, Flavor};

krunner_toolkit::language_kernel!(
    CppKernel,
    CFamilyRunner,
    Flavor {
        language: "cpp",
        compiler: "g++",
        main_file: "main.cpp",
        extensions: &["cpp", "cc", "cxx"],
        description: "C++: build *.cpp into ./main with g++; snippets compiled privately",
        hello: "#include <iostream>\nint main() { std::cout << \"hello, world\" << std::endl; }\n",
    }
);
