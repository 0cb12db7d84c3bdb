//! Transient node attributes through `attrd_updater`.
//!
//! Two kinds: the pgsql personality's public ones (`update`), and PAF's
//! private ones (`Private`), which attrd keeps out of the CIB so they never
//! trigger a new transition. PAF's election exchanges positions through the
//! private ones while a transition is running, which is why they exist.

use std::time::Duration;

use super::vocabulary::PrivateAttr;
use crate::ocf::Deadline;
use crate::os::{Cmd, RunError};

#[derive(Debug, thiserror::Error)]
pub enum AttrError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("attrd_updater failed: {0}")]
    Failed(String),
    #[error("attribute {name} did not read back as {expected:?} before the operation timeout")]
    NotApplied {
        name: String,
        expected: Option<String>,
    },
}

/// Sets (`Some`) or deletes (`None`) a transient attribute of this node.
pub async fn update(
    tools: &super::Tools,
    name: &str,
    value: Option<&str>,
    deadline: Deadline,
) -> Result<(), AttrError> {
    let mut cmd = Cmd::new(tools.path("attrd_updater")).args(["-n", name]);
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

/// PAF's private attributes of one resource: `<base>-<rsc>`, lifetime
/// reboot, written by each node for itself and read by any node.
#[derive(Clone, Debug)]
pub struct Private {
    /// The resource name the attribute names end with.
    pub rsc: String,
    /// This node, as Pacemaker names it.
    pub local: String,
    pub deadline: Deadline,
    pub tools: super::Tools,
}

/// How long one `attrd_updater` call may take.
const CALL_LIMIT: Duration = Duration::from_secs(10);
/// Pause between read-backs while waiting for attrd to apply a write.
const POLL: Duration = Duration::from_millis(100);

impl Private {
    pub fn name(&self, attr: PrivateAttr) -> String {
        format!("{}-{}", attr.base(), self.rsc)
    }

    fn cmd(&self, base: PrivateAttr) -> Cmd {
        Cmd::new(self.tools.path("attrd_updater")).args([
            "--private".to_string(),
            "--lifetime=reboot".into(),
            format!("--name={}", self.name(base)),
        ])
    }

    /// The value on `node` (this node when `None`); `None` when unset or
    /// empty. attrd answers `name="..." host="..." value="..."`; anything
    /// else (no such attribute, attrd unreachable) reads as unset, which
    /// every caller treats as the cautious case (wait, or refuse).
    pub async fn get(
        &self,
        base: PrivateAttr,
        node: Option<&str>,
    ) -> Result<Option<String>, AttrError> {
        let node = node.unwrap_or(&self.local);
        let out = self
            .cmd(base)
            .args(["--query".to_string(), format!("--node={node}")])
            .run(self.deadline.within(CALL_LIMIT))
            .await?;
        if !out.success() {
            tracing::debug!(
                "attrd_updater query of {} on {node}: {}",
                self.name(base),
                out.combined()
            );
            return Ok(None);
        }
        Ok(parse_query(&out.stdout).filter(|v| !v.is_empty()))
    }

    /// Writes this node's value and waits until attrd returns it.
    pub async fn set(&self, base: PrivateAttr, value: &str) -> Result<(), AttrError> {
        self.write(
            base,
            self.cmd(base).args([
                format!("--node={}", self.local),
                format!("--update={value}"),
            ]),
            Some(value),
        )
        .await
    }

    /// Deletes this node's value and waits until attrd no longer has it.
    pub async fn delete(&self, base: PrivateAttr) -> Result<(), AttrError> {
        self.write(
            base,
            self.cmd(base)
                .args([format!("--node={}", self.local), "--delete".into()]),
            None,
        )
        .await
    }

    async fn write(
        &self,
        base: PrivateAttr,
        cmd: Cmd,
        expected: Option<&str>,
    ) -> Result<(), AttrError> {
        let out = cmd.run(self.deadline.within(CALL_LIMIT)).await?;
        if !out.success() {
            return Err(AttrError::Failed(format!(
                "{}: {} ({})",
                cmd.display(),
                out.combined(),
                out.describe_status()
            )));
        }
        // attrd applies writes asynchronously: read back, bounded by the
        // operation's deadline (PAF polls without a bound, issue #139).
        loop {
            if self.get(base, None).await?.as_deref() == expected {
                return Ok(());
            }
            if self.deadline.remaining() <= POLL {
                return Err(AttrError::NotApplied {
                    name: self.name(base),
                    expected: expected.map(str::to_string),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The value of `name="X" host="N" value="V"` (the first such line).
pub fn parse_query(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|l| {
        let l = l.trim_end();
        if !l.starts_with("name=\"") {
            return None;
        }
        let start = l.find(" value=\"")? + " value=\"".len();
        l[start..].strip_suffix('"').map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_query;

    #[test]
    fn query_output() {
        assert_eq!(
            parse_query("name=\"lsn_location-pgsqld\" host=\"srv1\" value=\"1#50331808\"\n"),
            Some("1#50331808".to_string())
        );
        assert_eq!(
            parse_query("name=\"nodes-pgsqld\" host=\"srv1\" value=\"srv1 srv2\"\n"),
            Some("srv1 srv2".to_string())
        );
        assert_eq!(
            parse_query("name=\"x\" host=\"srv1\" value=\"\"\n"),
            Some(String::new())
        );
        assert_eq!(parse_query(""), None);
        assert_eq!(parse_query("Could not query value of x\n"), None);
    }
}
