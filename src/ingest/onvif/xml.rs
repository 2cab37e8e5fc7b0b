//! A small read-only element tree over quick-xml, just enough to pick fields out of
//! SOAP answers.
//!
//! Element and attribute names keep only their local part: cameras bind the ONVIF
//! namespaces to whatever prefixes they like (`tt:`, `ns2:`, none), so matching on
//! prefixes would fail on real devices, and no two fields we read share a local name
//! in a way that matters.

use quick_xml::events::{BytesStart, Event};

/// Nesting deeper than this is refused (a hostile answer must not exhaust the stack).
const MAX_DEPTH: usize = 64;
/// Elements beyond this are refused (answers are bounded in bytes too, this bounds
/// the tree built from them).
const MAX_ELEMENTS: usize = 20_000;

/// One element: local name, attributes (local names) and text content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// Concatenated character data directly inside this element, trimmed.
    pub text: String,
    pub children: Vec<Element>,
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("not well-formed XML ({0})")]
    Syntax(String),
    #[error("no root element")]
    Empty,
    #[error("too deeply nested or too many elements")]
    TooLarge,
}

impl Element {
    /// Value of the attribute with this local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First direct child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Follow a path of direct children (`["Resolution", "Width"]`).
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// First element with this local name, depth first, this one included.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    /// Every element with this local name, depth first (not looking inside matches).
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        if self.name == name {
            out.push(self);
            return;
        }
        for c in &self.children {
            c.find_all(name, out);
        }
    }
}

fn local(qname: &[u8]) -> String {
    let local = match qname.iter().rposition(|&b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    };
    String::from_utf8_lossy(local).into_owned()
}

fn open(e: &BytesStart<'_>) -> Result<Element, XmlError> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| XmlError::Syntax(e.to_string()))?;
        let key = a.key.as_ref();
        // Namespace declarations are not data.
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let value = a
            .unescape_value()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        attrs.push((local(key), value.into_owned()));
    }
    Ok(Element {
        name: local(e.name().as_ref()),
        attrs,
        ..Element::default()
    })
}

/// Parse `text` into the tree of its root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let syntax = |e: &dyn std::fmt::Display| XmlError::Syntax(e.to_string());
    loop {
        let event = reader.read_event().map_err(|e| syntax(&e))?;
        match event {
            Event::Start(e) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                stack.push(open(&e)?);
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                let el = open(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(XmlError::Syntax("unexpected end tag".into()));
                };
                done.text = done.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(t) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&t.decode().map_err(|e| syntax(&e))?);
                }
            }
            Event::CData(t) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&t.decode().map_err(|e| syntax(&e))?);
                }
            }
            Event::GeneralRef(r) => {
                let Some(cur) = stack.last_mut() else {
                    continue;
                };
                if let Some(c) = r.resolve_char_ref().map_err(|e| syntax(&e))? {
                    cur.text.push(c);
                } else {
                    let name = r.decode().map_err(|e| syntax(&e))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => cur.text.push_str(s),
                        None => return Err(XmlError::Syntax(format!("unknown entity &{name};"))),
                    }
                }
            }
            Event::Eof => {
                return Err(if stack.is_empty() {
                    XmlError::Empty
                } else {
                    XmlError::Syntax("document ends inside an element".into())
                });
            }
            // Declaration, comments, processing instructions, DOCTYPE: no data.
            _ => {}
        }
    }
}

/// Escape text for an XML element or attribute value.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_dropped_and_entities_resolved() {
        let doc = parse(
            r#"<?xml version="1.0"?><!-- c --><s:Envelope xmlns:s="urn:s"><s:Body>
               <tt:Name xmlns:tt="urn:t" tt:token="a&amp;b">Gate &amp; road &#x4e1c;</tt:Name>
               <Empty/><![CDATA[<x>]]></s:Body></s:Envelope>"#,
        )
        .unwrap();
        assert_eq!(doc.name, "Envelope");
        let name = doc.find("Name").unwrap();
        assert_eq!(name.text, "Gate & road 东");
        assert_eq!(name.attr("token"), Some("a&b"));
        assert_eq!(
            doc.path(&["Body", "Empty"]).map(|e| e.name.as_str()),
            Some("Empty")
        );
        assert_eq!(doc.child("Body").unwrap().text, "<x>");
    }

    #[test]
    fn malformed_or_non_xml_text_is_an_error() {
        assert!(parse("<html><body>hello</html>").is_err());
        assert!(matches!(parse("plain text"), Err(XmlError::Empty)));
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>&bogus;</a>").is_err());
    }

    #[test]
    fn absurd_nesting_is_refused() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(&deep), Err(XmlError::TooLarge)));
    }
}
