//! The embeddings routes' request bodies, read into their own types as they stream: no JSON tree
//! of the whole body is ever built, and reading stops at the first item that breaks the schema
//! or passes a count (a 28 MB `{"input": [0, 0, …]}` stops at its first `0`). Each error's text
//! is the one the route answers (Workers AI's `Error: …` detail, OpenAI's message).
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use strato_proto::embedder::v1 as epb;

/// Workers AI's per-request limit on texts (spec §5.2); also embedder-svc's per-call limit.
pub const MAX_TEXTS: usize = 100;
/// OpenAI's limit on `input` items; longer arrays are embedded in chunks of [`MAX_TEXTS`].
pub const MAX_OPENAI_INPUTS: usize = 2048;
/// Longest model name taken (the catalogue's are under 64 bytes); a longer one is "no such
/// model" without asking the embedder.
pub const MAX_MODEL_BYTES: usize = 256;
/// How much of a client's value an error message repeats.
const ECHO_CHARS: usize = 64;

/// `{text: string | string[], pooling?: "mean" | "cls"}` (spec §5.2); bge-m3's
/// `{query?, contexts: [{text}], truncate_inputs?}` (§5.3); and for the models with prompts or
/// Matryoshka lengths, Strato's `prompt_name` and `dimensions` (a gap in the spec, README).
#[derive(Debug, Default)]
pub struct RunInput {
    /// `text`, or the contexts of the bge-m3 form.
    pub texts: Vec<String>,
    pub pooling: epb::Pooling,
    /// bge-m3: the query the contexts are ranked against.
    pub query: Option<String>,
    /// The texts came as `contexts` (answered as `response`, not `data`).
    pub contexts: bool,
    pub truncate_inputs: Option<bool>,
    pub prompt_name: Option<String>,
    pub dimensions: Option<u64>,
}

/// `{model, input: string | string[], encoding_format?, dimensions?}` (spec §5.6).
#[derive(Debug)]
pub struct OpenAiInput {
    pub model: String,
    pub texts: Vec<String>,
    pub base64: bool,
    pub dimensions: Option<u64>,
}

/// The Workers AI body; the error is the detail after `AiError: Bad input: `.
pub fn run_input(body: &[u8]) -> Result<RunInput, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = de.deserialize_any(RunVisitor).and_then(|r| de.end().map(|()| r));
    let (mut input, text, contexts, requests) =
        read.map_err(|e| if e.is_data() { format!("Error: {}", detail(&e)) } else { format!("Error: the body is not valid JSON: {e}") })?;
    if requests {
        return Err("Error: async batch requests ({\"requests\": [...]}) are not supported by this server; send {\"text\": ...} instead".into());
    }
    match (text, contexts) {
        (Some(_), Some(_)) => return Err("Error: oneOf at '/' not met, send either 'text' or 'contexts'".into()),
        (Some(t), None) if input.query.is_none() => input.texts = t,
        (Some(_), None) => return Err("Error: oneOf at '/' not met, 'query' goes with 'contexts', not 'text'".into()),
        (None, Some(c)) => (input.texts, input.contexts) = (c, true),
        (None, None) => return Err("Error: oneOf at '/' not met, required property 'text' is missing".into()),
    }
    Ok(input)
}

/// The OpenAI body; the error is OpenAI's message.
pub fn openai_input(body: &[u8]) -> Result<OpenAiInput, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = de.deserialize_any(OpenAiVisitor).and_then(|r| de.end().map(|()| r));
    let (model, input, base64, dimensions) =
        read.map_err(|e| if e.is_data() { detail(&e) } else { format!("We could not parse the JSON body of your request. ({e})") })?;
    let model = model.filter(|m| !m.is_empty()).ok_or("you must provide a model parameter")?;
    let texts = input.ok_or("'input' is a required property and must be a string or an array of strings.")?;
    Ok(OpenAiInput { model, texts, base64, dimensions })
}

