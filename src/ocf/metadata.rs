//! The meta-data document: one table in the code, written as XML.
//!
//! `crm ra info`, `pcs resource describe`, ocf-tester (which validates against
//! resource-agents' `ra-api-1.dtd`) and the man page all read what this module
//! writes, from the same `AgentMeta` table, so they cannot disagree.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Boolean,
}

impl ParamType {
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Boolean => "boolean",
        }
    }
}

/// One instance parameter as advertised.
#[derive(Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
    pub kind: ParamType,
    /// The default as shown; `None` means "computed at run time" (for example
    /// `config`, which defaults to `<pgdata>/postgresql.conf`).
    pub default: Option<&'static str>,
    pub required: bool,
    pub unique: bool,
}

/// The common case of a parameter: optional, not unique.
pub const fn param(
    name: &'static str,
    shortdesc: &'static str,
    kind: ParamType,
    default: Option<&'static str>,
    longdesc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        shortdesc,
        longdesc,
        kind,
        default,
        required: false,
        unique: false,
    }
}

/// An action with a timeout only (no interval, depth or role).
pub const fn action(name: &'static str, timeout: &'static str) -> ActionSpec {
    ActionSpec {
        name,
        timeout,
        interval: None,
        depth: None,
        role: None,
    }
}

impl ParamSpec {
    /// The same parameter with OCF's `unique` flag set as given.
    pub const fn unique(mut self, unique: bool) -> ParamSpec {
        self.unique = unique;
        self
    }
}

/// One `<action>` line.
#[derive(Debug)]
pub struct ActionSpec {
    pub name: &'static str,
    pub timeout: &'static str,
    pub interval: Option<&'static str>,
    pub depth: Option<&'static str>,
    pub role: Option<&'static str>,
}

#[derive(Debug)]
pub struct AgentMeta {
    pub name: &'static str,
    pub version: &'static str,
    pub longdesc: &'static str,
    pub shortdesc: &'static str,
    pub params: &'static [ParamSpec],
    pub actions: &'static [ActionSpec],
}

impl AgentMeta {
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The XML document. `computed_default` supplies the defaults that depend
    /// on other parameters (the table has `None` for those).
    pub fn to_xml(&self, computed_default: &dyn Fn(&str) -> Option<String>) -> String {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        let ok = self.write(&mut w, computed_default);
        debug_assert!(ok.is_ok());
        let mut out = String::from_utf8(w.into_inner()).unwrap_or_default();
        out.push('\n');
        out
    }

    fn write(
        &self,
        w: &mut Writer<Vec<u8>>,
        computed_default: &dyn Fn(&str) -> Option<String>,
    ) -> std::io::Result<()> {
        w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)))?;
        w.write_event(Event::DocType(BytesText::from_escaped(
            r#"resource-agent SYSTEM "ra-api-1.dtd""#,
        )))?;
        let mut root = BytesStart::new("resource-agent");
        root.push_attribute(("name", self.name));
        root.push_attribute(("version", self.version));
        w.write_event(Event::Start(root))?;
        text_element(w, "version", &[], "1.0")?;
        text_element(w, "longdesc", &[("lang", "en")], self.longdesc)?;
        text_element(w, "shortdesc", &[("lang", "en")], self.shortdesc)?;

        w.write_event(Event::Start(BytesStart::new("parameters")))?;
        for p in self.params {
            let mut el = BytesStart::new("parameter");
            el.push_attribute(("name", p.name));
            el.push_attribute(("unique", if p.unique { "1" } else { "0" }));
            el.push_attribute(("required", if p.required { "1" } else { "0" }));
            w.write_event(Event::Start(el))?;
            text_element(w, "longdesc", &[("lang", "en")], p.longdesc)?;
            text_element(w, "shortdesc", &[("lang", "en")], p.shortdesc)?;
            let default = match p.default {
                Some(d) => d.to_string(),
                None => computed_default(p.name).unwrap_or_default(),
            };
            let mut content = BytesStart::new("content");
            content.push_attribute(("type", p.kind.name()));
            content.push_attribute(("default", default.as_str()));
            w.write_event(Event::Empty(content))?;
            w.write_event(Event::End(BytesEnd::new("parameter")))?;
        }
        w.write_event(Event::End(BytesEnd::new("parameters")))?;

        w.write_event(Event::Start(BytesStart::new("actions")))?;
        for a in self.actions {
            let mut el = BytesStart::new("action");
            el.push_attribute(("name", a.name));
            el.push_attribute(("timeout", a.timeout));
            if let Some(i) = a.interval {
                el.push_attribute(("interval", i));
            }
            if let Some(d) = a.depth {
                el.push_attribute(("depth", d));
            }
            if let Some(r) = a.role {
                el.push_attribute(("role", r));
            }
            w.write_event(Event::Empty(el))?;
        }
        w.write_event(Event::End(BytesEnd::new("actions")))?;
        w.write_event(Event::End(BytesEnd::new("resource-agent")))?;
        Ok(())
    }

    /// The default timeout of an action, in seconds, as advertised.
    pub fn action_timeout(&self, action: &str) -> Option<std::time::Duration> {
        let a = self.actions.iter().find(|a| a.name == action)?;
        let secs: u64 = a.timeout.trim_end_matches('s').parse().ok()?;
        Some(std::time::Duration::from_secs(secs))
    }
}

fn text_element(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    attrs: &[(&str, &str)],
    text: &str,
) -> std::io::Result<()> {
    let mut el = BytesStart::new(name);
    for a in attrs {
        el.push_attribute(*a);
    }
    w.write_event(Event::Start(el))?;
    // Only <, > and & need escaping in text; quotes stay readable.
    w.write_event(Event::Text(BytesText::from_escaped(
        quick_xml::escape::partial_escape(text),
    )))?;
    w.write_event(Event::End(BytesEnd::new(name)))?;
    Ok(())
}
