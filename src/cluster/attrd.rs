//! Transient node attributes through `attrd_updater`.

use crate::ocf::Deadline;
use crate::os::{Cmd, RunError};

#[derive(Debug, thiserror::Error)]
pub enum AttrError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("attrd_updater failed: {0}")]
    Failed(String),
}

/// Sets (`Some`) or deletes (`None`) a transient attribute of this node.
pub async fn update(name: &str, value: Option<&str>, deadline: Deadline) -> Result<(), AttrError> {
    let mut cmd = Cmd::new(crate::cluster::tool("attrd_updater")).args(["-n", name]);
    cmd = match value {
        Some(v) => cmd.args(["-v", v]),
        None => cmd.arg("-D"),
    };
    let out = cmd.run(deadline).await?;
    if out.success() {
        Ok(())
    } else {
        Err(AttrError::Failed(format!(
            "{} ({})",
            out.combined(),
            out.describe_status()
        )))
    }
}
