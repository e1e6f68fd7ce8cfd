//! A small, bounded element tree over quick-xml, for lists whose schemas have no attributes and
//! no mixed content. Every element must be in the one expected namespace (the lists use a default
//! namespace, `elementFormDefault="qualified"`); DTDs and unknown entities are refused.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::lists::ListError;

/// Deepest nesting any list has (the ZAL: eight levels) with room to spare.
const MAX_DEPTH: usize = 16;
/// Most elements accepted in one document.
const MAX_ELEMENTS: usize = 2_000_000;

/// One element: its local name, child elements and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

fn xml_error(e: impl std::fmt::Display) -> ListError {
    ListError::Xml(e.to_string())
}

/// Parses `input` into the tree under its root element, which must be `root` in one of
/// `namespaces`; returns the tree and the namespace it used.
pub(crate) fn parse_tree(
    input: &str,
    root: &str,
    namespaces: &[&str],
) -> Result<(Element, String), ListError> {
    let mut reader = NsReader::from_str(input);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut namespace: Option<String> = None;
    let mut done: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(xml_error)?;
        match event {
            Event::Start(start) => {
                if done.is_some() {
                    return Err(ListError::Xml("content after the root element".into()));
                }
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(ListError::Xml(
                        "the document is too large or too deep".into(),
                    ));
                }
                let ns = match resolved {
                    ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
                    _ => String::new(),
                };
                let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                match &namespace {
                    None => {
                        if local != root || !namespaces.contains(&ns.as_str()) {
                            return Err(ListError::Namespace {
                                expected: format!("{root} in {}", namespaces.join(" or ")),
                                found: format!("{local} in {}", display_ns(&ns)),
                            });
                        }
                        namespace = Some(ns);
                    }
                    Some(expected) if *expected != ns => {
                        return Err(ListError::Namespace {
                            expected: format!("{local} in {expected}"),
                            found: format!("{local} in {}", display_ns(&ns)),
                        });
                    }
                    Some(_) => {}
                }
                check_attributes(&start, stack.is_empty())?;
                stack.push(Element {
                    name: local,
                    children: Vec::new(),
                    text: String::new(),
                });
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(ListError::Xml("unexpected end tag".into()));
                };
                if !el.children.is_empty() && !el.text.trim().is_empty() {
                    return Err(ListError::Invalid {
                        path: el.name,
                        problem: "text beside child elements".into(),
                    });
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => done = Some(el),
                }
            }
            Event::Text(t) => {
                let text = t.xml_content().map_err(xml_error)?;
                push_text(&mut stack, &text, done.is_some())?;
            }
            Event::CData(c) => {
                let text = c.decode().map_err(xml_error)?;
                push_text(&mut stack, &text, done.is_some())?;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(xml_error)? {
                    Some(c) => c,
                    None => match r.decode().map_err(xml_error)?.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(ListError::Xml(format!(
                                "unknown entity &{};",
                                other.chars().take(20).collect::<String>()
                            )));
                        }
                    },
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4]), done.is_some())?;
            }
            Event::DocType(_) => {
                return Err(ListError::Xml("a DOCTYPE is not allowed".into()));
            }
            Event::Empty(_) => {
                // expand_empty_elements turns these into Start and End.
                return Err(ListError::Xml("unexpected empty element".into()));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    match (done, namespace) {
        (Some(root), Some(ns)) if stack.is_empty() => Ok((root, ns)),
        _ => Err(ListError::Xml(
            "the document ends before its root element".into(),
        )),
    }
}

fn display_ns(ns: &str) -> &str {
    if ns.is_empty() { "no namespace" } else { ns }
}

fn push_text(stack: &mut [Element], text: &str, after_root: bool) -> Result<(), ListError> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None if after_root => Err(ListError::Xml("content after the root element".into())),
        None => Err(ListError::Xml("text outside the root element".into())),
    }
}

