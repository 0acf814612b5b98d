//! The shared cluster token on the client side: [`load_token`] reads it
//! from a file or `PASSER_TOKEN` and checks it, [`BearerToken`] adds
//! `authorization: Bearer <token>` to every call a client makes. The
//! server-side check lives in the `passer-server` crate.

use passer_proto::TOKEN_METADATA;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::Status;

/// Longest token accepted from a file or the environment.
const MAX_TOKEN_BYTES: usize = 4096;

/// Checks a token read from a file or the environment: 1 to 4096 bytes of
/// printable ASCII without spaces, so it travels as metadata unchanged.
pub fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(format!("the token must be 1 to {MAX_TOKEN_BYTES} bytes"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token must be printable ASCII without spaces".to_owned());
    }
    Ok(())
}

/// Reads the token from `file` (surrounding whitespace trimmed), else from
/// `env_value` (the `PASSER_TOKEN` variable); `None` when neither is set.
pub fn load_token(file: Option<&std::path::Path>, env_value: Option<String>) -> Result<Option<String>, String> {
    let token = match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|error| format!("--token-file {}: {error}", path.display()))?;
            Some(text.trim().to_owned())
        }
        None => env_value.filter(|value| !value.is_empty()),
    };
    if let Some(token) = &token {
        check_token(token)?;
    }
    Ok(token)
}

/// Adds `authorization: Bearer <token>` to every call (nothing without a token).
#[derive(Clone, Default)]
pub struct BearerToken {
    value: Option<MetadataValue<Ascii>>,
}

impl BearerToken {
    /// The interceptor for `token` (`None`: send nothing).
    pub fn new(token: Option<&str>) -> Result<Self, String> {
        let value = token
            .map(|token| format!("Bearer {token}").parse().map_err(|_| "the token is not valid metadata".to_owned()))
            .transpose()?;
        Ok(Self { value })
    }

    /// The metadata value, if a token is set.
    pub fn value(&self) -> Option<&MetadataValue<Ascii>> {
        self.value.as_ref()
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.value.is_some() { "BearerToken(<redacted>)" } else { "BearerToken(none)" })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.value {
            request.metadata_mut().insert(TOKEN_METADATA, value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_be_printable() {
        assert!(check_token("s3cret-token_1").is_ok());
        assert!(check_token("").is_err());
        assert!(check_token("has space").is_err());
        assert!(check_token("line\nbreak").is_err());
        assert!(check_token(&"x".repeat(MAX_TOKEN_BYTES + 1)).is_err());
    }

    #[test]
    fn the_file_wins_over_the_environment() {
        let path = std::env::temp_dir().join(format!("passer-token-test-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        assert_eq!(load_token(Some(&path), Some("from-env".into())).unwrap().as_deref(), Some("from-file"));
        assert_eq!(load_token(None, Some("from-env".into())).unwrap().as_deref(), Some("from-env"));
        assert_eq!(load_token(None, Some(String::new())).unwrap(), None);
        std::fs::remove_file(&path).unwrap();
        assert!(load_token(Some(&path), None).unwrap_err().contains("--token-file"));
    }

    #[test]
    fn debug_hides_the_token() {
        let token = BearerToken::new(Some("s3cret")).unwrap();
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
