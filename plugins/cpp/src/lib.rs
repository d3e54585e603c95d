//! The `cpp` runner: `main.cpp` projects built with g++ (or the given compiler), and C++
//! snippets.

krunner_toolkit::cfamily_plugin!(
    CppKernel,
    krunner_toolkit::cfamily::Flavor {
        language: "cpp",
        compiler: "g++",
        main_file: "main.cpp",
        extensions: &["cpp", "cc", "cxx"],
        description: "C++: build *.cpp into ./main with g++; snippets compiled privately",
        hello: "#include <iostream>\nint main() { std::cout << \"hello, world\" << std::endl; }\n",
    }
);
