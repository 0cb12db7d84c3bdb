//! Pacemaker access: the only place that runs Pacemaker's command-line tools.
//!
//! Reads come from one `crm_mon` snapshot (`status.rs`); writes go through the
//! same tools and lifetimes the reference uses (`crm_attribute -l reboot` or
//! `-l forever`, `crm_attribute --promotion`, `attrd_updater`), so a node
//! running the shell agent reads what we write and the other way round.

pub mod attrd;
pub mod partition;
pub mod status;
pub mod vocabulary;

use std::path::PathBuf;
use std::time::Duration;

pub use status::ClusterStatus;

use crate::ocf::Deadline;
use crate::os::{Cmd, Output, RunError};

/// Where Pacemaker's tools are: `HA_SBIN_DIR` when set (how the reference
/// and its test harnesses locate them), else PATH.
#[derive(Clone, Debug, Default)]
pub struct Tools {
    sbin: Option<PathBuf>,
}

impl Tools {
    pub fn from_env(env: &crate::ocf::OcfEnv) -> Tools {
        Tools {
            sbin: env
                .var("HA_SBIN_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        }
    }

    /// The program to run for tool `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        match &self.sbin {
            Some(dir) if dir.join(name).exists() => dir.join(name),
            _ => PathBuf::from(name),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Transient: gone when the node leaves the cluster (status section).
    Reboot,
    /// Permanent: in the node's configuration, survives reboots.
    Forever,
}

impl Lifetime {
    fn arg(self) -> &'static str {
        match self {
            Lifetime::Reboot => "--lifetime=reboot",
            Lifetime::Forever => "--lifetime=forever",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{command} failed ({status}): {output}")]
    Failed {
        command: String,
        status: String,
        output: String,
    },
    #[error("cannot read the cluster status: {0}")]
    Parse(String),
}

impl ClusterError {
    fn from_output(cmd: &Cmd, out: &Output) -> ClusterError {
        ClusterError::Failed {
            command: cmd.display(),
            status: out.describe_status(),
            output: out.combined(),
        }
    }
}

/// A tool too old for an option we pass (`--promotion` before 2.1).
fn is_unknown_option(out: &Output) -> bool {
    let text = out.combined();
    text.contains("Unknown option") || text.contains("unrecognized option")
}

/// crm_attribute's exit code for "no such attribute" (ENXIO, 6 before 2.0).
fn is_missing(out: &Output) -> bool {
    matches!(out.status.code(), Some(105) | Some(6))
}

/// A `--query --quiet` answer: the value, `None` for "no such attribute",
/// or the failure.
fn queried(cmd: &Cmd, out: &Output) -> Result<Option<String>, ClusterError> {
    if out.success() {
        Ok(Some(out.stdout.trim_end_matches('\n').to_string()))
    } else if is_missing(out) {
        Ok(None)
    } else {
        Err(ClusterError::from_output(cmd, out))
    }
}

/// Access to Pacemaker for one resource instance during one operation.
#[derive(Clone, Debug)]
pub struct Pacemaker {
    /// `OCF_RESOURCE_INSTANCE`, used for the promotion score.
    pub instance: String,
    /// `OCF_RESKEY_crm_feature_set`, to choose crm_mon's XML option.
    pub feature_set: Option<String>,
    pub deadline: Deadline,
    /// Bound of one permanent-attribute write (`crm_attr_timeout`).
    pub forever_timeout: Duration,
    pub tools: Tools,
}

impl Pacemaker {
    /// Read-only access outside any action (`show`, `check`): no resource
    /// instance, the tools as `env` finds them, every call within
    /// `deadline`.
    pub fn for_reading(env: &crate::ocf::OcfEnv, deadline: Deadline) -> Pacemaker {
        Pacemaker {
            instance: String::new(),
            feature_set: None,
            deadline,
            forever_timeout: Duration::from_secs(10),
            tools: Tools::from_env(env),
        }
    }

    async fn run(&self, cmd: &Cmd, limit: Duration) -> Result<Output, ClusterError> {
        Ok(cmd.run(self.deadline.within(limit)).await?)
    }

    /// `crm_mon -1 --output-as=xml -A`, parsed for the primitive `rsc`.
    pub async fn status(&self, rsc: &str) -> Result<ClusterStatus, ClusterError> {
        // Feature sets up to 3.1.0 (Pacemaker 1.1) only know --as-xml.
        let legacy = self.feature_set.as_deref().is_some_and(|v| {
            let parts: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
            parts < vec![3, 2, 0]
        });
        // `--fence-history=0`: we read no fencing history, and without it
        // crm_mon does not connect to the fencer at all (about 1.4 ms of a
        // 11 ms call, see docs/performance.md). Pacemaker 1.1 (legacy) may
        // lack the option.
        let cmd = if legacy {
            Cmd::new(self.tools.path("crm_mon")).args(["-1", "--as-xml", "-A"])
        } else {
            Cmd::new(self.tools.path("crm_mon")).args([
                "-1",
                "--output-as=xml",
                "-A",
                "--fence-history=0",
            ])
        };
        let out = self.run(&cmd, Duration::from_secs(30)).await?;
        if !out.success() {
            return Err(ClusterError::from_output(&cmd, &out));
        }
        ClusterStatus::parse(&out.stdout, rsc).map_err(ClusterError::Parse)
    }

    /// `cibadmin --query`: the whole CIB, configuration and status, as XML
    /// (read-only; `show` and `check` read the resource's configuration
    /// from it, inspect/cib.rs).
    pub async fn cib(&self) -> Result<String, ClusterError> {
        let cmd = Cmd::new(self.tools.path("cibadmin")).arg("--query");
        let out = self.run(&cmd, Duration::from_secs(30)).await?;
        if !out.success() {
            return Err(ClusterError::from_output(&cmd, &out));
        }
        Ok(out.stdout)
    }

    /// `crm_attribute -G -q`: `Ok(None)` when the attribute does not exist.
    pub async fn get(
        &self,
        node: &str,
        lifetime: Lifetime,
        name: &str,
    ) -> Result<Option<String>, ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_attribute")).args([
            lifetime.arg().to_string(),
            format!("--node={node}"),
            format!("--name={name}"),
            "--query".into(),
            "--quiet".into(),
        ]);
        let out = self.run(&cmd, self.forever_timeout).await?;
        queried(&cmd, &out)
    }

