//! The word count's task bodies and its shuffle, free of I/O beyond reading
//! the input file: what `passer-bench executor`'s `wc-map` and `wc-reduce`
//! run, and what the frontend's generator does between them. The data
//! shapes (JSON lines, so the shuffle splits bytes instead of parsing them):
//!
//! - a map's output: one line per partition `j` in order, each the JSON
//!   object `{"word": count}` of the file's words `w` with
//!   CRC-32(`w`) mod `partitions` = `j`;
//! - a reduce's payload: line `j` of every map's output, one per line;
//! - a reduce's output: the JSON object of the summed counts.
//!
//! The peers run the same work in Python (`benches/peers/common.py`: a list
//! of dicts per map, one dict per reduce), with their own serialization.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

/// Counts the words of `text` into `partitions` JSON lines (see the module docs).
pub fn map_text(text: &str, partitions: u32) -> Result<Vec<u8>, String> {
    if partitions == 0 {
        return Err("partitions must be at least 1".to_owned());
    }
    // Sized for a file's distinct words (about one in four of its words here).
    let per_partition = text.len() / 24 / partitions as usize + 16;
    let mut split: Vec<Counts<&str>> =
        (0..partitions).map(|_| Counts::with_capacity_and_hasher(per_partition, Default::default())).collect();
    for word in text.split_whitespace() {
        let partition = crc32(word.as_bytes()) % partitions;
        *split[partition as usize].entry(word).or_default() += 1;
    }
    let mut lines = Vec::with_capacity(text.len() / 2);
    for counts in &split {
        serde_json::to_writer(&mut lines, counts).map_err(|error| error.to_string())?;
        lines.push(b'\n');
    }
    Ok(lines)
}

/// Sums the `{"word": count}` lines of a reduce payload into one JSON object.
pub fn reduce_lines(payload: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(payload).map_err(|error| format!("payload is not UTF-8: {error}"))?;
    let mut total: Counts<String> = Counts::default();
    for (index, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let mut deserializer = serde_json::Deserializer::from_str(line);
        MergeInto(&mut total)
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .map_err(|error| format!("line {} is not a {{\"word\": count}} object: {error}", index + 1))?;
    }
    serde_json::to_vec(&total).map_err(|error| error.to_string())
}

/// The shuffle: splits each map output (in order) into its `partitions`
/// lines and returns one reduce payload per partition.
pub fn shuffle<'a>(
    outputs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    partitions: usize,
) -> Result<Vec<Vec<u8>>, String> {
    let mut payloads: Vec<Vec<u8>> = vec![Vec::new(); partitions];
    for (task_id, output) in outputs {
        let mut lines = output.split_inclusive(|&byte| byte == b'\n');
        for (partition, payload) in payloads.iter_mut().enumerate() {
            let line =
                lines.next().ok_or_else(|| format!("map {task_id}'s output has no line for partition {partition}"))?;
            payload.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                payload.push(b'\n');
            }
        }
        if lines.next().is_some() {
            return Err(format!("map {task_id}'s output has more than {partitions} lines"));
        }
    }
    Ok(payloads)
}

/// CRC-32 (IEEE, as zlib's `crc32`, table-driven as zlib's is), so Rust and
/// Python agree on partitions.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut crc = index as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
}

/// Word counts, hashed with FNV-1a: short keys, no untrusted input.
type Counts<K> = HashMap<K, u64, BuildHasherDefault<Fnv1a>>;

/// The FNV-1a hash (64-bit).
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Adds one `{"word": count}` object into a running total, borrowing each
/// word from the input where it has no escapes.
struct MergeInto<'t>(&'t mut Counts<String>);

impl<'de> DeserializeSeed<'de> for MergeInto<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MergeInto<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object of word counts")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Word(word)) = map.next_key()? {
            let count: u64 = map.next_value()?;
            match self.0.get_mut(word.as_ref()) {
                Some(total) => *total += count,
                None => {
                    self.0.insert(word.into_owned(), count);
                }
            }
        }
        Ok(())
    }
}

/// A map key, borrowed from the input when it can be.
struct Word<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Word<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WordVisitor;
        impl<'de> Visitor<'de> for WordVisitor {
            type Value = Word<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a word")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, word: &'de str) -> Result<Word<'de>, E> {
                Ok(Word(Cow::Borrowed(word)))
            }

            fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<Word<'de>, E> {
                Ok(Word(Cow::Owned(word.to_owned())))
            }
        }
        deserializer.deserialize_str(WordVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        // zlib.crc32(b"") == 0, zlib.crc32(b"the") == 0x3c456de6
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"the"), 0x3C45_6DE6);
    }

    #[test]
    fn map_shuffle_reduce_count_every_word_once() {
        let texts = ["a b c a\nquote\"d back\\slash a", "b b c dé"];
        let outputs: Vec<(String, Vec<u8>)> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| (format!("m{index}"), map_text(text, 3).expect("map")))
            .collect();
        for (_, output) in &outputs {
            assert_eq!(output.iter().filter(|&&byte| byte == b'\n').count(), 3);
        }
        let payloads =
            shuffle(outputs.iter().map(|(id, output)| (id.as_str(), output.as_slice())), 3).expect("shuffle");
        let mut counts: HashMap<String, u64> = HashMap::new();
        for (partition, payload) in payloads.iter().enumerate() {
            let reduced: HashMap<String, u64> =
                serde_json::from_slice(&reduce_lines(payload).expect("reduce")).expect("json");
            for word in reduced.keys() {
                assert_eq!(crc32(word.as_bytes()) % 3, partition as u32, "{word} in partition {partition}");
            }
            counts.extend(reduced);
        }
        let expected: HashMap<String, u64> =
            [("a", 3), ("b", 3), ("c", 2), ("quote\"d", 1), ("back\\slash", 1), ("dé", 1)]
                .into_iter()
                .map(|(word, count)| (word.to_owned(), count))
                .collect();
        assert_eq!(counts, expected);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert_eq!(map_text("a", 0).unwrap_err(), "partitions must be at least 1");
        let error = shuffle([("m7", b"{}\n".as_slice())], 2).unwrap_err();
        assert_eq!(error, "map m7's output has no line for partition 1");
        let error = shuffle([("m8", b"{}\n{}\n{}\n".as_slice())], 2).unwrap_err();
        assert_eq!(error, "map m8's output has more than 2 lines");
        let error = reduce_lines(b"{\"a\":1}\n[1]\n").unwrap_err();
        assert!(error.starts_with("line 2 is not a {\"word\": count} object"), "{error}");
    }
}
