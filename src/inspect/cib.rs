//! The CIB as `show` and `check` read it: one `cibadmin --query`, parsed
//! into what an operator asks about.
//!
//! The actions never need this: Pacemaker hands them their parameters and
//! `crm_mon` holds everything else they read (cluster/status.rs). An
//! operator at a shell has neither, so the resource, its parameters, its
//! operations, the constraints on it, the node attributes and the
//! fail-counts all come from the CIB here. The document is small (a few
//! hundred elements), so it is read into a tree first.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One element of the document: name, attributes, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every descendant named `name`, depth first.
    pub fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }

    /// The `nvpair`s of every `<set>` child (`instance_attributes`,
    /// `meta_attributes`...), in document order. Rules on a set are not
    /// evaluated: the pairs of every set count.
    fn nvpairs(&self, set: &str) -> Vec<(String, String)> {
        self.all(set)
            .flat_map(|s| s.all("nvpair"))
            .filter_map(|p| Some((p.attr("name")?.to_string(), p.attr("value")?.to_string())))
            .collect()
    }
}

fn start_of(e: &BytesStart) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| format!("CIB XML: {e}"))?;
        let v = a
            .unescape_value()
            .map_err(|e| format!("CIB XML: {e}"))?
            .into_owned();
        attrs.push((String::from_utf8_lossy(a.key.as_ref()).into_owned(), v));
    }
    Ok(Element {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs,
        children: Vec::new(),
    })
}

/// Parses a whole document into its root element.
pub fn parse_tree(xml: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().map_err(|e| format!("CIB XML: {e}"))? {
            Event::Start(e) => stack.push(start_of(&e)?),
            Event::Empty(e) => {
                let el = start_of(&e)?;
                stack.last_mut().expect("root").children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().expect("an open element");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Err("CIB XML: unbalanced end tag".into()),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut doc = stack
        .pop()
        .filter(|_| stack.is_empty())
        .ok_or("CIB XML: unclosed element")?;
    doc.children
        .pop()
        .filter(|_| doc.children.is_empty())
        .ok_or_else(|| "CIB XML: not one root element".to_string())
}

/// An operation of a primitive (`<op>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub name: String,
    pub interval: String,
    pub role: Option<String>,
    pub timeout: Option<String>,
}

/// A primitive and the clone around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primitive {
    pub id: String,
    /// `ocf:<provider>:<type>`, as crm and pcs spell it.
    pub class: String,
    pub provider: String,
    pub kind: String,
    pub params: Vec<(String, String)>,
    pub meta: Vec<(String, String)>,
    pub ops: Vec<Op>,
    /// The clone (or Pacemaker 1's `master`) the primitive is in.
    pub clone: Option<Clone>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clone {
    pub id: String,
    pub promotable: bool,
    pub meta: Vec<(String, String)>,
}

impl Primitive {
    pub fn agent(&self) -> String {
        format!("{}:{}:{}", self.class, self.provider, self.kind)
    }

    /// Every id a constraint may name this resource by.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids = vec![self.id.as_str()];
        if let Some(c) = &self.clone {
            ids.push(&c.id);
        }
        ids
    }

    /// A meta attribute: the primitive's, else its clone's.
    pub fn meta(&self, name: &str) -> Option<&str> {
        let own = self.meta.iter().find(|(k, _)| k == name);
        let clone = self
            .clone
            .as_ref()
            .and_then(|c| c.meta.iter().find(|(k, _)| k == name));
        own.or(clone).map(|(_, v)| v.as_str())
    }

    /// The id to give `crm_resource --resource` for the whole clone.
    pub fn handle(&self) -> &str {
        self.clone.as_ref().map_or(&self.id, |c| &c.id)
    }
}

/// A location constraint on the resource (plain or with rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: String,
    pub rsc: String,
    pub node: Option<String>,
    /// The constraint's score, or its first rule's.
    pub score: String,
    pub role: Option<String>,
    pub has_rule: bool,
}

impl Location {
    /// `crm_resource --ban` and `--move` write these; `--clear` removes them.
    pub fn is_cli(&self) -> bool {
        self.id.starts_with("cli-ban-") || self.id.starts_with("cli-prefer-")
    }

    pub fn is_ban(&self) -> bool {
        self.score == "-INFINITY" || self.score == "-inf"
    }
}

