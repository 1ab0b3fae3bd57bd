//! A small, namespace-agnostic element tree over `quick-xml`.
//!
//! ONVIF devices differ in the prefixes they use (`tt:`, `onvif:`, `ns2:`, none at all), and some answer with
//! prefixes they never declare (ipycam's PTZ answers use `ptz:`/`tptz:` without an `xmlns`). A validating,
//! namespace-resolving parser would reject those answers, so elements and attributes are matched here by
//! their *local* name only; the few places where a namespace matters (none so far) would have to look at
//! [`Element::xmlns`]. External entities and DTDs are never expanded.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::Error;

/// One XML element: local name, attributes by local name, text and child elements.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Element {
    /// Local name (prefix removed).
    pub name: String,
    /// Attributes as (local name, unescaped value); `xmlns` declarations are in `xmlns` instead.
    pub attrs: Vec<(String, String)>,
    /// Namespace declarations made on this element, as (prefix, URI); the default namespace has prefix "".
    pub xmlns: Vec<(String, String)>,
    /// Concatenated, unescaped character data directly inside this element.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// The raw markup between the start and end tag (empty for `<a/>`), kept so that opaque content such
    /// as WS-Addressing reference parameters can be echoed back verbatim.
    pub inner_raw: String,
}

impl Element {
    /// The first child with local name `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with local name `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of local names from this element, first match at each step.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        let mut here = self;
        for name in names {
            here = here.child(name)?;
        }
        Some(here)
    }

    /// Trimmed text of the element at `names` below this one, if present and not empty.
    pub fn path_text(&self, names: &[&str]) -> Option<String> {
        self.path(names)
            .map(|e| e.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    /// Trimmed text of this element.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }

    /// Value of the attribute with local name `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first element named `name` anywhere below this one (depth first, document order), this one
    /// included.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    /// Every element named `name` below this one (document order), not descending into matches.
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            } else {
                c.find_all(name, out);
            }
        }
    }

    /// Like [`Element::find`], also returning the namespace declarations in scope at the match
    /// (outermost first), so that raw content of the match can be re-embedded elsewhere.
    pub fn find_with_scope(&self, name: &str) -> Option<(&Element, Vec<(String, String)>)> {
        let mut scope = Vec::new();
        self.find_scoped(name, &mut scope).map(|e| (e, scope))
    }

    fn find_scoped<'a>(
        &'a self,
        name: &str,
        scope: &mut Vec<(String, String)>,
    ) -> Option<&'a Element> {
        let len = scope.len();
        scope.extend(self.xmlns.iter().cloned());
        if self.name == name {
            return Some(self);
        }
        for c in &self.children {
            if let Some(found) = c.find_scoped(name, scope) {
                return Some(found);
            }
        }
        scope.truncate(len);
        None
    }
}

