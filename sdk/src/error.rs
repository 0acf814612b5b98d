//! The SDK's one error type, [`ClientError`], and how a gRPC status from a
//! scheduler or node monitor maps onto it.

use std::time::Duration;

use tonic::Code;

/// Everything that can go wrong when talking to passer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The job or request is malformed; retrying the same request cannot help.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The cluster cannot run the request as it is (for example no node
    /// offers a needed executor type); it is not retried.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// Another job already runs under this job id (`ALREADY_EXISTS`); the
    /// message names the id. Pick another id; it is not retried.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The TLS handshake failed on a certificate (the server's does not
    /// chain to the CA given, or the server demands a client certificate
    /// that was not given or not accepted); retrying cannot help.
    #[error("tls error: {0}")]
    Tls(String),
    /// No scheduler (or node monitor) could be reached within the configured
    /// retry time.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Every scheduler still refused the job as overloaded after the
    /// configured maximum retry time.
    #[error("job rejected as overloaded after waiting {waited:?} in total")]
    Rejected {
        /// Time spent backing off before giving up.
        waited: Duration,
    },
    /// A server answered something the protocol does not allow.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Any other gRPC status.
    #[error("grpc error: {0}")]
    Status(tonic::Status),
    /// A connection could not be made or used.
    #[error("transport error: {0}")]
    Transport(String),
    /// The client or executor configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No scheduler runs the job or keeps its results (`NOT_FOUND`); the
    /// message names the job and each scheduler asked.
    #[error("not found: {0}")]
    NotFound(String),
}

impl ClientError {
    /// Whether the error says the request itself is wrong, so trying another
    /// scheduler or trying later cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ClientError::InvalidArgument(_)
                | ClientError::FailedPrecondition(_)
                | ClientError::AlreadyExists(_)
                | ClientError::Tls(_)
                | ClientError::Config(_)
                | ClientError::NotFound(_)
        )
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        match status.code() {
            Code::InvalidArgument => ClientError::InvalidArgument(status.message().to_owned()),
            Code::FailedPrecondition => ClientError::FailedPrecondition(status.message().to_owned()),
            Code::AlreadyExists => ClientError::AlreadyExists(status.message().to_owned()),
            Code::NotFound => ClientError::NotFound(status.message().to_owned()),
            Code::Unavailable => ClientError::Unavailable(status.message().to_owned()),
            _ => ClientError::Status(status),
        }
    }
}

impl From<tonic::transport::Error> for ClientError {
    fn from(error: tonic::transport::Error) -> Self {
        ClientError::Transport(error_chain(&error))
    }
}

/// The certificate problem behind a failed call, if a TLS handshake failed
/// on one: the status's message and its sources name it (rustls's
/// "invalid peer certificate", or a fatal alert the server sent about ours).
pub(crate) fn certificate_error(status: &tonic::Status) -> Option<String> {
    let mut text = status.message().to_owned();
    if let Some(source) = std::error::Error::source(status) {
        text.push_str(": ");
        text.push_str(&error_chain(source));
    }
    const MARKERS: [&str; 6] = [
        "invalid peer certificate",
        "CertificateRequired",
        "BadCertificate",
        "UnknownCA",
        "UnsupportedCertificate",
        "CertificateUnknown",
    ];
    MARKERS.iter().any(|marker| text.contains(marker)).then_some(text)
}

/// Formats an error with its sources, `outer: inner: innermost`.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source_opt = error.source();
    while let Some(source) = source_opt {
        let source_text = source.to_string();
        if !text.ends_with(&source_text) {
            text.push_str(": ");
            text.push_str(&source_text);
        }
        source_opt = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_variants() {
        let invalid = ClientError::from(tonic::Status::invalid_argument("tasks must not be empty"));
        assert!(matches!(&invalid, ClientError::InvalidArgument(message) if message == "tasks must not be empty"));
        assert!(invalid.is_permanent());
        let taken = ClientError::from(tonic::Status::already_exists("job id 'same' is already running"));
        assert!(matches!(&taken, ClientError::AlreadyExists(message) if message.contains("'same'")));
        assert!(taken.is_permanent());
        let unavailable = ClientError::from(tonic::Status::unavailable("down"));
        assert!(matches!(unavailable, ClientError::Unavailable(_)));
        let other = ClientError::from(tonic::Status::internal("boom"));
        assert!(matches!(other, ClientError::Status(ref status) if status.code() == Code::Internal));
        assert!(!other.is_permanent());
    }

    #[test]
    fn messages_are_lowercase_without_period() {
        let rejected = ClientError::Rejected { waited: Duration::from_millis(1500) };
        let text = rejected.to_string();
        assert_eq!(text, "job rejected as overloaded after waiting 1.5s in total");
        assert!(!text.ends_with('.'));
    }
}
