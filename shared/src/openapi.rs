//! The OpenAPI pieces both daemons' documents are built from: the schemas of the domain
//! newtypes with exactly the limits their `parse()` enforces, free text with the limits the
//! daemons' text checks enforce, the `Idempotency-Key` header, and the RFC 9457 problem+json
//! responses an operation can answer.
//!
//! What it is not: a validator. Nothing here looks at a request; the documents describe what
//! the code does, and `tests/tests/e2e/openapi.rs` runs schemathesis to hold them to it.

use crate::domain::{Gtin, LocationCode, Money, Qty, Sku, WarehouseCode};
use std::borrow::Cow;
use std::collections::BTreeMap;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, PartialSchema, ToSchema};

/// The Unicode White_Space characters, as Rust's `str::trim` sees them, as the body of a regex
/// character class spelled out so that every regex engine — ECMA 262, Python's `re`, Rust's
/// `regex` — reads it the same way (their `\s` differ).
macro_rules! white_space {
    () => {
        r"\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// The characters `tote_shared::text` refuses in free text (`text::Forbidden`: C0, DEL and C1
/// controls; the bidirectional marks, embeddings, overrides and isolates U+061C, U+200E/F,
/// U+202A–U+202E, U+2066–U+2069; the separators U+2028/9; U+FEFF and U+FFF9–U+FFFB), as the
/// body of a regex character class.
macro_rules! forbidden {
    () => {
        r"\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb"
    };
}

/// A string with at least one character that is not white space (an unanchored search): what
/// scans must have.
pub const NOT_BLANK: &str = concat!("[^", white_space!(), "]");

/// Free text as `tote_shared::text::check` takes it: none of the forbidden characters, and at
/// least one that is not white space.
pub const CLEAN_TEXT: &str = concat!("^[^", forbidden!(), "]*[^", forbidden!(), white_space!(), "][^", forbidden!(), "]*$");

/// Text as `tote_shared::text::check_chars` takes it (may be empty or blank): none of the
/// forbidden characters.
pub const CLEAN_CHARS: &str = concat!("^[^", forbidden!(), "]*$");

/// What the documents say of free text, beside the limits.
const TEXT_RULE: &str = "No control characters (C0, DEL, C1: tab and line breaks too), bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), line or paragraph separators (U+2028, U+2029), U+FEFF or U+FFF9–U+FFFB: such text is a 422 `invalid-field` naming the field.";

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

fn string(pattern: &str, min: usize, max: usize, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(Some(min))
        .max_length(Some(max))
        .description(Some(description))
        .examples([example])
        .into()
}

fn integer(min: i64, max: i64, description: &str, example: i64) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .examples([example])
        .into()
}

/// `impl ToSchema` for a type whose schema is `$body`, named after the type.
macro_rules! schema {
    ($type:ty, $name:literal, $body:expr) => {
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                $body
            }
        }
        impl ToSchema for $type {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

schema!(Sku, "Sku", string("^[A-Z0-9._-]{1,64}$", 1, 64, "A SKU code: 1 to 64 of A-Z, 0-9, '-', '_', '.'.", "PEG39-M-WHT-42"));
schema!(WarehouseCode, "WarehouseCode", string("^[A-Z]{2,4}-[0-9]{2}$", 5, 7, "2 to 4 capital letters, '-', 2 digits.", "SH-01"));
schema!(LocationCode, "LocationCode", string("^[A-Z0-9-]{1,32}$", 1, 32, "A location code: 1 to 32 of A-Z, 0-9, '-'.", "A-01-02"));
schema!(Qty, "Qty", integer(1, i64::from(Qty::MAX), "A quantity of units: 1 to 100,000.", 1));
schema!(Money, "Money", integer(0, Money::MAX_MINOR, "An amount in minor units (fen): 0 to 10^10.", 89_900));
schema!(
    Gtin,
    "Gtin",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^([0-9]{8}|[0-9]{12,14})$"))
        .min_length(Some(8))
        .max_length(Some(14))
        // Not a registered format: the GS1 mod-10 check digit is no regular expression a reader
        // would want, so it is named here and the tests generate GTINs that satisfy it.
        .format(Some(SchemaFormat::Custom("gtin".into())))
        .description(Some("A GS1 GTIN-8, -12, -13 or -14 whose last digit is the GS1 mod-10 check digit of the others."))
        .examples(["0195866137738"])
        .into()
);

/// Free text of 1 to `max` characters (Unicode scalar values, counted as sent), not all white
/// space, none of them forbidden: what `tote_shared::text::check` accepts.
pub fn text(max: usize) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(CLEAN_TEXT))
        .description(Some(format!("Free text: 1 to {max} characters, not all white space. {TEXT_RULE}")))
        .build()
}

