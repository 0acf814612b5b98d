//! The payload envelope a fixed task of a node with parents receives:
//! `{"payload": <own payload>, "inputs": [{"node": "map", "task": "m3",
//! "output": <bytes>}, ...]}`, where each `<bytes>` (the own payload too) is
//! a JSON string when the bytes are valid UTF-8, else `{"base64": "..."}`.
//! [`Envelope::parse`] reads it back on the executor side.

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

use super::inputs::{Input, Inputs};

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The task's own payload.
    pub payload: Vec<u8>,
    /// Its parents' outputs, in edge order then task id order.
    pub inputs: Inputs,
}

impl Envelope {
    /// Reads an envelope, naming what is wrong if `bytes` is not one.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, String> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|error| format!("envelope is not valid JSON: {error}"))?;
        let object = value.as_object().ok_or("envelope is not a JSON object")?;
        let payload = decode_bytes(object.get("payload").unwrap_or(&Value::Null))
            .map_err(|error| format!("envelope payload: {error}"))?;
        let inputs_value = object.get("inputs").and_then(Value::as_array).ok_or("envelope has no inputs array")?;
        let mut inputs = Vec::with_capacity(inputs_value.len());
        for (index, entry) in inputs_value.iter().enumerate() {
            let field = |name: &str| {
                entry.get(name).and_then(Value::as_str).map(str::to_owned).ok_or(format!("input {index} has no {name}"))
            };
            let output = decode_bytes(entry.get("output").unwrap_or(&Value::Null))
                .map_err(|error| format!("input {index} output: {error}"))?;
            inputs.push(Input { node: field("node")?, task: field("task")?, output: Bytes::from(output) });
        }
        Ok(Envelope { payload, inputs: Inputs::new(inputs) })
    }
}

/// `bytes` as JSON: a string if they are UTF-8, else `{"base64": ".."}`.
pub fn encode_bytes(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
    }
}

/// The inverse of [`encode_bytes`]; `null` is empty.
pub fn decode_bytes(value: &Value) -> Result<Vec<u8>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        Value::Object(object) => {
            let text = object.get("base64").and_then(Value::as_str).ok_or("object without a base64 string")?;
            base64::engine::general_purpose::STANDARD.decode(text).map_err(|error| format!("bad base64: {error}"))
        }
        other => Err(format!("expected a string or {{\"base64\": ..}}, got {other}")),
    }
}

/// The `inputs` array of `inputs`, serialized once and shared by every task
/// of a stage.
pub(crate) fn encode_inputs(inputs: &Inputs) -> String {
    // Written by hand: the key order of the contract (node, task, output).
    let mut array = String::from("[");
    for (position, input) in inputs.all().enumerate() {
        if position > 0 {
            array.push(',');
        }
        array.push_str("{\"node\":");
        array.push_str(&Value::String(input.node.clone()).to_string());
        array.push_str(",\"task\":");
        array.push_str(&Value::String(input.task.clone()).to_string());
        array.push_str(",\"output\":");
        array.push_str(&encode_bytes(&input.output).to_string());
        array.push('}');
    }
    array.push(']');
    array
}

/// The envelope of a task with payload `payload`, given its stage's
/// already serialized inputs array.
pub(crate) fn wrap(payload: &[u8], encoded_inputs: &str) -> Vec<u8> {
    let payload_json = encode_bytes(payload).to_string();
    let mut envelope = String::with_capacity(payload_json.len() + encoded_inputs.len() + 24);
    envelope.push_str("{\"payload\":");
    envelope.push_str(&payload_json);
    envelope.push_str(",\"inputs\":");
    envelope.push_str(encoded_inputs);
    envelope.push('}');
    envelope.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(node: &str, task: &str, output: &[u8]) -> Input {
        Input { node: node.to_owned(), task: task.to_owned(), output: Bytes::copy_from_slice(output) }
    }

    #[test]
    fn envelope_round_trips_text_and_binary() {
        let inputs = Inputs::new(vec![input("map", "m0", b"hello"), input("map", "m1", &[0xff, 0x00])]);
        let bytes = wrap(b"own", &encode_inputs(&inputs));
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert_eq!(
            text,
            r#"{"payload":"own","inputs":[{"node":"map","task":"m0","output":"hello"},{"node":"map","task":"m1","output":{"base64":"/wA="}}]}"#
        );
        let parsed = Envelope::parse(&bytes).expect("parses");
        assert_eq!(parsed.payload, b"own");
        assert_eq!(parsed.inputs, inputs);
    }

    #[test]
    fn bad_envelopes_are_named() {
        assert!(Envelope::parse(b"nope").unwrap_err().contains("not valid JSON"));
        assert!(Envelope::parse(b"{}").unwrap_err().contains("no inputs array"));
        let error = Envelope::parse(br#"{"payload":"","inputs":[{"node":"a","output":""}]}"#).unwrap_err();
        assert_eq!(error, "input 0 has no task");
    }
}