/// A data error's own text, without serde_json's ` at line L column C`. A type error of a field
/// ("invalid type: …, expected <expecting>") is its visitor's `expecting`, which is the route's
/// own sentence for it.
fn detail(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let s = s.strip_suffix(&suffix).unwrap_or(&s);
    match s.split_once(", expected ") {
        Some((head, expecting)) if head.starts_with("invalid type:") || head.starts_with("invalid value:") => expecting.to_owned(),
        _ => s.to_owned(),
    }
}

/// A client's string, cut for an error message.
pub fn echo(s: &str) -> String {
    match s.char_indices().nth(ECHO_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Visitor methods that answer `$message` for the JSON kinds named (`bool`, `i64`, `u64`, `f64`,
/// `str`, `unit`, `seq`, `map`): each schema's words for a value of the wrong type.
macro_rules! refuse {
    ($message:expr; $($kind:ident),*) => { $(refuse!(@ $kind, $message);)* };
    (@ bool, $m:expr) => { fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Err(E::custom($m)) } };
    (@ i64, $m:expr) => { fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Err(E::custom($m)) } };
    (@ u64, $m:expr) => { fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Err(E::custom($m)) } };
    (@ f64, $m:expr) => { fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Err(E::custom($m)) } };
    (@ str, $m:expr) => { fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Err(E::custom($m)) } };
    (@ unit, $m:expr) => { fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Err(E::custom($m)) } };
    (@ seq, $m:expr) => { fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> { Err(de::Error::custom($m)) } };
    (@ map, $m:expr) => { fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> { Err(de::Error::custom($m)) } };
}

// ------------------------------------------------------------------------------------------------
// Workers AI
// ------------------------------------------------------------------------------------------------

struct RunVisitor;

impl<'de> Visitor<'de> for RunVisitor {
    /// The input's other fields, `text`, `contexts`, and whether `requests` came.
    type Value = (RunInput, Option<Vec<String>>, Option<Vec<String>>, bool);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    refuse!("Type mismatch of '/', 'object' expected"; bool, i64, u64, f64, str, unit, seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut text, mut contexts, mut requests) = (None, None, false);
        let mut input = RunInput::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "text" => text = map.next_value_seed(Optional(RunTexts))?,
                "pooling" => input.pooling = map.next_value_seed(Optional(PoolingName))?.unwrap_or(epb::Pooling::Unspecified),
                "contexts" => contexts = map.next_value_seed(Optional(Contexts))?,
                "query" => input.query = map.next_value_seed(Optional(NonEmpty("query")))?,
                "prompt_name" => input.prompt_name = map.next_value_seed(Optional(NonEmpty("prompt_name")))?,
                "truncate_inputs" => input.truncate_inputs = map.next_value_seed(Optional(Flag("truncate_inputs")))?,
                "dimensions" => input.dimensions = map.next_value_seed(Optional(Dimensions))?,
                "requests" => {
                    requests = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((input, text, contexts, requests))
    }
}

/// bge-m3's `contexts`: 1..=100 objects `{text}` with non-empty texts.
struct Contexts;

impl<'de> Visitor<'de> for Contexts {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of {\"text\": string}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        /// `{text}`; anything else is said with its path, as Workers AI's schema errors are.
        struct Context;
        impl<'de> Visitor<'de> for Context {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("Type mismatch of '/contexts/…', 'object' with a string 'text' expected")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut text = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "text" {
                        text = map.next_value_seed(Optional(NonEmpty("contexts/…/text")))?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                text.ok_or_else(|| de::Error::custom("'/contexts/…' must have required property 'text'"))
            }
        }
        impl<'de> DeserializeSeed<'de> for Context {
            type Value = String;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        }
        let mut out = Vec::new();
        while let Some(c) = seq.next_element_seed(Context)? {
            if out.len() == MAX_TEXTS {
                return Err(de::Error::custom(format!("'/contexts' must NOT have more than {MAX_TEXTS} items")));
            }
            out.push(c);
        }
        if out.is_empty() {
            return Err(de::Error::custom("'/contexts' must NOT have fewer than 1 items"));
        }
        Ok(out)
    }

