//! The category tree and its attribute sets. Pure: what a valid category and attribute
//! definition is, the set a category's products carry (its own attributes and every
//! ancestor's), and whether a SKU's attributes fit it.
//!
//! "Shoes" may define `gender` and `colour`, "Shoes › Running" adds `size_eu`, `size_us` and
//! `width`; a cushioned running shoe's SKU then needs the five. A child never redefines an
//! ancestor's attribute. The tree only grows: a category is never moved or removed (products
//! and history point at it).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The deepest a tree goes.
pub const MAX_DEPTH: usize = 6;
/// Attributes one category defines.
pub const MAX_ATTRIBUTES: usize = 30;
/// Values a choice offers.
pub const MAX_CHOICES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// Free text (1 to 100 characters).
    Text,
    /// One of `values`.
    Choice,
    /// A decimal number (e.g. `42.5`).
    Number,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeDef {
    /// Lower case, digits and `_`, starting with a letter: `size_eu`.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,31}$")]
    pub name: String,
    pub kind: AttributeKind,
    /// For a choice: the values allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<tote_shared::openapi::Text100>)]
    pub values: Vec<String>,
    /// Every SKU must give it.
    #[serde(default)]
    pub required: bool,
}

/// A category as HQ defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// `RUNNING-CUSHIONED`: capitals, digits, `-`.
    #[schema(pattern = "^[A-Z0-9][A-Z0-9-]{0,39}$")]
    pub id: String,
    #[serde(default)]
    #[schema(pattern = "^[A-Z0-9][A-Z0-9-]{0,39}$")]
    pub parent: Option<String>,
    #[schema(value_type = tote_shared::openapi::Text100)]
    pub name: String,
    #[serde(default)]
    pub attributes: Vec<AttributeDef>,
}

/// A category as stored, with where it sits and everything its products carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Category {
    pub id: String,
    pub parent: Option<String>,
    pub name: String,
    /// Its own attributes.
    pub attributes: Vec<AttributeDef>,
    /// Names from the root: `Shoes › Running › Cushioned`.
    pub path: String,
    /// Its ancestors' attributes and its own, root first: what its SKUs carry.
    pub attribute_set: Vec<AttributeDef>,
}

pub fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len()) && id.bytes().enumerate().all(|(i, b)| b.is_ascii_uppercase() || b.is_ascii_digit() || (i > 0 && b == b'-'))
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=32).contains(&b.len()) && b[0].is_ascii_lowercase() && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn plain_text(text: &str, max: usize) -> bool {
    let n = text.chars().count();
    (1..=max).contains(&n) && !text.chars().any(char::is_control) && text.trim() == text
}

/// A value an attribute holds: plain text without `;` or `=`, which the CSV's
/// `name=value;name=value` column uses.
fn plain_value(text: &str) -> bool {
    plain_text(text, 100) && !text.contains([';', '='])
}

