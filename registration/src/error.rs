//! Why a registration could not be read, written or built.

/// Registration failures: bad YAML or a namespace regex that does not compile.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("invalid registration YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("invalid namespace regex {regex:?}: {source}")]
    Regex {
        regex: String,
        #[source]
        source: regex::Error,
    },
}
