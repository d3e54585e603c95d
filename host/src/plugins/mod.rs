//! Plugins: where they are found ([`search`]), how a file is vetted before the dynamic loader
//! sees it ([`preflight`]), and how it is loaded and version-checked ([`load`]).

pub mod list;
pub mod load;
pub mod preflight;
pub mod probe;
pub mod samples;
pub mod search;

pub use load::{load, LoadError, Plugin};
pub use search::{Candidate, SearchPath};