/// Text of at most `max` characters that may be empty or blank, none of them forbidden: what
/// `tote_shared::text::check_chars` with a length limit accepts (an optional reason, a postcode).
pub fn chars(max: usize) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .pattern(Some(CLEAN_CHARS))
        .description(Some(format!("Text of at most {max} characters, possibly empty. {TEXT_RULE}")))
        .build()
}

/// What a scanner read (`scan::parse`): a GS1 element string (with or without a symbology
/// identifier, FNC1 as ASCII 29 or AIs in parentheses), a plain EAN/UPC/GTIN, or one of our
/// labels. Documentation only; `format: gs1-scan` names the grammar.
pub struct Scan;

impl PartialSchema for Scan {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(crate::scan::MAX_SCAN_LEN))
            .pattern(Some(NOT_BLANK))
            .format(Some(SchemaFormat::Custom("gs1-scan".into())))
            .description(Some("What the scanner read: a GS1 element string (`]C1…`, FNC1 as ASCII 29, or `(01)…(10)…`), a plain EAN/UPC/GTIN with its check digit, or a location, pod, tote or carton label; anything else is a 422."))
            .examples(["0195866137738"])
            .into()
    }
}

impl ToSchema for Scan {}

/// Marker types for `#[schema(value_type = Text200)]`: free text of at most N characters.
macro_rules! text_types {
    ($($name:ident = $max:literal),* $(,)?) => {$(
        #[doc = concat!("Free text of 1 to ", stringify!($max), " characters, not all white space, none forbidden (documentation only).")]
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                text($max).into()
            }
        }
        impl ToSchema for $name {}
    )*};
}

text_types!(Text20 = 20, Text32 = 32, Text40 = 40, Text50 = 50, Text64 = 64, Text80 = 80, Text100 = 100, Text128 = 128, Text200 = 200, Text300 = 300, Text500 = 500);

/// Marker types for `#[schema(value_type = Chars200)]`: text of at most N characters, possibly
/// empty, none of them forbidden.
macro_rules! chars_types {
    ($($name:ident = $max:literal),* $(,)?) => {$(
        #[doc = concat!("Text of at most ", stringify!($max), " characters, possibly empty, none forbidden (documentation only).")]
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                chars($max).into()
            }
        }
        impl ToSchema for $name {}
    )*};
}

chars_types!(Chars20 = 20, Chars200 = 200);

/// An RFC 9457 problem, the body of every error answer (documentation of
/// `runtime::http::Problem`, which renders them). Extensions such as `high_water` may follow.
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)]
pub struct ProblemSchema {
    /// `https://tote.dev/problems/{slug}`: what kind of problem.
    #[schema(example = "https://tote.dev/problems/not-found")]
    r#type: String,
    title: String,
    status: u16,
    /// What happened, for people.
    detail: String,
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
        .build()
}

/// One problem+json answer, for an `IntoResponses` of a daemon's own.
pub fn problem_response(status: &str, description: &str) -> BTreeMap<String, RefOr<Response>> {
    BTreeMap::from([(status.to_owned(), problem(description).into())])
}

/// `IntoResponses` for one problem+json status, for `responses(...)` in `#[utoipa::path]`.
macro_rules! problems {
    ($($name:ident = $status:literal, $description:literal;)*) => {$(
        #[doc = concat!("Documents a ", $status, " problem+json answer: ", $description)]
        pub struct $name;
        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([($status.to_owned(), problem($description).into())])
            }
        }
    )*};
}

