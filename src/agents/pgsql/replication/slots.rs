//! Replication slots (`replication_slot_name`): dropped at start, created
//! after promotion.

use super::attributes::View;
use super::{files, Repl};
use crate::ocf::Failure;
use crate::pg::Session;

impl Repl<'_> {
    pub(super) async fn slot_names(&self, view: Option<&View>) -> Result<Vec<String>, Failure> {
        let prefix = &self.pg.cfg.replication_slot_name;
        if prefix.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .nodes(view)
            .await?
            .iter()
            .filter(|n| **n != self.me)
            .map(|n| files::slot_name(prefix, n))
            .collect())
    }

    pub(super) async fn admin_session(&self) -> Result<Session, Failure> {
        let pf = crate::pg::PidFile::read(&self.pg.cfg.pgdata);
        let mut params = self.pg.conn_params(pf.as_ref());
        params.user = self.pg.cfg.pgdba.clone();
        params
            .connect(self.pg.deadline)
            .await
            .map_err(|e| Failure::generic(e.to_string()))
    }

    pub(super) async fn delete_replication_slots(
        &self,
        view: Option<&View>,
    ) -> Result<(), Failure> {
        let names = self.slot_names(view).await?;
        if names.is_empty() {
            return Ok(());
        }
        let s = self.admin_session().await?;
        for name in names {
            let exists = s
                .query_value(&format!(
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name = {}",
                    files::sql_literal(&name)
                ))
                .await
                .map_err(|e| Failure::generic(e.to_string()))?;
            if exists.as_deref() == Some("1") {
                s.simple_query(&format!(
                    "SELECT pg_drop_replication_slot({});",
                    files::sql_literal(&name)
                ))
                .await
                .map_err(|e| {
                    Failure::generic(format!("PostgreSQL can't clean up replication_slot. {e}"))
                })?;
                tracing::info!("PostgreSQL delete the replication slot({name}).");
            }
        }
        Ok(())
    }

    pub(super) async fn create_replication_slots(&self, view: &View) -> Result<(), Failure> {
        let names = self.slot_names(Some(view)).await?;
        if names.is_empty() {
            return Ok(());
        }
        self.delete_replication_slots(Some(view)).await?;
        let s = self.admin_session().await?;
        for name in names {
            s.simple_query(&format!(
                "SELECT pg_create_physical_replication_slot({});",
                files::sql_literal(&name)
            ))
            .await
            .map_err(|e| {
                Failure::generic(format!("PostgreSQL can't create replication_slot. {e}"))
            })?;
            tracing::info!("PostgreSQL creates the replication slot({name}).");
        }
        Ok(())
    }
}
