//! The bounded tail of a task's logs: appends never grow it past its cap,
//! the oldest bytes go first, and the finished text begins with a marker
//! line saying how many bytes were dropped. Pure, no I/O.

/// The default cap on one task attempt's logs: 64 KiB.
pub const DEFAULT_MAX_LOG_BYTES: usize = 64 * 1024;

/// The first line of logs that were cut: `[... N bytes earlier dropped]`.
pub fn dropped_marker(dropped: u64) -> String {
    format!("[... {dropped} bytes earlier dropped]\n")
}

/// The last bytes written, at most `cap` of them once finished.
#[derive(Debug, Clone)]
pub struct LogTail {
    cap: usize,
    kept: Vec<u8>,
    dropped: u64,
}

impl LogTail {
    /// An empty tail keeping at most `cap` bytes (marker included).
    pub fn new(cap: usize) -> Self {
        Self { cap, kept: Vec::new(), dropped: 0 }
    }

    /// Appends `bytes`, dropping the oldest beyond the cap. Amortised
    /// linear: the buffer is compacted only when it reaches twice the cap.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= self.cap {
            self.dropped += (self.kept.len() + bytes.len() - self.cap) as u64;
            self.kept.clear();
            self.kept.extend_from_slice(&bytes[bytes.len() - self.cap..]);
            return;
        }
        self.kept.extend_from_slice(bytes);
        if self.kept.len() >= self.cap.saturating_mul(2).max(1) {
            self.compact_to(self.cap);
        }
    }

    /// The most bytes [`LogTail::finish`] returns.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes written so far, kept or dropped.
    pub fn written(&self) -> u64 {
        self.dropped + self.kept.len() as u64
    }

    /// The kept text (lossy UTF-8), at most the cap, beginning with the
    /// dropped marker when anything was dropped.
    pub fn finish(mut self) -> String {
        if self.kept.len() > self.cap {
            self.compact_to(self.cap);
        }
        if self.dropped == 0 {
            return String::from_utf8_lossy(&self.kept).into_owned();
        }
        // The marker takes room from the tail: sized for the most that can
        // end up dropped, it never outgrows the estimate.
        let marker_len = dropped_marker(self.dropped + self.kept.len() as u64).len();
        let budget = self.cap.saturating_sub(marker_len);
        if self.kept.len() > budget {
            self.compact_to(budget);
        }
        let start = self.kept.iter().take(3).take_while(|byte| is_continuation(**byte)).count();
        let text = String::from_utf8_lossy(&self.kept[start..]);
        format!("{}{text}", dropped_marker(self.dropped + start as u64))
    }

    fn compact_to(&mut self, keep: usize) {
        let cut = self.kept.len().saturating_sub(keep);
        self.kept.drain(..cut);
        self.dropped += cut as u64;
    }
}

/// `text` cut to at most `cap` bytes keeping its tail, with the marker; a
/// marker `text` already begins with is folded into the new one.
pub fn cut_to_tail(text: String, cap: usize) -> String {
    if text.len() <= cap {
        return text;
    }
    let (earlier, body) = split_marker(&text);
    let mut tail = LogTail::new(cap);
    tail.dropped = earlier;
    tail.push(body.as_bytes());
    tail.finish()
}

/// The dropped count of a leading marker and the text after it.
fn split_marker(text: &str) -> (u64, &str) {
    let parsed = text
        .strip_prefix("[... ")
        .and_then(|rest| rest.split_once(" bytes earlier dropped]\n"))
        .and_then(|(count, body)| count.parse::<u64>().ok().map(|count| (count, body)));
    parsed.unwrap_or((0, text))
}

fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_logs_pass_unchanged() {
        let mut tail = LogTail::new(64);
        tail.push(b"one\n");
        tail.push(b"two\n");
        assert_eq!(tail.written(), 8);
        assert_eq!(tail.finish(), "one\ntwo\n");
    }

    #[test]
    fn long_logs_keep_the_tail_with_a_marker_within_the_cap() {
        let mut tail = LogTail::new(100);
        for line in 0..1000 {
            tail.push(format!("line {line}\n").as_bytes());
        }
        let written = tail.written();
        let text = tail.finish();
        assert!(text.len() <= 100, "{} bytes: {text:?}", text.len());
        assert!(text.ends_with("line 999\n"), "{text:?}");
        let (dropped, body) = split_marker(&text);
        assert_eq!(dropped + body.len() as u64, written, "every byte is kept or counted: {text:?}");
    }

    #[test]
    fn one_write_larger_than_the_cap() {
        let mut tail = LogTail::new(50);
        tail.push(b"start\n");
        tail.push(&[b'x'; 500]);
        let text = tail.finish();
        assert!(text.starts_with("[... ") && text.ends_with('x') && text.len() <= 50, "{text:?}");
        assert_eq!(split_marker(&text).0 + split_marker(&text).1.len() as u64, 506);
    }

    #[test]
    fn a_cut_inside_a_character_drops_its_remains() {
        let mut tail = LogTail::new(40);
        tail.push("é".repeat(100).as_bytes());
        let text = tail.finish();
        let (_, body) = split_marker(&text);
        assert!(!body.contains('\u{fffd}') && body.chars().all(|c| c == 'é'), "{text:?}");
    }

    #[test]
    fn cutting_again_folds_the_earlier_marker() {
        let first = cut_to_tail("a".repeat(1000), 200);
        assert!(first.starts_with("[... "), "{first:?}");
        let second = cut_to_tail(first, 60);
        let (dropped, body) = split_marker(&second);
        assert!(second.len() <= 60, "{second:?}");
        assert_eq!(dropped + body.len() as u64, 1000, "{second:?}");
        assert_eq!(cut_to_tail("short".to_owned(), 60), "short");
    }
}