/// What `show` and `check` read from the CIB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cib {
    pub primitives: Vec<Primitive>,
    pub locations: Vec<Location>,
    /// The configured nodes, in CIB order.
    pub nodes: Vec<String>,
    /// Node -> permanent attribute (`<nodes><node><instance_attributes>`).
    pub node_attrs: BTreeMap<String, BTreeMap<String, String>>,
    /// Node -> transient attribute (status section), fail-counts included.
    pub transient: BTreeMap<String, BTreeMap<String, String>>,
    pub properties: BTreeMap<String, String>,
    pub rsc_defaults: BTreeMap<String, String>,
}

impl Cib {
    pub fn parse(xml: &str) -> Result<Cib, String> {
        let root = parse_tree(xml)?;
        if root.name != "cib" {
            return Err(format!("not a CIB: the document is <{}>", root.name));
        }
        let mut cib = Cib::default();
        let Some(conf) = root.first("configuration") else {
            return Err("the CIB has no <configuration>".into());
        };
        if let Some(c) = conf.first("crm_config") {
            cib.properties = c.nvpairs("cluster_property_set").into_iter().collect();
        }
        if let Some(d) = conf.first("rsc_defaults") {
            cib.rsc_defaults = d.nvpairs("meta_attributes").into_iter().collect();
        }
        for n in conf.first("nodes").into_iter().flat_map(|n| n.all("node")) {
            let Some(name) = n.attr("uname") else {
                continue;
            };
            cib.nodes.push(name.to_string());
            cib.node_attrs.insert(
                name.to_string(),
                n.nvpairs("instance_attributes").into_iter().collect(),
            );
        }
        if let Some(r) = conf.first("resources") {
            collect_primitives(r, None, &mut cib.primitives);
        }
        let mut locs = Vec::new();
        if let Some(c) = conf.first("constraints") {
            c.descendants("rsc_location", &mut locs);
        }
        cib.locations = locs.into_iter().filter_map(location).collect();
        for ns in root
            .first("status")
            .into_iter()
            .flat_map(|s| s.all("node_state"))
        {
            let Some(name) = ns.attr("uname") else {
                continue;
            };
            let attrs = ns
                .all("transient_attributes")
                .flat_map(|t| t.nvpairs("instance_attributes"))
                .collect();
            cib.transient.insert(name.to_string(), attrs);
        }
        Ok(cib)
    }

    /// The primitives an agent of this binary runs: `type` pgsql or pgsqlms.
    pub fn postgres_resources(&self) -> Vec<&Primitive> {
        self.primitives
            .iter()
            .filter(|p| p.class == "ocf" && matches!(p.kind.as_str(), "pgsql" | "pgsqlms"))
            .collect()
    }

    /// The resource `show` and `check` are about: the one named (by its
    /// primitive's or its clone's id), else the only PostgreSQL one.
    pub fn resource(&self, wanted: Option<&str>) -> Result<&Primitive, String> {
        if let Some(w) = wanted {
            return self
                .primitives
                .iter()
                .find(|p| p.ids().contains(&w))
                .ok_or_else(|| format!("the CIB has no resource {w}"));
        }
        match self.postgres_resources().as_slice() {
            [one] => Ok(one),
            [] => Err("the CIB has no pgsql or pgsqlms resource; name one with --resource".into()),
            many => Err(format!(
                "the CIB has several PostgreSQL resources ({}); name one with --resource",
                many.iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The location constraints that name the resource.
    pub fn locations_of<'a>(&'a self, p: &Primitive) -> Vec<&'a Location> {
        let ids = p.ids();
        self.locations
            .iter()
            .filter(|l| ids.contains(&l.rsc.as_str()))
            .collect()
    }

    /// The resource's fail-counts on `node`: (operation, count) from the
    /// `fail-count-<rsc>#<op>_<interval>` attributes (and Pacemaker 1's
    /// plain `fail-count-<rsc>`).
    pub fn fail_counts(&self, p: &Primitive, node: &str) -> Vec<(String, String)> {
        let Some(attrs) = self.transient.get(node) else {
            return Vec::new();
        };
        let prefix = format!("fail-count-{}", p.id);
        attrs
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(&prefix)?;
                let rest = rest
                    .strip_prefix(':')
                    .map_or(rest, |r| r.trim_start_matches(|c: char| c.is_ascii_digit()));
                match rest.strip_prefix('#') {
                    Some(op) => Some((op.to_string(), v.clone())),
                    None if rest.is_empty() => Some((String::new(), v.clone())),
                    None => None,
                }
            })
            .collect()
    }

