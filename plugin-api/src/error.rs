//! The error type that crosses the plugin boundary.
//!
//! It is a frozen `#[repr(C)]` struct: a numeric code (an extensible newtype, so new codes can
//! be added in a minor version) plus a human-readable message.

use std::fmt;

use abi_stable::{std_types::RString, StableAbi};

/// What kind of failure a [`PluginError`] reports.
///
/// A `#[repr(transparent)]` integer rather than an enum so that minor versions can add codes
/// without breaking older hosts or plugins: unknown codes are treated like [`ErrorCode::INTERNAL`].
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// A bug or an unexpected condition inside the plugin or the host.
    pub const INTERNAL: Self = Self(1);
    /// The operation is not supported by this plugin or host.
    pub const UNSUPPORTED: Self = Self(2);
    /// The request could not be understood (bad JSON, missing field).
    pub const INVALID_REQUEST: Self = Self(3);
    /// The operation was interrupted by the user (`interrupt` op) or by shutdown.
    pub const INTERRUPTED: Self = Self(4);
    /// A file or executable that the operation needs does not exist.
    pub const NOT_FOUND: Self = Self(5);
    /// The plugin panicked; the SDK caught the panic at the boundary.
    pub const PANIC: Self = Self(6);
    /// An operating-system level I/O error.
    pub const IO: Self = Self(7);

    /// A short lower-case name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::INTERNAL => "internal error",
            Self::UNSUPPORTED => "unsupported",
            Self::INVALID_REQUEST => "invalid request",
            Self::INTERRUPTED => "interrupted",
            Self::NOT_FOUND => "not found",
            Self::PANIC => "panic",
            Self::IO => "i/o error",
            _ => "error",
        }
    }
}

/// An FFI-safe error: a code and a message.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A message for people; it is shown to the user as is.
    pub message: RString,
}

impl PluginError {
    /// An error with an explicit code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: RString::from(message.into()),
        }
    }

    /// [`ErrorCode::INTERNAL`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERNAL, message)
    }

    /// [`ErrorCode::UNSUPPORTED`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UNSUPPORTED, message)
    }

    /// [`ErrorCode::INVALID_REQUEST`].
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, message)
    }

    /// [`ErrorCode::NOT_FOUND`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NOT_FOUND, message)
    }

    /// [`ErrorCode::INTERRUPTED`].
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERRUPTED, message)
    }

    /// The message as a `&str`.
    pub fn message(&self) -> &str {
        self.message.as_str()
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for PluginError {}

impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorCode::NOT_FOUND
        } else {
            ErrorCode::IO
        };
        Self::new(code, e.to_string())
    }
}

impl From<serde_json::Error> for PluginError {
    fn from(e: serde_json::Error) -> Self {
        Self::invalid_request(e.to_string())
    }
}
