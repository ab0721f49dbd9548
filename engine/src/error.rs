//! The crate-level error: one variant per module, each carrying that module's own error.

/// Anything the engine can fail with. Match on the inner error to decide what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log refused or failed an operation; see [`crate::log::Error`] for how to handle each case.
    #[error(transparent)]
    Log(#[from] crate::log::Error),
    /// A package could not be read or written; show it to the user, it names the entry.
    #[error(transparent)]
    Package(#[from] crate::package::Error),
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