    refuse!("Type mismatch of '/contexts', 'array' expected"; bool, i64, u64, f64, str, map);
}

/// A non-empty string field (its name in the error).
struct NonEmpty(&'static str);

impl<'de> Visitor<'de> for NonEmpty {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Type mismatch of '/{}', 'string' expected", self.0)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if s.is_empty() {
            return Err(E::custom(format!("'/{}' must NOT have fewer than 1 characters", self.0)));
        }
        // A prompt's name is a word (`query`, `Retrieval-document`); the query is a text.
        if self.0 == "prompt_name" && s.len() > MAX_PROMPT_NAME_BYTES {
            return Err(E::custom(format!("'/prompt_name' must NOT have more than {MAX_PROMPT_NAME_BYTES} characters, got {}", echo(s))));
        }
        Ok(s.to_owned())
    }
}

/// A boolean field (its name in the error).
struct Flag(&'static str);

impl<'de> Visitor<'de> for Flag {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Type mismatch of '/{}', 'boolean' expected", self.0)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(b)
    }
}

/// Longest prompt name taken (the exports' are under 32 bytes).
const MAX_PROMPT_NAME_BYTES: usize = 64;

/// `text`: a non-empty string, or 1..=100 of them.
#[derive(Clone, Copy)]
struct RunTexts;

impl<'de> Visitor<'de> for RunTexts {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if s.is_empty() {
            return Err(E::custom("oneOf at '/' not met, '/text' must NOT have fewer than 1 characters"));
        }
        Ok(vec![s.to_owned()])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element_seed(Item { index: out.len(), at: "/text", of: ItemRule::WorkersAi })? {
            if out.len() == MAX_TEXTS {
                return Err(de::Error::custom(format!("oneOf at '/' not met, '/text' must NOT have more than {MAX_TEXTS} items")));
            }
            out.push(s);
        }
        if out.is_empty() {
            return Err(de::Error::custom("oneOf at '/' not met, '/text' must NOT have fewer than 1 items"));
        }
        Ok(out)
    }

    refuse!(TEXT_TYPE; bool, i64, u64, f64, map);
}

const TEXT_TYPE: &str = "oneOf at '/' not met, Type mismatch of '/text', 'string,array' expected";

struct PoolingName;

impl<'de> Visitor<'de> for PoolingName {
    type Value = epb::Pooling;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("mean or cls")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        match s {
            "mean" => Ok(epb::Pooling::Mean),
            "cls" => Ok(epb::Pooling::Cls),
            _ => Err(E::custom(POOLING)),
        }
    }

    refuse!(POOLING; bool, i64, u64, f64, seq, map);
}

const POOLING: &str = "'/pooling' must be equal to one of the allowed values: mean, cls";

// ------------------------------------------------------------------------------------------------
// OpenAI
// ------------------------------------------------------------------------------------------------

struct OpenAiVisitor;

impl<'de> Visitor<'de> for OpenAiVisitor {
    type Value = (Option<String>, Option<Vec<String>>, bool, Option<u64>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    refuse!("The request body must be a JSON object."; bool, i64, u64, f64, str, unit, seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut model, mut input, mut base64, mut dimensions) = (None, None, false, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "model" => model = map.next_value_seed(Optional(ModelName))?,
                "input" => input = map.next_value_seed(Optional(OpenAiTexts))?,
                "encoding_format" => base64 = map.next_value_seed(Optional(EncodingFormat))?.unwrap_or(false),
                "dimensions" => dimensions = map.next_value_seed(Optional(Dimensions))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((model, input, base64, dimensions))
    }
}

struct ModelName;

impl<'de> Visitor<'de> for ModelName {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("you must provide a model parameter")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(s.to_owned())
    }
}

/// `input`: a string, or 1..=2048 non-empty strings (token arrays are not supported).
struct OpenAiTexts;

