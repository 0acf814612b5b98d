//! The operator's tenant policy for the reservation queue: each tenant's
//! weighted-fair-queuing weight and the highest priority it may use.
//!
//! Pure data plus parsing of the `name=value` flag form; the queue reads it
//! through [`TenantPolicy::weight`] and [`TenantPolicy::cap_priority`].

use std::collections::HashMap;

/// Weights and priority caps per tenant, with defaults for unknown tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPolicy {
    /// Weight of each named tenant (0 = served only when no one else can be).
    pub weights: HashMap<String, u32>,
    /// Weight of tenants not named in `weights`.
    pub default_weight: u32,
    /// Highest priority each named tenant may use.
    pub max_priority: HashMap<String, i32>,
    /// Highest priority of tenants not named in `max_priority`.
    pub default_max_priority: i32,
}

impl Default for TenantPolicy {
    /// Every tenant weight 1 and capped at priority 0: plain FIFO among
    /// equals until the operator says otherwise.
    fn default() -> Self {
        Self { weights: HashMap::new(), default_weight: 1, max_priority: HashMap::new(), default_max_priority: 0 }
    }
}

impl TenantPolicy {
    /// The tenant's weight.
    pub fn weight(&self, tenant: &str) -> u32 {
        self.weights.get(tenant).copied().unwrap_or(self.default_weight)
    }

    /// The priority a reservation of `tenant` asking for `requested` gets:
    /// never above the tenant's cap.
    pub fn cap_priority(&self, tenant: &str, requested: i32) -> i32 {
        requested.min(self.max_priority.get(tenant).copied().unwrap_or(self.default_max_priority))
    }
}

/// Parses `name=value` pairs (as given to a repeatable flag) into a map;
/// `flag` names the flag in the error.
pub fn parse_pairs<T: std::str::FromStr>(flag: &str, pairs: &[String]) -> Result<HashMap<String, T>, String> {
    let mut map = HashMap::with_capacity(pairs.len());
    for pair in pairs {
        let (name, value) = pair.split_once('=').ok_or_else(|| format!("{flag} {pair:?} must be name=value"))?;
        if name.is_empty() {
            return Err(format!("{flag} {pair:?} needs a tenant name before '='"));
        }
        let value = value.trim().parse().map_err(|_| format!("{flag} {pair:?}: {value:?} is not a valid number"))?;
        if map.insert(name.to_owned(), value).is_some() {
            return Err(format!("{flag} names tenant {name:?} twice"));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_tenants_get_the_defaults() {
        let policy = TenantPolicy {
            weights: parse_pairs("--tenant-weight", &["a=3".into()]).unwrap(),
            default_weight: 2,
            max_priority: parse_pairs("--max-priority", &["a=10".into()]).unwrap(),
            default_max_priority: 1,
        };
        assert_eq!(policy.weight("a"), 3);
        assert_eq!(policy.weight("b"), 2);
        assert_eq!(policy.cap_priority("a", 50), 10);
        assert_eq!(policy.cap_priority("a", -5), -5);
        assert_eq!(policy.cap_priority("b", 50), 1);
    }

    #[test]
    fn bad_pairs_name_the_flag() {
        let error = parse_pairs::<u32>("--tenant-weight", &["a".into()]).unwrap_err();
        assert!(error.contains("--tenant-weight") && error.contains("name=value"), "{error}");
        let error = parse_pairs::<u32>("--tenant-weight", &["a=x".into()]).unwrap_err();
        assert!(error.contains("not a valid number"), "{error}");
        let error = parse_pairs::<i32>("--max-priority", &["a=1".into(), "a=2".into()]).unwrap_err();
        assert!(error.contains("twice"), "{error}");
        assert!(parse_pairs::<u32>("--tenant-weight", &["=1".into()]).is_err());
    }
}
