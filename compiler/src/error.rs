//! The one error type of the library. Every message names what it is about (node and op for
//! anything tied to a node), is lowercase and has no trailing period.

use std::path::PathBuf;

/// Anything that stops a compilation.
///
/// `Debug` prints the same message as `Display`, so that a `build.rs` returning
/// `Result<(), Box<dyn std::error::Error>>` shows `Error: <message>` like the CLI, not the
/// enum's fields.
#[derive(thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a valid ONNX model (protobuf decoding failed): {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("invalid model: {0}")]
    Model(String),
    #[error(
        "unsupported operators ({} nodes): {}\n{UNSUPPORTED_HINT}",
        .0.len(),
        list_unsupported(.0)
    )]
    Unsupported(Vec<Unsupported>),
    #[error("node '{node}' ({op}): {msg}")]
    Node {
        node: String,
        op: String,
        msg: String,
    },
    #[error("external data for initializer '{tensor}': {msg}")]
    ExternalData { tensor: String, msg: String },
    #[error("invalid option: {0}")]
    Option(String),
    #[error("IR verification failed after {stage}: {msg}")]
    Verify { stage: String, msg: String },
    #[error("code generation: {0}")]
    Emit(String),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// What to do about unsupported operators: the line after their list. (`--stop-after import`
/// cannot show such a graph: import is what refuses it.)
const UNSUPPORTED_HINT: &str = "the operators and attributes ghostc compiles are listed in \
    README.md, section \"Supported ONNX\"";

/// One node whose operator ghostc cannot compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub node: String,
    pub op: String,
    /// Why, when the op is known but this use of it is not (e.g. an attribute value).
    pub reason: Option<String>,
}

fn list_unsupported(v: &[Unsupported]) -> String {
    v.iter()
        .map(|u| match &u.reason {
            Some(r) => format!("{} (node '{}': {r})", u.op, u.node),
            None => format!("{} (node '{}')", u.op, u.node),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