problems! {
    BadRequest = "400", "The request is malformed: a path, query or header value, or a body that is not JSON.";
    Forbidden = "403", "The credentials are valid but may not do this.";
    NotFound = "404", "The resource (or one the request names) does not exist.";
    Conflict = "409", "The request conflicts with the current state (see the problem type).";
    TooLarge = "413", "The request body is larger than this server takes.";
    UnsupportedMediaType = "415", "The body is not sent as application/json.";
    Unprocessable = "422", "Well-formed, but a value is out of range or the request cannot be applied (see the problem type; `invalid-field`, with `field`, for free text that is blank, too long or carries a forbidden character).";
    BadGateway = "502", "A system this one depends on failed.";
}

/// Documents the answers of a daemon whose database cannot take the request now: 503 (busy,
/// unreachable, or an I/O error) and 507 `storage-full` (the disk under it is full), both with
/// `Retry-After`; nothing was changed.
pub struct Unavailable;

impl IntoResponses for Unavailable {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let retry = || {
            utoipa::openapi::header::HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
                .description(Some("Seconds to wait before sending the request again (with the same Idempotency-Key, if it had one)."))
                .build()
        };
        let mut busy = problem("Busy, or its database is unreachable or failed to write; nothing was changed: try again.");
        busy.headers.insert("Retry-After".to_owned(), retry());
        let mut full = problem("`storage-full`: the disk under the database is full; nothing was written: try again once space is freed.");
        full.headers.insert("Retry-After".to_owned(), retry());
        BTreeMap::from([("503".to_owned(), busy.into()), ("507".to_owned(), full.into())])
    }
}

/// Documents the 401 problem+json answer, with the `WWW-Authenticate` challenge every 401 of
/// both daemons carries (`runtime::http::harden`).
pub struct Unauthorized;

impl IntoResponses for Unauthorized {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut response = problem("No valid credentials.");
        let challenge = utoipa::openapi::header::HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^Bearer realm=")))
            .description(Some("RFC 6750: `Bearer realm=\"tote-central\"` (or `tote-edge`); with `error=\"invalid_token\"` when a bearer token was presented and refused."))
            .build();
        response.headers.insert("WWW-Authenticate".to_owned(), challenge);
        BTreeMap::from([("401".to_owned(), response.into())])
    }
}

/// What a JSON body can be refused for before the handler sees it: not JSON (400), too large
/// (413), not `application/json` (415), the wrong shape or a value out of range (422).
pub struct JsonBody;

impl IntoResponses for JsonBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut all = BadRequest::responses();
        all.extend(TooLarge::responses());
        all.extend(UnsupportedMediaType::responses());
        all.extend(Unprocessable::responses());
        all
    }
}

fn idempotency_key(required: bool) -> Parameter {
    let description = if required {
        "Required. The same key with the same request answers what the first answered and changes nothing; with another request it is a 422."
    } else {
        "Optional. The same key with the same request answers what the first answered and changes nothing; with another request it is a 422."
    };
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)).pattern(Some("^[!-~]{1,128}$")).min_length(Some(1)).max_length(Some(128))))
        .build()
}

/// `params(IdempotencyKey)`: the optional `Idempotency-Key` header (1 to 128 visible ASCII
/// characters, else 400).
pub struct IdempotencyKey;

impl IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![idempotency_key(false)]
    }
}

/// `params(RequiredIdempotencyKey)`: the same header, required (missing: 400).
pub struct RequiredIdempotencyKey;

impl IntoParams for RequiredIdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![idempotency_key(true)]
    }
}

/// utoipa writes `u64` and `u32` as `int64` and `int32` from 0, which a reader takes to end at
/// 2^63 - 1 and 2^31 - 1; the server takes up to 2^64 - 1 and 2^32 - 1. Says so, wherever no
/// narrower range was stated.
pub fn unsigned_ranges(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let unsigned = map.get("type").and_then(|t| t.as_str()) == Some("integer")
                && map.get("minimum").and_then(|m| m.as_u64()) == Some(0)
                && !map.contains_key("maximum");
            if unsigned {
                match map.get("format").and_then(|f| f.as_str()) {
                    Some("int64") => {
                        map.insert("format".into(), "uint64".into());
                        map.insert("maximum".into(), u64::MAX.into());
                    }
                    Some("int32") => {
                        map.insert("format".into(), "uint32".into());
                        map.insert("maximum".into(), u32::MAX.into());
                    }
                    _ => {}
                }
            }
            map.values_mut().for_each(unsigned_ranges);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unsigned_ranges),
        _ => {}
    }
}