impl<'de> Visitor<'de> for OpenAiTexts {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("'input' is a required property and must be a string or an array of strings.")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if s.is_empty() {
            return Err(E::custom("'input[0]' must not be empty."));
        }
        Ok(vec![s.to_owned()])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element_seed(Item { index: out.len(), at: "input", of: ItemRule::OpenAi })? {
            if out.len() == MAX_OPENAI_INPUTS {
                return Err(de::Error::custom(format!("'input' must have between 1 and {MAX_OPENAI_INPUTS} items, got more.")));
            }
            out.push(s);
        }
        if out.is_empty() {
            return Err(de::Error::custom(format!("'input' must have between 1 and {MAX_OPENAI_INPUTS} items, got 0.")));
        }
        Ok(out)
    }
}

struct EncodingFormat;

impl<'de> Visitor<'de> for EncodingFormat {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Invalid value for 'encoding_format'. Supported values are: 'float' and 'base64'.")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        match s {
            "float" => Ok(false),
            "base64" => Ok(true),
            other => Err(E::custom(format!("Invalid value for 'encoding_format': {:?}. Supported values are: 'float' and 'base64'.", echo(other)))),
        }
    }
}

struct Dimensions;

impl<'de> Visitor<'de> for Dimensions {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("'dimensions' must be a positive integer.")
    }

    fn visit_u64<E: de::Error>(self, d: u64) -> Result<Self::Value, E> {
        if d == 0 {
            return Err(E::custom("'dimensions' must be a positive integer."));
        }
        Ok(d)
    }
}

// ------------------------------------------------------------------------------------------------
// Shared
// ------------------------------------------------------------------------------------------------

/// `null` or absent is None; anything else is read by the inner visitor.
struct Optional<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Optional<V> {
    type Value = Option<V::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(OptionalVisitor(self.0))
    }
}

struct OptionalVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionalVisitor<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.0.visit_bool(v).map(Some)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.0.visit_i64(v).map(Some)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.0.visit_u64(v).map(Some)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.0.visit_f64(v).map(Some)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.0.visit_str(v).map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(seq).map(Some)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(map).map(Some)
    }
}

#[derive(Clone, Copy)]
enum ItemRule {
    WorkersAi,
    OpenAi,
}

/// One item of a text array: a non-empty string.
struct Item {
    index: usize,
    at: &'static str,
    of: ItemRule,
}

