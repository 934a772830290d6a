//! The compiler, top to bottom: import, verify, (passes, planning and emission as they land).

use std::path::Path;

use crate::error::{Error, Result};
use crate::front::{self, ImportOptions, Imported};
use crate::ir::{verify::verify, Graph};

/// Verifies `g`, naming the stage in the error.
pub fn check(g: &Graph, stage: &str) -> Result<()> {
    verify(g).map_err(|msg| Error::Verify { stage: stage.to_string(), msg })
}

/// Imports the model at `path` and verifies the result.
pub fn import(path: &Path, opts: &ImportOptions) -> Result<Imported> {
    let imported = front::import_file(path, opts)?;
    check(&imported.graph, "import")?;
    Ok(imported)
}

/// Same as [`import`] for a model already in memory (external data refused).
pub fn import_bytes(bytes: &[u8], opts: &ImportOptions) -> Result<Imported> {
    let imported = front::import_bytes(bytes, None, opts)?;
    check(&imported.graph, "import")?;
    Ok(imported)
}