/// Operation ids as `{tag}_{handler}`: utoipa takes the handler's name, and several systems
/// name theirs `get` or `create` (OpenAPI wants ids unique).
pub fn tagged_operation_ids(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else { return };
    for operation in paths.values_mut().filter_map(|p| p.as_object_mut()).flat_map(|p| p.values_mut()) {
        let tag = operation["tags"][0].as_str().map(str::to_owned);
        if let (Some(tag), Some(id)) = (tag, operation.get("operationId").and_then(|i| i.as_str()).map(str::to_owned)) {
            operation["operationId"] = format!("{tag}_{id}").into();
        }
    }
}

/// Marks the `WWW-Authenticate` header of every documented 401 as required (utoipa's header
/// type cannot say so): every 401 carries one, and the conformance run checks that it does.
pub fn required_challenges(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(challenge) = map.get_mut("401").and_then(|r| r.get_mut("headers")).and_then(|h| h.get_mut("WWW-Authenticate")).and_then(|h| h.as_object_mut()) {
                challenge.insert("required".into(), true.into());
            }
            map.values_mut().for_each(required_challenges);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(required_challenges),
        _ => {}
    }
}

/// The documented 401s of a finished document, each checked to require its `WWW-Authenticate`
/// challenge (see `required_challenges`): how many there are, or the first operation whose 401
/// does not. For both daemons' document tests.
pub fn challenged_401s(doc: &serde_json::Value) -> Result<usize, String> {
    let mut challenged = 0;
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if let Some(unauthorized) = operation["responses"].get("401") {
                if unauthorized["headers"]["WWW-Authenticate"]["required"] != true {
                    return Err(format!("{method} {path}: its 401 does not require WWW-Authenticate"));
                }
                challenged += 1;
            }
        }
    }
    Ok(challenged)
}

/// `params(PathId)`: the `{id}` of a path, a number the store gave out (0 to 2^64 - 1; a
/// path that is no such number is a 400).
pub struct PathId;

impl IntoParams for PathId {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).format(Some(SchemaFormat::Custom("uint64".into()))).minimum(Some(0)).maximum(Some(u64::MAX))))
            .build()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pattern must say what `trim` says, character by character.
    #[test]
    fn not_blank_names_exactly_the_characters_trim_removes() {
        let class: Vec<char> = (0..=0x3000u32).filter_map(char::from_u32).filter(|c| c.is_whitespace()).collect();
        let listed: Vec<char> = "\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}".chars().collect();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(class, sorted);
        assert!(NOT_BLANK.contains(r"\u2000-\u200a"));
    }

    /// The code points a class body of `\uXXXX` and `\uXXXX-\uXXXX` items names.
    fn class_members(body: &str) -> Vec<char> {
        let items: Vec<&str> = body.split(r"\u").filter(|i| !i.is_empty()).collect();
        let mut members = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let low = u32::from_str_radix(&items[i][..4], 16).expect("hex");
            let high = if items[i].ends_with('-') {
                i += 1;
                u32::from_str_radix(&items[i][..4], 16).expect("hex")
            } else {
                low
            };
            assert_eq!(items[i].len(), 4, "{body}");
            members.extend((low..=high).filter_map(char::from_u32));
            i += 1;
        }
        members
    }

    /// The documented class must name exactly the characters `tote_shared::text` refuses.
    #[test]
    fn the_forbidden_class_names_exactly_what_the_text_rule_refuses() {
        let documented = class_members(forbidden!());
        let refused: Vec<char> = (0..=0x10FFFFu32).filter_map(char::from_u32).filter(|c| crate::text::Forbidden::of(*c).is_some()).collect();
        assert_eq!(documented, refused);
        assert_eq!(CLEAN_CHARS, format!("^[^{}]*$", forbidden!()));
        assert_eq!(CLEAN_TEXT, format!("^[^{0}]*[^{0}{1}][^{0}]*$", forbidden!(), white_space!()));
        assert_eq!(NOT_BLANK, format!("[^{}]", white_space!()));
    }
}