/// Checks a new category against its parent (None for a root): why it cannot be made.
pub fn check_new(c: &NewCategory, parent: Option<&Category>) -> Result<(), String> {
    if !valid_id(&c.id) {
        return Err(format!("category id {:?}: capitals, digits and '-', 1 to 40", c.id));
    }
    if !plain_text(&c.name, 100) || c.name.contains('›') {
        return Err("name: 1 to 100 characters, no control characters, surrounding spaces or '›'".into());
    }
    if let Some(p) = parent {
        if p.path.split(" › ").count() >= MAX_DEPTH {
            return Err(format!("{} is {MAX_DEPTH} levels deep already", p.path));
        }
    }
    if c.attributes.len() > MAX_ATTRIBUTES {
        return Err(format!("at most {MAX_ATTRIBUTES} attributes"));
    }
    let inherited = parent.map_or(&[][..], |p| p.attribute_set.as_slice());
    for (i, a) in c.attributes.iter().enumerate() {
        if !valid_name(&a.name) {
            return Err(format!("attribute name {:?}: lower case, digits and '_', starting with a letter, 1 to 32", a.name));
        }
        if inherited.iter().chain(&c.attributes[..i]).any(|b| b.name == a.name) {
            return Err(format!("attribute {} is defined twice on the path", a.name));
        }
        match a.kind {
            AttributeKind::Choice if a.values.is_empty() || a.values.len() > MAX_CHOICES => {
                return Err(format!("attribute {}: a choice needs 1 to {MAX_CHOICES} values", a.name));
            }
            AttributeKind::Choice if a.values.iter().any(|v| !plain_value(v)) => {
                return Err(format!("attribute {}: each value 1 to 100 plain characters, no ';' or '='", a.name));
            }
            AttributeKind::Choice if a.values.iter().enumerate().any(|(i, v)| a.values[..i].contains(v)) => {
                return Err(format!("attribute {}: a value is listed twice", a.name));
            }
            AttributeKind::Text | AttributeKind::Number if !a.values.is_empty() => {
                return Err(format!("attribute {}: only a choice lists values", a.name));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The stored form of a new category under `parent`.
pub fn build(c: &NewCategory, parent: Option<&Category>) -> Category {
    let path = match parent {
        Some(p) => format!("{} › {}", p.path, c.name),
        None => c.name.clone(),
    };
    let mut attribute_set = parent.map(|p| p.attribute_set.clone()).unwrap_or_default();
    attribute_set.extend(c.attributes.iter().cloned());
    Category { id: c.id.clone(), parent: c.parent.clone(), name: c.name.clone(), attributes: c.attributes.clone(), path, attribute_set }
}

/// Whether `given` fits `set`: every required attribute there, nothing unknown, each value of
/// its kind. The first misfit, named.
pub fn check_attributes(set: &[AttributeDef], given: &BTreeMap<String, String>) -> Result<(), String> {
    for name in given.keys() {
        if !set.iter().any(|a| &a.name == name) {
            return Err(format!("attribute {name} is not in the category's set"));
        }
    }
    for a in set {
        let Some(value) = given.get(&a.name) else {
            if a.required {
                return Err(format!("attribute {} is required", a.name));
            }
            continue;
        };
        let fits = match a.kind {
            AttributeKind::Text => plain_value(value),
            AttributeKind::Choice => a.values.contains(value),
            AttributeKind::Number => value.len() <= 20 && value.parse::<f64>().is_ok_and(f64::is_finite) && !value.starts_with('+'),
        };
        if !fits {
            let wanted = match a.kind {
                AttributeKind::Text => "1 to 100 plain characters without ';' or '='".to_owned(),
                AttributeKind::Choice => format!("one of {}", a.values.join(", ")),
                AttributeKind::Number => "a number".to_owned(),
            };
            return Err(format!("attribute {} is {value:?}, not {wanted}", a.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, kind: AttributeKind, values: &[&str], required: bool) -> AttributeDef {
        AttributeDef { name: name.into(), kind, values: values.iter().map(|v| v.to_string()).collect(), required }
    }

    fn shoes() -> (Category, Category) {
        let root = NewCategory { id: "SHOES".into(), parent: None, name: "Shoes".into(), attributes: vec![def("gender", AttributeKind::Choice, &["men", "women"], true)] };
        assert_eq!(check_new(&root, None), Ok(()));
        let root = build(&root, None);
        let running = NewCategory {
            id: "RUNNING".into(),
            parent: Some("SHOES".into()),
            name: "Running".into(),
            attributes: vec![def("size_eu", AttributeKind::Number, &[], true), def("width", AttributeKind::Choice, &["regular", "wide"], false)],
        };
        assert_eq!(check_new(&running, Some(&root)), Ok(()));
        let running = build(&running, Some(&root));
        (root, running)
    }

    #[test]
    fn a_child_carries_its_ancestors_attributes_and_cannot_redefine_them() {
        let (root, running) = shoes();
        assert_eq!(running.path, "Shoes › Running");
        assert_eq!(running.attribute_set.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["gender", "size_eu", "width"]);
        let again = NewCategory { id: "TRAIL".into(), parent: Some("SHOES".into()), name: "Trail".into(), attributes: vec![def("gender", AttributeKind::Text, &[], false)] };
        assert!(check_new(&again, Some(&root)).is_err_and(|e| e.contains("defined twice")));
        let empty = NewCategory { id: "X".into(), parent: None, name: "X".into(), attributes: vec![def("fit", AttributeKind::Choice, &[], false)] };
        assert!(check_new(&empty, None).is_err());
        let lower = NewCategory { id: "shoes".into(), parent: None, name: "S".into(), attributes: vec![] };
        assert!(check_new(&lower, None).is_err());
    }

    #[test]
    fn attributes_must_fit_the_set() {
        let (_, running) = shoes();
        let given = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        let set = &running.attribute_set;
        assert_eq!(check_attributes(set, &given(&[("gender", "men"), ("size_eu", "42.5")])), Ok(()));
        assert!(check_attributes(set, &given(&[("gender", "men")])).is_err_and(|e| e == "attribute size_eu is required"));
        assert!(check_attributes(set, &given(&[("gender", "kids"), ("size_eu", "42")])).is_err_and(|e| e.contains("one of men, women")));
        assert!(check_attributes(set, &given(&[("gender", "men"), ("size_eu", "big")])).is_err_and(|e| e.contains("a number")));
        assert!(check_attributes(set, &given(&[("gender", "men"), ("size_eu", "NaN")])).is_err());
        assert!(check_attributes(set, &given(&[("gender", "men"), ("size_eu", "42"), ("heel", "8")])).is_err_and(|e| e.contains("heel")));
    }
}
