//! What `pgsql-ra show` and `pgsql-ra check` share: finding the resource
//! and its parameters without Pacemaker's help.
//!
//! An action gets its parameters from Pacemaker as `OCF_RESKEY_*`
//! variables. An operator running `show` or `check` at a shell should not
//! have to copy them from the CIB by hand, so they are read from the CIB
//! (cib.rs) and turned into the same `OcfEnv` an action would see; the
//! personality is the resource's agent type.

pub mod cib;

use crate::agents::{pgsql::PGSQL, pgsqlms::PGSQLMS, Agent};
use crate::ocf::OcfEnv;
use cib::Primitive;

/// The OCF environment Pacemaker would give the resource's actions: its
/// parameters, its id as `OCF_RESOURCE_INSTANCE`, its clone's meta
/// attributes as `CRM_meta_*`; `overrides` (`--param`) win. The process's
/// own variables (PATH, PGPASSFILE...) are kept.
pub fn resource_env(p: &Primitive, overrides: &[(String, String)]) -> OcfEnv {
    let own = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| !k.starts_with("OCF_"));
    let mut vars: Vec<(String, String)> = own.collect();
    vars.push(("OCF_RESOURCE_INSTANCE".into(), p.id.clone()));
    for (k, v) in &p.params {
        vars.push((format!("OCF_RESKEY_{k}"), v.clone()));
    }
    if let Some(c) = &p.clone {
        for (k, v) in &c.meta {
            vars.push((
                format!("OCF_RESKEY_CRM_meta_{}", k.replace('-', "_")),
                v.clone(),
            ));
        }
        if c.promotable {
            // Pacemaker 1's <master> says so by its name alone.
            vars.push(("OCF_RESKEY_CRM_meta_promotable".into(), "true".into()));
        }
    }
    OcfEnv::from_vars(vars, overrides)
}

/// The contract that runs the resource: PAF's for `pgsqlms`, else pgsql's.
pub fn personality(p: &Primitive) -> &'static dyn Agent {
    match p.kind.as_str() {
        "pgsqlms" => &PGSQLMS,
        _ => &PGSQL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_pacemaker_would_give() {
        let cib = cib::Cib::parse(
            r#"<cib><configuration><resources><clone id="c">
              <meta_attributes id="m"><nvpair id="a" name="promotable" value="true"/>
              <nvpair id="b" name="clone-max" value="3"/></meta_attributes>
              <primitive id="pg" class="ocf" provider="heartbeat" type="pgsqlms">
              <instance_attributes id="i"><nvpair id="d" name="pgdata" value="/srv/pg"/>
              <nvpair id="e" name="pgport" value="5433"/></instance_attributes>
              </primitive></clone></resources></configuration></cib>"#,
        )
        .unwrap();
        let p = cib.resource(None).unwrap();
        let env = resource_env(p, &[("pgport".into(), "5434".into())]);
        assert_eq!(env.resource_name(), "pg");
        assert_eq!(env.param("pgdata"), Some("/srv/pg"));
        assert_eq!(env.param("pgport"), Some("5434"));
        assert_eq!(env.meta("clone_max"), Some("3"));
        assert!(env.is_promotable());
        assert_eq!(personality(p).name(), "pgsqlms");
    }
}