/// The schemas define no attributes: only namespace declarations and, on the root, the
/// `xsi:schemaLocation` hints are allowed.
fn check_attributes(
    start: &quick_xml::events::BytesStart<'_>,
    is_root: bool,
) -> Result<(), ListError> {
    for attr in start.attributes() {
        let attr = attr.map_err(xml_error)?;
        let key = attr.key.as_ref();
        let allowed = key == b"xmlns"
            || key.starts_with(b"xmlns:")
            || (is_root
                && matches!(
                    key,
                    b"xsi:schemaLocation" | b"xsi:noNamespaceSchemaLocation"
                ));
        if !allowed {
            return Err(ListError::Invalid {
                path: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                problem: format!(
                    "unexpected attribute {}",
                    String::from_utf8_lossy(key)
                        .chars()
                        .take(40)
                        .collect::<String>()
                ),
            });
        }
    }
    Ok(())
}

/// Reads an element's children as the schema's `xs:sequence`: each call takes the next children
/// by name, and [`Seq::end`] refuses anything left over.
pub(crate) struct Seq<'a> {
    path: String,
    items: &'a [Element],
    pos: usize,
}

impl<'a> Seq<'a> {
    /// The children of `el`, which must not carry text.
    pub(crate) fn of(el: &'a Element, path: &str) -> Result<Self, ListError> {
        if el.children.is_empty() && !el.text.trim().is_empty() {
            return Err(ListError::Invalid {
                path: path.to_owned(),
                problem: "text where elements were expected".into(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            items: &el.children,
            pos: 0,
        })
    }

    /// The path of a child, for error messages.
    pub(crate) fn child_path(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    /// The next child, which must be `name`.
    pub(crate) fn one(&mut self, name: &str) -> Result<&'a Element, ListError> {
        self.optional(name).ok_or_else(|| ListError::Invalid {
            path: self.child_path(name),
            problem: match self.items.get(self.pos) {
                Some(other) => format!("required element missing (found {})", other.name),
                None => "required element missing".into(),
            },
        })
    }

    /// The next child, if it is `name`.
    pub(crate) fn optional(&mut self, name: &str) -> Option<&'a Element> {
        let el = self.items.get(self.pos).filter(|e| e.name == name)?;
        self.pos += 1;
        Some(el)
    }

    /// Every next child named `name` (zero or more).
    pub(crate) fn many(&mut self, name: &str) -> Vec<&'a Element> {
        let mut out = Vec::new();
        while let Some(el) = self.optional(name) {
            out.push(el);
        }
        out
    }

    /// Like [`Seq::many`], with at least one.
    pub(crate) fn at_least_one(&mut self, name: &str) -> Result<Vec<&'a Element>, ListError> {
        let out = self.many(name);
        if out.is_empty() {
            return Err(ListError::Invalid {
                path: self.child_path(name),
                problem: "at least one is required".into(),
            });
        }
        Ok(out)
    }

    /// The next child, which must be the leaf `name` whose value passes `ok`; with its path
    /// (for a later error about it, such as a duplicate).
    pub(crate) fn value(
        &mut self,
        name: &str,
        ok: impl Fn(&str) -> bool,
        problem: &str,
    ) -> Result<(String, String), ListError> {
        let path = self.child_path(name);
        let v = leaf(self.one(name)?, &path)?;
        if !ok(v) {
            return Err(ListError::Invalid {
                path,
                problem: problem.to_owned(),
            });
        }
        Ok((v.to_owned(), path))
    }

    /// Refuses children the schema does not define.
    pub(crate) fn end(self) -> Result<(), ListError> {
        match self.items.get(self.pos) {
            None => Ok(()),
            Some(extra) => Err(ListError::Invalid {
                path: format!("{}/{}", self.path, extra.name),
                problem: "element not allowed here".into(),
            }),
        }
    }
}

/// The text of a leaf element (no children), as written.
pub(crate) fn leaf<'a>(el: &'a Element, path: &str) -> Result<&'a str, ListError> {
    if !el.children.is_empty() {
        return Err(ListError::Invalid {
            path: path.to_owned(),
            problem: "a value was expected, not elements".into(),
        });
    }
    Ok(&el.text)
}
