//! The files replication mode keeps: the recovery settings (`recovery.conf`
//! in the data directory before PostgreSQL 12; `<tmpdir>/recovery.conf`,
//! its include line and `standby.signal` from 12 on), `rep_mode.conf`, and
//! the include lines in postgresql.conf. Also the server-side helpers that go
//! with them: reload, promote, waiting for the promotion.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use super::sync_names;
use crate::agents::pgsql::monitor::{Health, ServerRole};
use crate::agents::pgsql::{Config, Pgsql, RepMode};
use crate::ocf::{ActionResult, Failure, OcfRc};
use crate::pg::conninfo::quote as conninfo_value;
use crate::pg::settings::{self, quote};

/// `<prefix>_<node>` with the node lower-cased and `.`/`-` made `_`.
pub fn slot_name(prefix: &str, node: &str) -> String {
    let n: String = node
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '.' || c == '-' { '_' } else { c })
        .collect();
    format!("{prefix}_{n}")
}

/// An SQL string literal.
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The recovery settings for node `me` (primary_conninfo, restore_command,
/// recovery_target_timeline), every value quoted so
/// that any character survives. `standby_signal`: PostgreSQL 12 or later
/// (no `standby_mode`).
pub fn recovery_conf_text(c: &Config, me: &str, standby_signal: bool) -> String {
    let mut conninfo = format!(
        "host={} port={} user={} application_name={}",
        conninfo_value(&c.master_ip),
        c.pgport,
        conninfo_value(&c.repuser),
        conninfo_value(me)
    );
    if !c.primary_conninfo_opt.is_empty() {
        conninfo.push(' ');
        conninfo.push_str(&c.primary_conninfo_opt);
    }
    let mut text = format!(
        "primary_conninfo = {}\nrestore_command = {}\nrecovery_target_timeline = 'latest'\n",
        quote(&conninfo),
        quote(&c.restore_command)
    );
    if !standby_signal {
        text.push_str("standby_mode = 'on'\n");
    }
    if !c.archive_cleanup_command.is_empty() {
        text.push_str(&format!(
            "archive_cleanup_command = {}\n",
            quote(&c.archive_cleanup_command)
        ));
    }
    if !c.recovery_end_command.is_empty() {
        text.push_str(&format!(
            "recovery_end_command = {}\n",
            quote(&c.recovery_end_command)
        ));
    }
    if !c.replication_slot_name.is_empty() {
        text.push_str(&format!(
            "primary_slot_name = {}\n",
            quote(&slot_name(&c.replication_slot_name, me))
        ));
    }
    text
}

impl Pgsql {
    /// PostgreSQL 12 replaced recovery.conf with standby.signal.
    pub(in crate::agents::pgsql) fn uses_standby_signal(&self) -> bool {
        self.facts.version.is_some_and(|v| v.at_least(12, 0))
    }

    pub(in crate::agents::pgsql) fn recovery_conf_path(&self) -> PathBuf {
        if self.uses_standby_signal() {
            self.cfg.tmpdir.join("recovery.conf")
        } else {
            self.cfg.pgdata.join("recovery.conf")
        }
    }

    fn rep_mode_conf_path(&self) -> PathBuf {
        self.cfg.tmpdir.join("rep_mode.conf")
    }

    /// `make_recovery_conf`: writes the recovery settings (owned by pgdba,
    /// mode 0600) and, from PostgreSQL 12, `standby.signal`.
    pub(in crate::agents::pgsql) fn write_recovery_conf(&self, me: &str) -> Result<(), Failure> {
        let path = self.recovery_conf_path();
        settings::write_owned(
            &path,
            recovery_conf_text(&self.cfg, me, self.uses_standby_signal()),
            &self.dba,
        )
        .map_err(|e| {
            Failure::generic(format!(
                "Can't create recovery.conf. {}: {e}",
                path.display()
            ))
        })?;
        if self.uses_standby_signal() {
            let signal = self.cfg.pgdata.join("standby.signal");
            settings::touch_owned(&signal, &self.dba)
                .map_err(|e| Failure::generic(format!("Can't create {}. {e}", signal.display())))?;
            self.warn_auto_conf_override();
        }
        tracing::debug!(
            "Created recovery.conf. host={}, user={}",
            self.cfg.master_ip,
            self.cfg.repuser
        );
        Ok(())
    }

    /// `pg_basebackup -R` writes primary_conninfo into postgresql.auto.conf,
    /// which wins over our include and silently points the standby elsewhere
    /// (a frequent cause of DISCONNECT, reference issue #2036). Say so.
    fn warn_auto_conf_override(&self) {
        let auto = self.cfg.pgdata.join("postgresql.auto.conf");
        if crate::pg::conf::get(&auto, "primary_conninfo").is_some() {
            tracing::warn!(
                "{} sets primary_conninfo, which overrides the one this agent writes; \
                 remove it (ALTER SYSTEM RESET primary_conninfo)",
                auto.display()
            );
        }
    }

    /// Restart-on-promote: remove what makes the server a standby.
    pub(in crate::agents::pgsql) fn remove_standby_settings(&self) {
        let path = if self.uses_standby_signal() {
            self.cfg.pgdata.join("standby.signal")
        } else {
            self.cfg.pgdata.join("recovery.conf")
        };
        let _ = std::fs::remove_file(path);
    }

    /// The level-10 side effects of replication and slave mode, done only
    /// where something is missing: the include line of
    /// the recovery file (12+), the include line of rep_mode.conf (sync) or
    /// its removal (async), and tmpdir owned by pgdba with mode 700. Slave
    /// mode gets tmpdir too, which it needs from 12 on (the reference
    /// creates it only in replication mode).
    pub(in crate::agents::pgsql) fn prepare_replication_files(&self) -> Result<(), Failure> {
        let c = &self.cfg;
        if !(c.rep_mode.is_replication() || c.rep_mode == RepMode::Slave) {
            return Ok(());
        }
        self.ensure_tmpdir()?;
        if !self.facts.config_readable {
            return Ok(());
        }
        let edit_failed =
            |e: std::io::Error| Failure::perm(format!("Can't edit {}: {e}", c.config.display()));
        if self.uses_standby_signal() {
            let rec = self.recovery_conf_path();
            if settings::ensure_include(&c.config, &rec).map_err(edit_failed)? {
                tracing::info!(
                    "adding include directive {} into {}",
                    settings::include_line(&rec),
                    c.config.display()
                );
            }
        }
        let rep = self.rep_mode_conf_path();
        if c.rep_mode == RepMode::Sync {
            // PostgreSQL refuses to start on an include of a missing file.
            if !rep.exists() {
                self.write_sync_names(&[])?;
            }
            if settings::ensure_include(&c.config, &rep).map_err(edit_failed)? {
                tracing::info!("adding include directive into {}", c.config.display());
            }
        } else if c.rep_mode == RepMode::Async
            && settings::remove_include(&c.config, &rep).map_err(edit_failed)?
        {
            tracing::info!("deleting include directive from {}", c.config.display());
        }
        Ok(())
    }

    fn ensure_tmpdir(&self) -> Result<(), Failure> {
        let dir = &self.cfg.tmpdir;
        let fail = |e: String| {
            Failure::perm(format!(
                "Can't create directory {} or it is not readable by {}: {e}",
                dir.display(),
                self.cfg.pgdba
            ))
        };
        if let Ok(m) = std::fs::metadata(dir) {
            if m.is_dir() && m.uid() == self.dba.uid.as_raw() && m.mode() & 0o777 == 0o700 {
                return Ok(());
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        // Through the descriptor: a link planted in its place by another
        // user than root is refused, never chowned (os/fs.rs).
        let d = crate::os::fs::open_dir(dir).map_err(|e| fail(e.to_string()))?;
        crate::os::fs::chown_user(&d, &self.dba).map_err(|e| fail(e.to_string()))?;
        crate::os::fs::set_mode(&d, 0o700).map_err(|e| fail(e.to_string()))
    }

    /// The names currently in rep_mode.conf.
    pub(in crate::agents::pgsql) fn read_sync_names(&self) -> Vec<String> {
        crate::pg::conf::get(&self.rep_mode_conf_path(), "synchronous_standby_names")
            .map(|v| sync_names::parse_names(&v))
            .unwrap_or_default()
    }

    pub(in crate::agents::pgsql) fn write_sync_names(
        &self,
        names: &[String],
    ) -> Result<(), Failure> {
        let path = self.rep_mode_conf_path();
        settings::write_owned(&path, sync_names::render_file(names), &self.dba)
            .map_err(|e| Failure::generic(format!("Can't write {}: {e}", path.display())))
    }

    /// The server rereads its configuration (pg/ctl.rs).
    pub(in crate::agents::pgsql) fn reload(&self) -> Result<(), Failure> {
        crate::pg::ctl::reload(&self.cfg.pgdata)
            .map_err(|e| Failure::generic(format!("Can't reload configuration file. {e}")))?;
        tracing::info!("Reload configuration file.");
        Ok(())
    }

    /// `pg_ctl -D <pgdata> -W promote`.
    pub(in crate::agents::pgsql) async fn pg_ctl_promote(&self) -> Result<(), Failure> {
        let out = self
            .pg_ctl()
            .promote(crate::pg::ctl::Wait::No, self.deadline)
            .await
            .map_err(|e| Failure::generic(format!("Can't promote PostgreSQL. {e}")))?;
        if !out.success() {
            return Err(Failure::generic(format!(
                "Can't promote PostgreSQL. {}",
                out.combined()
            )));
        }
        Ok(())
    }

    /// Waits until the server answers as a primary.
    pub(in crate::agents::pgsql) async fn wait_until_primary(&self) -> ActionResult {
        let mut pause = Duration::from_millis(20);
        loop {
            match self.health().await {
                Health::Up {
                    role: ServerRole::Primary,
                    ..
                } => return Ok(OcfRc::Success),
                Health::Unresponsive(_, e) if e.is_permanent() => {
                    return Err(Failure::generic(format!("Can't promote PostgreSQL. {e}")))
                }
                Health::Down => {
                    return Err(Failure::generic(
                        "Can't promote PostgreSQL: the server stopped during promotion",
                    ))
                }
                _ => {}
            }
            if self.deadline.remaining() <= pause {
                return Err(Failure::generic(
                    "PostgreSQL did not finish its promotion before the promote timeout",
                ));
            }
            tracing::debug!("PostgreSQL still hasn't promoted yet. Waiting...");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_follow_the_reference() {
        assert_eq!(slot_name("slot", "Node-1.example"), "slot_node_1_example");
    }

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let env = crate::ocf::OcfEnv::from_vars(
            pairs
                .iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
            &[],
        );
        Config::from_env(&env).unwrap()
    }

    #[test]
    fn recovery_conf_pg12_and_later() {
        let c = cfg(&[
            ("master_ip", "192.168.0.10"),
            ("repuser", "rep"),
            ("restore_command", "cp /arch/%f %p"),
        ]);
        assert_eq!(
            recovery_conf_text(&c, "node2", true),
            "primary_conninfo = 'host=192.168.0.10 port=5432 user=rep application_name=node2'\n\
             restore_command = 'cp /arch/%f %p'\n\
             recovery_target_timeline = 'latest'\n"
        );
    }

    #[test]
    fn recovery_conf_before_12_with_everything() {
        let c = cfg(&[
            ("master_ip", "10.0.0.1"),
            ("primary_conninfo_opt", "keepalives_idle=60"),
            ("archive_cleanup_command", "pg_archivecleanup /arch %r"),
            ("recovery_end_command", "touch /tmp/done"),
            ("replication_slot_name", "slot"),
        ]);
        let t = recovery_conf_text(&c, "node-1", false);
        assert!(
            t.contains("application_name=node-1 keepalives_idle=60'\n"),
            "{t}"
        );
        assert!(t.contains("standby_mode = 'on'\n"));
        assert!(t.contains("archive_cleanup_command = 'pg_archivecleanup /arch %r'\n"));
        assert!(t.contains("recovery_end_command = 'touch /tmp/done'\n"));
        assert!(t.ends_with("primary_slot_name = 'slot_node_1'\n"));
    }

    /// Regression (a defect of the reference): a quote in restore_command
    /// broke the file and PostgreSQL refused to start.
    #[test]
    fn quotes_in_values_survive_the_config_parser() {
        let cmd = "test -f '/arch/%f' && cp '/arch/%f' %p";
        let c = cfg(&[("master_ip", "10.0.0.1"), ("restore_command", cmd)]);
        let t = recovery_conf_text(&c, "n", true);
        assert_eq!(
            crate::pg::conf::get_in(&t, "restore_command").as_deref(),
            Some(cmd)
        );
    }

    #[test]
    fn sql_literals() {
        assert_eq!(sql_literal("a'b"), "'a''b'");
    }
}
