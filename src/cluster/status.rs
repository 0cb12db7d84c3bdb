//! One snapshot of the cluster, from one `crm_mon` call.
//!
//! The reference runs `crm_mon` once per online check and `crm_attribute`
//! once per attribute read. `crm_mon -1 --output-as=xml -A` already holds
//! everything an action reads: which nodes are online, where the resource is
//! promoted, and every node attribute (transient and permanent alike), so we
//! read it once and answer all questions from the snapshot.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;

/// What `crm_mon` showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterStatus {
    /// Node name (as Pacemaker spells it) -> online.
    pub nodes: BTreeMap<String, bool>,
    /// Nodes where the resource (the primitive id) runs promoted.
    pub promoted: Vec<String>,
    /// Nodes where the resource runs unpromoted.
    pub unpromoted: Vec<String>,
    /// Node name -> attribute name -> value.
    pub attrs: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether this node's partition has quorum (`current_dc with_quorum`).
    /// A partition without a DC has none; `None` when crm_mon said nothing.
    pub quorate: Option<bool>,
    /// The cluster options crm_mon reports (`stonith-enabled`,
    /// `no-quorum-policy`); `None` when it did not.
    pub fencing: Option<bool>,
    pub no_quorum_policy: Option<String>,
}

impl ClusterStatus {
    /// Parses crm_mon's XML (`--output-as=xml` or the older `--as-xml`) for
    /// the primitive `rsc`.
    pub fn parse(xml: &str, rsc: &str) -> Result<ClusterStatus, String> {
        let mut st = ClusterStatus::default();
        let mut reader = Reader::from_str(xml);
        // Where we are: inside <nodes>, inside <resource id=rsc role=...>,
        // inside <node_attributes><node name=...>.
        let mut in_nodes = false;
        let mut resource_role: Option<String> = None;
        let mut in_node_attributes = false;
        let mut attr_node: Option<String> = None;
        // Output without crm_mon's document element is not a cluster with
        // nothing in it: decisions (promote, the election) must not be made
        // on it.
        let mut document = false;
        loop {
            let ev = reader
                .read_event()
                .map_err(|e| format!("crm_mon XML: {e}"))?;
            let (el, empty) = match &ev {
                Event::Start(e) => (Some(e.clone()), false),
                Event::Empty(e) => (Some(e.clone()), true),
                Event::End(e) => {
                    match e.name().as_ref() {
                        b"nodes" => in_nodes = false,
                        b"resource" => resource_role = None,
                        b"node_attributes" => in_node_attributes = false,
                        b"node" if in_node_attributes => attr_node = None,
                        _ => {}
                    }
                    (None, false)
                }
                Event::Eof => break,
                _ => (None, false),
            };
            let Some(el) = el else { continue };
            let get = |name: &str| -> Option<String> {
                el.attributes()
                    .filter_map(Result::ok)
                    .find(|a| a.key.as_ref() == name.as_bytes())
                    .and_then(|a| a.unescape_value().ok())
                    .map(|v| v.into_owned())
            };
            match el.name().as_ref() {
                b"pacemaker-result" | b"crm_mon" => document = true,
                b"current_dc" => {
                    st.quorate = Some(
                        get("present").as_deref() == Some("true")
                            && get("with_quorum").as_deref() == Some("true"),
                    );
                }
                b"cluster_options" => {
                    st.fencing = get("stonith-enabled").map(|v| v == "true");
                    st.no_quorum_policy = get("no-quorum-policy");
                }
                b"nodes" if !empty => in_nodes = true,
                b"node" if in_nodes => {
                    if let Some(name) = get("name") {
                        st.nodes
                            .insert(name, get("online").as_deref() == Some("true"));
                    }
                }
                b"resource" => {
                    let id = get("id").unwrap_or_default();
                    // Clone instances may show as "pgsql:0" in old versions.
                    let base = id.split(':').next().unwrap_or("");
                    if base == rsc && !empty {
                        resource_role = get("role");
                    }
                }
                b"node" if resource_role.is_some() => {
                    if let Some(name) = get("name") {
                        match resource_role.as_deref() {
                            Some("Promoted") | Some("Master") => st.promoted.push(name),
                            Some("Unpromoted") | Some("Slave") => st.unpromoted.push(name),
                            _ => {}
                        }
                    }
                }
                b"node_attributes" if !empty => in_node_attributes = true,
                b"node" if in_node_attributes => {
                    attr_node = get("name");
                    if let Some(n) = &attr_node {
                        st.attrs.entry(n.clone()).or_default();
                    }
                    if empty {
                        attr_node = None;
                    }
                }
                b"attribute" if in_node_attributes => {
                    if let (Some(node), Some(name), Some(value)) =
                        (&attr_node, get("name"), get("value"))
                    {
                        st.attrs
                            .entry(node.clone())
                            .or_default()
                            .insert(name, value);
                    }
                }
                _ => {}
            }
        }
        if !document {
            return Err("crm_mon printed no <pacemaker-result> or <crm_mon> document".to_string());
        }
        Ok(st)
    }

