//! What the krunner languages built on it have in common, so that each language holds only what
//! makes it different. Those languages (`plugins/toolkit-languages`) ship as one plugin file.
//!
//! Every language plugin needs the same few things around the one or two commands that make it
//! a language: find the compiler or interpreter, tell the user plainly when it or the main file
//! is missing, run commands as argv vectors with the language's environment, and declare the
//! same self-tests. Two families of languages are even the same plugin with different names:
//!
//! - [`lang`]: toolchain lookup, the language's environment, and the "not found" messages
//!   (exit code 127);
//! - [`samples`]: the self-tests every language plugin declares;
//! - [`cfamily`]: the C and C++ runner (compiler, extensions and names differ);
//! - [`script`]: the runner of the "interpreter and a main file" languages (julia, lua, nodejs,
//!   octave, php, r, scheme);
//! - [`runner`]: what those two runners share, so that one macro, [`language_kernel!`], makes
//!   a plugin kernel of either: `language_kernel!(CKernel, CFamilyRunner, Flavor { ... })`.

pub mod cfamily;
pub mod lang;
pub mod runner;
pub mod samples;
pub mod script;

pub use lang::{first_file, in_container, Lang, MissingTool, NOT_FOUND, WORK_HOME};
pub use runner::LanguageRunner;
pub use samples::standard_samples;

/// The plugin API, for [`language_kernel!`]'s expansion.
#[doc(hidden)]
pub use krunner_plugin_api as __api;
