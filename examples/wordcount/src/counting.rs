//! The word-count logic, free of I/O: deterministic text, the hash that
//! picks a word's partition, counting one text into partitions, and summing
//! partial counts.

use std::collections::BTreeMap;

/// Word counts, sorted by word.
pub(crate) type Counts = BTreeMap<String, u64>;

const VOCABULARY: &[&str] = &[
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "passer", "sparrow", "graph", "stage", "task",
    "node", "map", "reduce", "shuffle", "word", "count", "late", "binding", "batch", "sampling", "probe",
];

/// `words` words of text, the same for the same `seed` (a small LCG with a
/// skew, so some words are far more frequent than others).
pub(crate) fn text(seed: u64, words: usize) -> String {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut out = String::with_capacity(words * 7);
    for index in 0..words {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let draw = (state >> 33) as usize;
        let skewed = (draw % VOCABULARY.len()).min(draw % 7 + (draw >> 8) % VOCABULARY.len());
        out.push_str(VOCABULARY[skewed]);
        out.push(if index % 12 == 11 { '\n' } else { ' ' });
    }
    out
}

/// The partition of `word` among `partitions` (FNV-1a, stable everywhere).
pub(crate) fn partition(word: &str, partitions: usize) -> usize {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in word.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    (hash % partitions as u64) as usize
}

/// Counts the words of `text` (lowercase, split on non-letters) into
/// `partitions` maps by [`partition`].
pub(crate) fn count_partitioned(text: &str, partitions: usize) -> Vec<Counts> {
    let mut parts = vec![Counts::new(); partitions];
    for word in text.split(|character: char| !character.is_alphabetic()).filter(|word| !word.is_empty()) {
        let word = word.to_lowercase();
        let part = partition(&word, partitions);
        *parts[part].entry(word).or_default() += 1;
    }
    parts
}

/// Adds `more` into `total`.
pub(crate) fn add(total: &mut Counts, more: &Counts) {
    for (word, count) in more {
        *total.entry(word.clone()).or_default() += count;
    }
}

/// The `limit` most frequent words, ties by word.
pub(crate) fn top(counts: &Counts, limit: usize) -> Vec<(String, u64)> {
    let mut sorted: Vec<(String, u64)> = counts.iter().map(|(word, &count)| (word.clone(), count)).collect();
    sorted.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
    sorted.truncate(limit);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_every_word_once() {
        let text = text(7, 1000);
        let parts = count_partitioned(&text, 5);
        let mut total = Counts::new();
        for (index, part) in parts.iter().enumerate() {
            assert!(part.keys().all(|word| partition(word, 5) == index));
            add(&mut total, part);
        }
        assert_eq!(total.values().sum::<u64>(), 1000);
        assert_eq!(text, super::text(7, 1000), "deterministic");
    }
}