    fn find<'a, V>(map: &'a BTreeMap<String, V>, node: &str) -> Option<&'a V> {
        map.get(node).or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(node))
                .map(|(_, v)| v)
        })
    }

    /// `is_node_online`: node names compare case-insensitively and exactly
    /// (the reference used them as regular expressions).
    pub fn is_online(&self, node: &str) -> bool {
        Self::find(&self.nodes, node).copied().unwrap_or(false)
    }

    /// `node_exist`: Pacemaker knows the node, online or not.
    pub fn knows(&self, node: &str) -> bool {
        Self::find(&self.nodes, node).is_some()
    }

    pub fn attr(&self, node: &str, name: &str) -> Option<&str> {
        Self::find(&self.attrs, node)
            .and_then(|m| m.get(name))
            .map(String::as_str)
    }

    /// Is the resource promoted anywhere?
    pub fn has_promoted(&self) -> bool {
        !self.promoted.is_empty()
    }

    /// Quorum as crm_mon showed it; unknown counts as none.
    pub fn is_quorate(&self) -> bool {
        self.quorate == Some(true)
    }

    /// Fencing is configured off (`stonith-enabled=false`): a node that left
    /// the membership is not known to be stopped. Unknown counts as on, as
    /// it is Pacemaker's default.
    pub fn fencing_disabled(&self) -> bool {
        self.fencing == Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml -A">
  <summary><stack type="corosync"/></summary>
  <nodes>
    <node name="node1" id="1" online="true" standby="false" type="member"/>
    <node name="Node2" id="2" online="true" standby="false" type="member"/>
    <node name="node3" id="3" online="false" standby="false" type="member"/>
  </nodes>
  <resources>
    <clone id="msPostgresql" multi_state="true">
      <resource id="pgsql" resource_agent="ocf:heartbeat:pgsql" role="Promoted" active="true" nodes_running_on="1">
        <node name="node1" id="1" cached="true"/>
      </resource>
      <resource id="pgsql" resource_agent="ocf:heartbeat:pgsql" role="Unpromoted" active="true" nodes_running_on="1">
        <node name="Node2" id="2" cached="true"/>
      </resource>
      <resource id="pgsql" resource_agent="ocf:heartbeat:pgsql" role="Stopped" active="false" nodes_running_on="0"/>
    </clone>
    <resource id="vip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true" nodes_running_on="1">
      <node name="node1" id="1" cached="true"/>
    </resource>
  </resources>
  <node_attributes>
    <node name="node1">
      <attribute name="master-pgsql" value="1000"/>
      <attribute name="pgsql-data-status" value="LATEST"/>
      <attribute name="pgsql-status" value="PRI"/>
    </node>
    <node name="Node2">
      <attribute name="pgsql-data-status" value="STREAMING|SYNC"/>
    </node>
  </node_attributes>
  <status code="0" message="OK"/>
</pacemaker-result>"#;

    #[test]
    fn garbage_is_not_an_empty_cluster() {
        for out in ["", "\u{1}<<<%not xml>>>\n{\"x\":}", "<html><body/></html>"] {
            assert!(ClusterStatus::parse(out, "pgsql").is_err(), "{out:?}");
        }
    }

    #[test]
    fn parses_nodes_roles_and_attributes() {
        let st = ClusterStatus::parse(SAMPLE, "pgsql").unwrap();
        assert!(st.is_online("node1"));
        assert!(st.is_online("node2"), "case-insensitive");
        assert!(!st.is_online("node3"));
        assert!(st.knows("node3"));
        assert!(!st.knows("node30"));
        assert_eq!(st.promoted, vec!["node1"]);
        assert_eq!(st.unpromoted, vec!["Node2"]);
        assert_eq!(st.attr("node1", "master-pgsql"), Some("1000"));
        assert_eq!(
            st.attr("node2", "pgsql-data-status"),
            Some("STREAMING|SYNC")
        );
        assert_eq!(st.attr("node2", "pgsql-status"), None);
    }

    #[test]
    fn quorum_and_cluster_options() {
        let st = ClusterStatus::parse(SAMPLE, "pgsql").unwrap();
        assert_eq!((st.quorate, st.fencing), (None, None));
        assert!(!st.is_quorate() && !st.fencing_disabled());
        let with = |summary: &str| {
            ClusterStatus::parse(
                &SAMPLE.replace("<summary><stack type=\"corosync\"/></summary>", summary),
                "pgsql",
            )
            .unwrap()
        };
        let st = with(
            r#"<summary><current_dc present="true" name="node1" with_quorum="true"/>
            <cluster_options stonith-enabled="false" no-quorum-policy="ignore"/></summary>"#,
        );
        assert!(st.is_quorate() && st.fencing_disabled());
        assert_eq!(st.no_quorum_policy.as_deref(), Some("ignore"));
        let st = with(
            r#"<summary><current_dc present="true" name="node1" with_quorum="false"/>
            <cluster_options stonith-enabled="true" no-quorum-policy="stop"/></summary>"#,
        );
        assert!(!st.is_quorate() && !st.fencing_disabled());
        let st = with(r#"<summary><current_dc present="false"/></summary>"#);
        assert_eq!(st.quorate, Some(false), "no DC: no quorum");
    }

    #[test]
    fn other_resources_do_not_count() {
        let st = ClusterStatus::parse(SAMPLE, "vip2").unwrap();
        assert!(!st.has_promoted());
    }

    #[test]
    fn legacy_master_role() {
        let xml = r#"<crm_mon><nodes><node name="a" online="true"/></nodes><resources>
            <clone id="ms"><resource id="pgsql:0" role="Master"><node name="a"/></resource></clone>
            </resources></crm_mon>"#;
        let st = ClusterStatus::parse(xml, "pgsql").unwrap();
        assert_eq!(st.promoted, vec!["a"]);
    }
}