impl Item {
    fn not_a_string<E: de::Error>(&self) -> E {
        match self.of {
            ItemRule::WorkersAi => E::custom(format!("oneOf at '/' not met, Type mismatch of '{}/{}', 'string' expected", self.at, self.index)),
            ItemRule::OpenAi => E::custom("'input' must be a string or an array of strings (token arrays are not supported)."),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Item {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        if !s.is_empty() {
            return Ok(s.to_owned());
        }
        Err(match self.of {
            ItemRule::WorkersAi => E::custom(format!("oneOf at '/' not met, '{}/{}' must NOT have fewer than 1 characters", self.at, self.index)),
            ItemRule::OpenAi => E::custom(format!("'input[{}]' must not be empty.", self.index)),
        })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(self.not_a_string())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(self.not_a_string())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(self.not_a_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(self.not_a_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.not_a_string())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.not_a_string())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.not_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_ai_schema() {
        assert_eq!(run_input(br#"{"text":"a"}"#).map(|i| i.texts).ok(), Some(vec!["a".to_owned()]));
        let i = run_input(br#"{"text":["a","b"],"pooling":"cls"}"#).expect("array");
        assert_eq!((i.texts.len(), i.pooling), (2, epb::Pooling::Cls));
        let cases = [
            (r#"{"text":""}"#, "Error: oneOf at '/' not met, '/text' must NOT have fewer than 1 characters"),
            (r#"{"text":[]}"#, "Error: oneOf at '/' not met, '/text' must NOT have fewer than 1 items"),
            (r#"{"text":["a",""]}"#, "Error: oneOf at '/' not met, '/text/1' must NOT have fewer than 1 characters"),
            (r#"{"text":["a",0]}"#, "Error: oneOf at '/' not met, Type mismatch of '/text/1', 'string' expected"),
            (r#"{"text":1}"#, "Error: oneOf at '/' not met, Type mismatch of '/text', 'string,array' expected"),
            (r#"{}"#, "Error: oneOf at '/' not met, required property 'text' is missing"),
            (r#"{"text":null}"#, "Error: oneOf at '/' not met, required property 'text' is missing"),
            (r#"{"text":"a","pooling":"max"}"#, "Error: '/pooling' must be equal to one of the allowed values: mean, cls"),
            (r#"{"text":"a","pooling":1}"#, "Error: '/pooling' must be equal to one of the allowed values: mean, cls"),
            (r#"[1]"#, "Error: Type mismatch of '/', 'object' expected"),
            (r#""x""#, "Error: Type mismatch of '/', 'object' expected"),
        ];
        for (body, want) in cases {
            assert_eq!(run_input(body.as_bytes()).err().as_deref(), Some(want), "{body}");
        }
        assert!(run_input(br#"{"requests":[]}"#).err().is_some_and(|e| e.contains("async batch")));
        assert!(run_input(br#"{"text":"a"} x"#).err().is_some_and(|e| e.starts_with("Error: the body is not valid JSON")));
        let over = format!(r#"{{"text":[{}]}}"#, vec!["\"a\""; MAX_TEXTS + 1].join(","));
        assert!(run_input(over.as_bytes()).err().is_some_and(|e| e.contains("must NOT have more than 100 items")));
    }

    /// The reading stops where the schema breaks: what follows is never read (here: not JSON).
    #[test]
    fn reading_stops_at_the_first_bad_item() {
        let e = run_input(b"{\"text\":[0, garbage").expect_err("stops at 0");
        assert!(e.contains("Type mismatch of '/text/0'"), "{e}");
        let e = openai_input(b"{\"model\":\"m\",\"input\":[0, garbage").expect_err("stops at 0");
        assert!(e.contains("token arrays are not supported"), "{e}");
        let many = format!("{{\"model\":\"m\",\"input\":[{}, garbage", vec!["\"a\""; MAX_OPENAI_INPUTS + 1].join(","));
        assert!(openai_input(many.as_bytes()).err().is_some_and(|e| e.contains("got more")));
    }

    #[test]
    fn openai_schema() {
        let i = openai_input(br#"{"model":"m","input":["a","b"],"encoding_format":"base64","dimensions":384}"#).expect("ok");
        assert_eq!((i.texts.len(), i.base64, i.dimensions), (2, true, Some(384)));
        let cases = [
            (r#"{"input":"a"}"#, "you must provide a model parameter"),
            (r#"{"model":1,"input":"a"}"#, "you must provide a model parameter"),
            (r#"{"model":"m","input":[1,2]}"#, "'input' must be a string or an array of strings (token arrays are not supported)."),
            (r#"{"model":"m","input":[]}"#, "'input' must have between 1 and 2048 items, got 0."),
            (r#"{"model":"m","input":["a",""]}"#, "'input[1]' must not be empty."),
            (r#"{"model":"m","input":3}"#, "'input' is a required property and must be a string or an array of strings."),
            (r#"{"model":"m"}"#, "'input' is a required property and must be a string or an array of strings."),
            (r#"{"model":"m","input":"a","encoding_format":"hex"}"#, "Invalid value for 'encoding_format': \"hex\". Supported values are: 'float' and 'base64'."),
            (r#"{"model":"m","input":"a","dimensions":0}"#, "'dimensions' must be a positive integer."),
            (r#"{"model":"m","input":"a","dimensions":-3}"#, "'dimensions' must be a positive integer."),
            (r#"{"model":"m","input":"a","dimensions":"x"}"#, "'dimensions' must be a positive integer."),
            (r#"[]"#, "The request body must be a JSON object."),
        ];
        for (body, want) in cases {
            assert_eq!(openai_input(body.as_bytes()).err().as_deref(), Some(want), "{body}");
        }
        assert!(openai_input(b"{").err().is_some_and(|e| e.starts_with("We could not parse the JSON body")));
    }
}