/// Parses a whole document into its root element.
pub(crate) fn parse(text: &str) -> Result<Element, Error> {
    let mut reader = Reader::from_str(text);
    // Keep whitespace: text is trimmed where read, and spans must match the input.
    reader.config_mut().trim_text(false);
    // (element, offset just after its start tag)
    let mut stack: Vec<(Element, usize)> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let before = offset(reader.buffer_position());
        let event = reader
            .read_event()
            .map_err(|e| Error::Xml(format!("at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(start) => {
                let element = start_element(&start)?;
                stack.push((element, offset(reader.buffer_position())));
            }
            Event::Empty(start) => {
                let element = start_element(&start)?;
                attach(&mut stack, &mut root, element)?;
            }
            Event::End(_) => {
                let Some((mut element, inner_start)) = stack.pop() else {
                    return Err(Error::Xml("end tag without a start tag".into()));
                };
                element.inner_raw = text
                    .get(inner_start..before)
                    .unwrap_or_default()
                    .to_string();
                attach(&mut stack, &mut root, element)?;
            }
            Event::Text(t) => {
                if let Some((top, _)) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some((top, _)) = stack.last_mut() {
                    top.text.push_str(&c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                if let Some((top, _)) = stack.last_mut() {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref()
                            .map_err(|e| Error::Xml(format!("bad character reference: {e}")))?
                            .map(String::from)
                    } else {
                        predefined_entity(&r.xml10_content()).map(String::from)
                    };
                    match resolved {
                        Some(s) => top.text.push_str(&s),
                        None => {
                            top.text.push('&');
                            top.text.push_str(&r.xml10_content());
                            top.text.push(';');
                        }
                    }
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(Error::Xml("document ends inside an element".into()));
    }
    root.ok_or_else(|| Error::Xml("empty document".into()))
}

fn offset(pos: u64) -> usize {
    usize::try_from(pos).unwrap_or(usize::MAX)
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    match name {
        "amp" => Some("&"),
        "lt" => Some("<"),
        "gt" => Some(">"),
        "quot" => Some("\""),
        "apos" => Some("'"),
        _ => None,
    }
}

fn attach(
    stack: &mut [(Element, usize)],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), Error> {
    match stack.last_mut() {
        Some((parent, _)) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err(Error::Xml("more than one root element".into())),
    }
    Ok(())
}

fn start_element(start: &BytesStart<'_>) -> Result<Element, Error> {
    let name = start.name();
    let mut element = Element {
        name: name.local_name().into_inner().to_string(),
        ..Element::default()
    };
    for attr in start.attributes() {
        let attr =
            attr.map_err(|e| Error::Xml(format!("bad attribute in <{}>: {e}", element.name)))?;
        let key = attr.key.into_inner();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| Error::Xml(format!("bad attribute value in <{}>: {e}", element.name)))?
            .into_owned();
        if key == "xmlns" {
            element.xmlns.push((String::new(), value));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            element.xmlns.push((prefix.to_string(), value));
        } else {
            element
                .attrs
                .push((attr.key.local_name().into_inner().to_string(), value));
        }
    }
    Ok(element)
}

/// Escapes text for element content or a double- or single-quoted attribute value.
pub(crate) fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_attributes_and_entities() {
        let doc = r#"<?xml version="1.0"?>
            <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="urn:x">
              <s:Body><tt:A token="a&amp;b">x &lt; y &#65;<!-- c --><![CDATA[<raw>]]></tt:A><B/></s:Body>
            </s:Envelope>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Envelope");
        assert_eq!(root.xmlns.len(), 2);
        let a = root.path(&["Body", "A"]).unwrap();
        assert_eq!(a.attr("token"), Some("a&b"));
        assert_eq!(a.text, "x < y A<raw>");
        assert!(root.find("B").is_some());
    }

    #[test]
    fn undeclared_prefixes_are_accepted() {
        // ipycam's PTZ answers look like this: `ptz:` is never declared.
        let root = parse(r#"<s:Envelope><s:Body><ptz:GetPresetsResponse><tptz:Preset token="home"/></ptz:GetPresetsResponse></s:Body></s:Envelope>"#).unwrap();
        assert_eq!(
            root.find("Preset").and_then(|p| p.attr("token")),
            Some("home")
        );
    }

    #[test]
    fn raw_inner_markup_and_scope() {
        let doc = r#"<a xmlns:x="urn:x"><b xmlns:y="urn:y"><y:c>1</y:c><x:d k="v"/></b></a>"#;
        let root = parse(doc).unwrap();
        let (b, scope) = root.find_with_scope("b").unwrap();
        assert_eq!(b.inner_raw, r#"<y:c>1</y:c><x:d k="v"/>"#);
        assert_eq!(
            scope,
            vec![("x".into(), "urn:x".into()), ("y".into(), "urn:y".into())]
        );
    }

    #[test]
    fn broken_documents_are_errors() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<a></a><b/>").is_err());
        assert!(parse("<a>").is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(r#"<a & "b">"#), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
