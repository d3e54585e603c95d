//! The languages built on `krunner-toolkit`, in one plugin file.
//!
//! Thirteen languages share almost all of their code (the toolkit, the plugin SDK, the Jupyter
//! bridge and the standard library), and each is only a little of its own: a flavor of the
//! C-family or script runner, or a short kernel of its own (golang, haskell, java, nodejs,
//! rust). One file per language would ship that shared code thirteen times; this file ships it
//! once and is installed once per language, as hard links named `libkernel_<language>.so`.
//! The host picks the kernel the file name names (plugin-api 1.4, `export_plugins!`).
//!
//! Each module is one language, with its own module doc; the C-family and script languages
//! are a `language_kernel!` line each.

mod c;
mod cpp;
mod golang;
mod haskell;
mod java;
mod julia;
mod lua;
mod nodejs;
mod octave;
mod php;
mod r;
mod rust;
mod scheme;

krunner_plugin_api::export_plugins!(
    c::CKernel,
    cpp::CppKernel,
    golang::GoKernel,
    haskell::HaskellKernel,
    java::JavaKernel,
    julia::JuliaKernel,
    lua::LuaKernel,
    nodejs::Nodejs,
    octave::OctaveKernel,
    php::PhpKernel,
    r::RKernel,
    rust::RustKernel,
    scheme::SchemeKernel,
);
