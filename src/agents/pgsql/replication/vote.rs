//! One election round on a standby when no primary exists
//! (`have_master_right`), around the rules of `election.rs`.

use super::attributes::View;
use super::slaves::PROMOTE_ME;
use super::{election, Repl};
use crate::cluster::vocabulary::{Attr, DataStatus};
use crate::cluster::Lifetime;
use crate::ocf::Failure;
use crate::pg::Session;

impl Repl<'_> {
    /// `have_master_right`, one election round.
    pub(super) async fn have_master_right(
        &self,
        view: &mut View,
        session: &Session,
    ) -> Result<bool, Failure> {
        tracing::debug!("Checking if I have a master right.");
        let ds = view.attr(&self.me, &self.attr(Attr::DataStatus));
        if !election::eligible(ds.as_deref(), self.pg.cfg.rep_mode) {
            tracing::warn!("My data is out-of-date. status={}", ds.unwrap_or_default());
            return Ok(false);
        }
        tracing::info!("My data status={}.", ds.unwrap_or_default());
        let loc = self
            .my_location(session)
            .await
            .map_err(|e| Failure::generic(format!("Failed to show my xlog location. {e}")))?
            .to_attr();
        let name = self.attr(Attr::XlogLoc);
        if view.attr(&self.me, &name).as_deref() != Some(loc.as_str()) {
            self.pm
                .set(&self.me, Lifetime::Reboot, &name, &loc)
                .await
                .map_err(|e| Failure::generic(format!("Failed to show my xlog location. {e}")))?;
            view.record(&self.me, &name, Some(&loc));
        }
        let mut entries = Vec::new();
        for node in &self.nodes(Some(view)).await? {
            match view.attr(node, &name) {
                Some(l) => {
                    tracing::info!("{node} xlog location : {l}");
                    entries.push((node.clone(), l));
                }
                None => tracing::warn!("Can't get {node} xlog location."),
            }
        }
        let mine = entries
            .iter()
            .find(|(n, _)| *n == self.me)
            .map(|(_, l)| l.clone());
        let round = election::round(
            &self.pg.cfg.tmpdir,
            self.pg.cfg.xlog_check_count,
            &election::snapshot(&entries),
            mine.as_deref(),
        )
        .map_err(|e| {
            Failure::generic(format!(
                "Can't write xlog notes in {}: {e}",
                self.pg.cfg.tmpdir.display()
            ))
        })?;
        match round {
            election::Round::Won => {
                tracing::info!("I have a master right.");
                self.set_own_score_if_changed(view, PROMOTE_ME).await?;
                Ok(true)
            }
            election::Round::Lost { newest } => {
                self.change_data_status(view, &self.me, &DataStatus::Disconnect)
                    .await?;
                tracing::info!("I don't have correct master data. (newest: {newest})");
                Ok(false)
            }
            _ => Ok(false),
        }
    }
}
