//! The static source: a fixed list of `host:port` given on the command line.

use super::Resolved;

/// A fixed list of addresses.
#[derive(Debug, Clone)]
pub struct StaticList {
    addresses: Vec<String>,
}

impl StaticList {
    /// The list, with blanks dropped and whitespace trimmed.
    pub fn new(addresses: Vec<String>) -> Self {
        let addresses = addresses.into_iter().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect();
        Self { addresses }
    }

    /// The list, sorted and deduplicated.
    pub fn resolve(&self) -> Resolved {
        Resolved::new(self.addresses.clone(), None)
    }

    /// The list, comma-separated.
    pub fn describe(&self) -> String {
        format!("static list {}", self.addresses.join(","))
    }
}