    /// `migration-threshold` of the resource, else of rsc_defaults, else
    /// Pacemaker's default (1000000).
    pub fn migration_threshold(&self, p: &Primitive) -> i64 {
        p.meta("migration-threshold")
            .or(self
                .rsc_defaults
                .get("migration-threshold")
                .map(String::as_str))
            .and_then(parse_score)
            .unwrap_or(1_000_000)
    }
}

/// A Pacemaker score: an integer or +/-INFINITY (as +/-1000000).
pub fn parse_score(s: &str) -> Option<i64> {
    match s.trim() {
        "INFINITY" | "+INFINITY" | "inf" | "+inf" => Some(1_000_000),
        "-INFINITY" | "-inf" => Some(-1_000_000),
        n => n.parse().ok().map(|v: i64| v.clamp(-1_000_000, 1_000_000)),
    }
}

fn collect_primitives(el: &Element, clone: Option<&Clone>, out: &mut Vec<Primitive>) {
    for c in &el.children {
        match c.name.as_str() {
            "primitive" => out.push(primitive(c, clone.cloned())),
            "clone" | "master" => {
                let meta = c.nvpairs("meta_attributes");
                let promotable = c.name == "master"
                    || meta.iter().any(|(k, v)| {
                        k == "promotable" && crate::ocf::env::parse_bool(v) == Some(true)
                    });
                let info = Clone {
                    id: c.attr("id").unwrap_or_default().to_string(),
                    promotable,
                    meta,
                };
                collect_primitives(c, Some(&info), out);
            }
            "group" => collect_primitives(c, clone, out),
            _ => {}
        }
    }
}

fn primitive(el: &Element, clone: Option<Clone>) -> Primitive {
    let ops = el
        .first("operations")
        .into_iter()
        .flat_map(|o| o.all("op"))
        .map(|o| Op {
            name: o.attr("name").unwrap_or_default().to_string(),
            interval: o.attr("interval").unwrap_or("0").to_string(),
            role: o.attr("role").map(str::to_string),
            timeout: o.attr("timeout").map(str::to_string),
        })
        .collect();
    Primitive {
        id: el.attr("id").unwrap_or_default().to_string(),
        class: el.attr("class").unwrap_or_default().to_string(),
        provider: el.attr("provider").unwrap_or_default().to_string(),
        kind: el.attr("type").unwrap_or_default().to_string(),
        params: el.nvpairs("instance_attributes"),
        meta: el.nvpairs("meta_attributes"),
        ops,
        clone,
    }
}