    /// Sets an attribute, retrying until the operation deadline (the
    /// reference retries for ever and is killed at the timeout).
    pub async fn set(
        &self,
        node: &str,
        lifetime: Lifetime,
        name: &str,
        value: &str,
    ) -> Result<(), ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_attribute")).args([
            lifetime.arg().to_string(),
            format!("--node={node}"),
            format!("--name={name}"),
            format!("--update={value}"),
        ]);
        self.retry(&cmd).await
    }

    pub async fn delete(
        &self,
        node: &str,
        lifetime: Lifetime,
        name: &str,
    ) -> Result<(), ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_attribute")).args([
            lifetime.arg().to_string(),
            format!("--node={node}"),
            format!("--name={name}"),
            "--delete".into(),
        ]);
        self.retry(&cmd).await
    }

    /// This node's promotion score (`master-<rsc>`, reboot lifetime).
    /// `--promotion=` with `--update=` is immune to Pacemaker 2.1.5's
    /// mis-parsing of `-p -v -INFINITY`; without `--promotion` (Pacemaker
    /// before 2.1) we fall back to `crm_master`.
    pub async fn set_own_score(&self, score: &str) -> Result<(), ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_attribute")).args([
            format!("--promotion={}", self.instance),
            format!("--update={score}"),
        ]);
        match self.retry(&cmd).await {
            Err(ClusterError::Failed { ref output, .. })
                if output.contains("Unknown option") || output.contains("unrecognized option") =>
            {
                let legacy = Cmd::new(self.tools.path("crm_master")).args([
                    "-l".to_string(),
                    "reboot".into(),
                    format!("--update={score}"),
                ]);
                self.retry(&legacy).await
            }
            other => other,
        }
    }

    /// PAF's promotion score of `node`: the permanent attribute
    /// `master-<instance>` (what `crm_master --lifetime forever` writes).
    /// `Ok(None)` when it does not exist.
    pub async fn promotion_score(&self, node: &str) -> Result<Option<String>, ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_attribute")).args([
            format!("--promotion={}", self.instance),
            "--lifetime=forever".into(),
            format!("--node={node}"),
            "--query".into(),
            "--quiet".into(),
        ]);
        let out = self.run(&cmd, self.forever_timeout).await?;
        if !out.success() && !is_missing(&out) && is_unknown_option(&out) {
            let legacy = Cmd::new(self.tools.path("crm_master")).args([
                "--lifetime=forever".to_string(),
                format!("--node={node}"),
                "--query".into(),
                "--quiet".into(),
            ]);
            let out = self.run(&legacy, self.forever_timeout).await?;
            return queried(&legacy, &out);
        }
        queried(&cmd, &out)
    }

    /// Sets `node`'s permanent promotion score and waits until it reads
    /// back (the CIB write is asynchronous), bounded by the deadline.
    /// Long options with `=` only: Pacemaker 2.1.5 mis-parses `-v -INFINITY`
    /// after `-p`.
    pub async fn set_promotion_score(&self, node: &str, score: &str) -> Result<(), ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_attribute")).args([
            format!("--promotion={}", self.instance),
            "--lifetime=forever".into(),
            format!("--node={node}"),
            format!("--update={score}"),
        ]);
        match self.retry(&cmd).await {
            Err(ClusterError::Failed { ref output, .. })
                if output.contains("Unknown option") || output.contains("unrecognized option") =>
            {
                let legacy = Cmd::new(self.tools.path("crm_master")).args([
                    "--lifetime=forever".to_string(),
                    format!("--node={node}"),
                    format!("--update={score}"),
                ]);
                self.retry(&legacy).await?;
            }
            other => other?,
        }
        let pause = Duration::from_millis(100);
        loop {
            let now = self.promotion_score(node).await?;
            if now.as_deref() == Some(score) {
                return Ok(());
            }
            if self.deadline.remaining() <= pause {
                return Err(ClusterError::Failed {
                    command: cmd.display(),
                    status: "not applied".into(),
                    output: format!(
                        "master-{} on {node} still reads {:?}, not {score:?}",
                        self.instance, now
                    ),
                });
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// `crm_node --partition`: the members of this node's partition.
    pub async fn partition(&self) -> Result<Vec<String>, ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_node")).arg("--partition");
        let out = self.run(&cmd, Duration::from_secs(10)).await?;
        if !out.success() {
            return Err(ClusterError::from_output(&cmd, &out));
        }
        Ok(out.stdout.split_whitespace().map(str::to_string).collect())
    }

    /// `crm_node --quorum`: whether this node's partition has quorum now, as
    /// the controller learned it from Corosync. crm_mon shows the DC's last
    /// write to the CIB instead, which a partition that lost its DC keeps
    /// until it has elected its own. Without quorum it prints 0 and exits
    /// with 106 (`CRM_EX_QUORUM`, Pacemaker 2.1) or 0 (older versions).
    pub async fn has_quorum(&self) -> Result<bool, ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_node")).arg("--quorum");
        let out = self.run(&cmd, Duration::from_secs(10)).await?;
        match (out.status.code(), out.stdout.trim()) {
            (Some(0), "1") => Ok(true),
            (Some(0 | 106), "0") => Ok(false),
            _ => Err(ClusterError::from_output(&cmd, &out)),
        }
    }

    /// Is this node cut off: fencing disabled and, says the controller, no
    /// quorum in its partition? Then a quorate partition elsewhere may
    /// promote a standby, and nothing would stop a primary here: it must
    /// stop itself, whatever `no-quorum-policy` says (`ignore`, the
    /// tutorials' setting, would keep it running; docs/architecture.md).
    /// crm_mon's view may lag (the DC's last CIB write), so the controller
    /// is asked each time; an unanswered question is not a proof.
    pub async fn cut_off(&self, status: &ClusterStatus) -> bool {
        if !status.fencing_disabled() {
            return false;
        }
        match self.has_quorum().await {
            Ok(quorate) => !quorate,
            Err(e) => {
                tracing::warn!("cannot ask the controller for quorum: {e}");
                false
            }
        }
    }

    /// How long a promotion that cannot see the old primary waits
    /// (partition.rs): Corosync's running `consensus`, a quorum device's
    /// `sync_timeout`, and the interval of the promoted role's monitor in the
    /// CIB, each with its default when it cannot be read.
    pub async fn promotion_wait(&self, rsc: &str) -> Duration {
        let cmap = Cmd::new(self.tools.path("corosync-cmapctl"))
            .args(["-g", "runtime.config.totem.consensus"]);
        let consensus = match self.run(&cmap, Duration::from_secs(5)).await {
            Ok(out) if out.success() => partition::parse_cmap_millis(&out.stdout),
            _ => None,
        }
        .unwrap_or(partition::DEFAULT_CONSENSUS);
        let device = Cmd::new(self.tools.path("corosync-cmapctl")).arg("quorum.device");
        let device_hold = match self.run(&device, Duration::from_secs(5)).await {
            Ok(out) if out.success() => partition::device_hold(&out.stdout),
            _ => None,
        };
        let xpath = format!("//primitive[@id='{rsc}']");
        let cib = Cmd::new(self.tools.path("cibadmin")).args(["--query", "--xpath", &xpath]);
        let interval = match self.run(&cib, Duration::from_secs(10)).await {
            Ok(out) if out.success() => partition::promoted_monitor_interval(&out.stdout),
            _ => None,
        }
        .unwrap_or(partition::DEFAULT_PROMOTED_INTERVAL);
        partition::promotion_wait(consensus, device_hold, interval)
    }

    /// Before a promotion: without fencing, a node of `peers` that is not an
    /// online member of this partition may still run a primary until its
    /// own partition notices it lost quorum. Waits as long as that takes
    /// (partition.rs) and says so in the log; with fencing, or when every
    /// peer is online, returns at once. `Err` (an exit reason) when the wait
    /// does not fit in what is left of the operation's timeout.
    pub async fn wait_out_unseen_peers(
        &self,
        status: &ClusterStatus,
        rsc: &str,
        peers: &[String],
    ) -> Result<(), partition::WaitTooLong> {
        if !status.fencing_disabled() {
            return Ok(());
        }
        let unseen: Vec<&str> = peers
            .iter()
            .filter(|p| !status.is_online(p))
            .map(String::as_str)
            .collect();
        if unseen.is_empty() {
            return Ok(());
        }
        let wait = self.promotion_wait(rsc).await;
        // What the promotion itself needs afterwards.
        let after = Duration::from_secs(10);
        if self.deadline.remaining() < wait + after {
            return Err(partition::WaitTooLong {
                unseen: unseen.join(" "),
                wait: wait.as_secs_f64(),
            });
        }
        tracing::info!(
            "Fencing is disabled and {} left this partition: waiting {:.1} s before promoting, \
             until a primary there has surely stopped (Corosync's consensus, a quorum device's \
             sync_timeout, the promoted monitor's interval, its immediate stop)",
            unseen.join(" "),
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// `crm_resource -B -r <instance> -N <node> -Q`: keep the resource off a
    /// node (used when a standby's data is newer than the new primary's).
    pub async fn ban(&self, node: &str) -> Result<(), ClusterError> {
        let cmd = Cmd::new(self.tools.path("crm_resource")).args([
            "-B".to_string(),
            "-r".into(),
            self.instance.clone(),
            "-N".into(),
            node.to_string(),
            "-Q".into(),
        ]);
        self.retry(&cmd).await
    }

    async fn retry(&self, cmd: &Cmd) -> Result<(), ClusterError> {
        let mut pause = Duration::from_millis(200);
        loop {
            let result = match self.run(cmd, self.forever_timeout).await {
                Ok(out) if out.success() => return Ok(()),
                Ok(out) => Err(ClusterError::from_output(cmd, &out)),
                Err(e) => Err(e),
            };
            if self.deadline.remaining() <= pause {
                return result;
            }
            if let Err(e) = &result {
                tracing::warn!("Retrying: {e}");
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// This node's name as Pacemaker spells it: `OCF_RESKEY_CRM_meta_on_node`
    /// when given (no process needed), else `crm_node -n`, else the
    /// kernel's host name. The pgsql personality lower-cases it, as the
    /// reference does; pgsqlms compares it with `application_name`, which
    /// is case-sensitive, and keeps it as spelt.
    pub async fn local_node(&self, on_node: Option<&str>) -> String {
        if let Some(n) = on_node.filter(|n| !n.is_empty()) {
            return n.to_string();
        }
        let cmd = Cmd::new(self.tools.path("crm_node")).arg("-n");
        if let Ok(out) = self.run(&cmd, Duration::from_secs(10)).await {
            let name = out.stdout.trim();
            if out.success() && !name.is_empty() {
                return name.to_string();
            }
        }
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default()
    }
}