fn location(el: &Element) -> Option<Location> {
    let rule = el.first("rule");
    Some(Location {
        id: el.attr("id")?.to_string(),
        rsc: el.attr("rsc")?.to_string(),
        node: el.attr("node").map(str::to_string),
        score: el
            .attr("score")
            .or_else(|| rule.and_then(|r| r.attr("score")))
            .unwrap_or_default()
            .to_string(),
        role: el
            .attr("role")
            .or_else(|| rule.and_then(|r| r.attr("role")))
            .map(str::to_string),
        has_rule: rule.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const CIB: &str = r##"<cib epoch="5" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="o1" name="stonith-enabled" value="false"/>
        <nvpair id="o2" name="no-quorum-policy" value="ignore"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="node1"/>
      <node id="2" uname="node2">
        <instance_attributes id="nodes-2"><nvpair id="n2s" name="standby" value="on"/></instance_attributes>
      </node>
      <node id="3" uname="node3"/>
    </nodes>
    <resources>
      <clone id="pgsql-clone">
        <meta_attributes id="m"><nvpair id="m1" name="promotable" value="true"/><nvpair id="m2" name="notify" value="true"/></meta_attributes>
        <primitive id="pgsql" class="ocf" provider="upfront" type="pgsql">
          <instance_attributes id="ia">
            <nvpair id="p1" name="rep_mode" value="sync"/>
            <nvpair id="p2" name="node_list" value="node1 node2 node3"/>
            <nvpair id="p3" name="master_ip" value="10.0.0.10"/>
          </instance_attributes>
          <meta_attributes id="pm"><nvpair id="pm1" name="migration-threshold" value="1"/></meta_attributes>
          <operations>
            <op id="o-start" name="start" interval="0s" timeout="60s"/>
            <op id="o-mon" name="monitor" interval="4s" timeout="60s" role="Promoted"/>
          </operations>
        </primitive>
      </clone>
      <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>
    </resources>
    <constraints>
      <rsc_location id="cli-ban-pgsql-clone-on-node3" rsc="pgsql-clone" role="Started" node="node3" score="-INFINITY"/>
      <rsc_location id="prefer" rsc="pgsql-clone"><rule id="r" score="100" role="Promoted"><expression id="e" attribute="#uname" operation="eq" value="node1"/></rule></rsc_location>
      <rsc_location id="other" rsc="vip" node="node1" score="50"/>
    </constraints>
    <rsc_defaults><meta_attributes id="rd"><nvpair id="rd1" name="resource-stickiness" value="INFINITY"/></meta_attributes></rsc_defaults>
  </configuration>
  <status>
    <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member">
      <transient_attributes id="1">
        <instance_attributes id="status-1">
          <nvpair id="s1" name="master-pgsql" value="1000"/>
          <nvpair id="s2" name="fail-count-pgsql#monitor_4000" value="2"/>
          <nvpair id="s3" name="fail-count-pgsqlx#start_0" value="1"/>
        </instance_attributes>
      </transient_attributes>
    </node_state>
  </status>
</cib>"##;

    #[test]
    fn reads_the_resource_and_what_surrounds_it() {
        let cib = Cib::parse(CIB).unwrap();
        let p = cib.resource(None).unwrap();
        assert_eq!(p.id, "pgsql");
        assert_eq!(p.agent(), "ocf:upfront:pgsql");
        assert_eq!(p.handle(), "pgsql-clone");
        assert!(p.clone.as_ref().unwrap().promotable);
        assert_eq!(p.params[0], ("rep_mode".into(), "sync".into()));
        assert_eq!(p.meta("notify"), Some("true"));
        assert_eq!(p.ops[1].role.as_deref(), Some("Promoted"));
        assert_eq!(cib.resource(Some("pgsql-clone")).unwrap().id, "pgsql");
        assert!(cib.resource(Some("nope")).is_err());
        assert_eq!(cib.nodes, ["node1", "node2", "node3"]);
        assert_eq!(cib.node_attrs["node2"]["standby"], "on");
        assert_eq!(cib.properties["stonith-enabled"], "false");
        let locs = cib.locations_of(p);
        assert_eq!(locs.len(), 2);
        assert!(locs[0].is_cli() && locs[0].is_ban());
        assert_eq!(locs[0].node.as_deref(), Some("node3"));
        assert!(locs[1].has_rule && locs[1].score == "100");
        assert_eq!(
            cib.fail_counts(p, "node1"),
            vec![("monitor_4000".to_string(), "2".to_string())]
        );
        assert!(cib.fail_counts(p, "node2").is_empty());
        assert_eq!(cib.migration_threshold(p), 1);
        assert_eq!(cib.transient["node1"]["master-pgsql"], "1000");
    }

    #[test]
    fn several_or_no_resources_need_a_name() {
        let two = CIB.replace(
            r#"<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>"#,
            r#"<primitive id="pg2" class="ocf" provider="heartbeat" type="pgsqlms"/>"#,
        );
        let cib = Cib::parse(&two).unwrap();
        let e = cib.resource(None).unwrap_err();
        assert!(e.contains("pgsql, pg2"), "{e}");
        let none = Cib::parse("<cib><configuration/></cib>").unwrap();
        assert!(none.resource(None).unwrap_err().contains("no pgsql"));
        assert!(Cib::parse("<cib>").is_err());
        assert!(Cib::parse("<other/>").is_err());
    }

    #[test]
    fn scores() {
        assert_eq!(parse_score("-INFINITY"), Some(-1_000_000));
        assert_eq!(parse_score("INFINITY"), Some(1_000_000));
        assert_eq!(parse_score("100"), Some(100));
        assert_eq!(parse_score("x"), None);
    }
}
