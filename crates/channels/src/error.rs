//! The one error type of every channel call. Its variants are the outcomes a
//! caller acts on, not the places the failure came from.

use std::fmt;

/// Why a channel call did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The channel answered, with a valid signature, and the answer is "no".
    /// Nothing changed at the channel because of this call.
    #[error("the channel refused: {code}: {message}")]
    Definite { code: String, message: String },
    /// No usable answer: timeout, connection failure, 5xx, a garbled body.
    /// The call may or may not have taken effect; resolve by querying.
    #[error("no usable answer from the channel (outcome unknown): {reason}")]
    Indeterminate { reason: String },
    /// An answer arrived but its signature is missing or does not verify.
    /// This is an alarm (tampering or a wrong key), never a status.
    #[error("the channel's answer is not trustworthy: {reason}")]
    Untrusted { reason: String },
    /// Bad keys or configuration, found before anything was sent.
    #[error("channel configuration: {0}")]
    Config(String),
}

/// Where an unsigned answer's claimed code starts in its reason.
const UNSIGNED_CLAIM: &str = " (claimed code ";

impl ChannelError {
    pub(crate) fn definite(code: impl Into<String>, message: impl Into<String>) -> Self {
        ChannelError::Definite {
            code: code.into(),
            message: message.into(),
        }
    }

    pub(crate) fn indeterminate(reason: impl Into<String>) -> Self {
        ChannelError::Indeterminate {
            reason: reason.into(),
        }
    }

    pub(crate) fn untrusted(reason: impl Into<String>) -> Self {
        ChannelError::Untrusted {
            reason: reason.into(),
        }
    }

    /// An answer without a signature that claims an error code. The code
    /// is kept only as a hint for a person (see [`ChannelError::unsigned_claim`]).
    pub(crate) fn unsigned(what: impl fmt::Display, claimed_code: &str, message: &str) -> Self {
        ChannelError::untrusted(format!(
            "{what} is unsigned{UNSIGNED_CLAIM}{claimed_code}: {message})"
        ))
    }

    /// The error code an unsigned answer claimed. Anyone on the path could
    /// have written it: it may choose the words of a refusal, never turn a
    /// refusal into a success.
    pub fn unsigned_claim(&self) -> Option<&str> {
        let ChannelError::Untrusted { reason } = self else {
            return None;
        };
        let (_, rest) = reason.split_once(UNSIGNED_CLAIM)?;
        rest.split(':').next().filter(|c| !c.is_empty())
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        ChannelError::Config(reason.into())
    }

    /// The code of a definite refusal, if this is one.
    pub fn definite_code(&self) -> Option<&str> {
        match self {
            ChannelError::Definite { code, .. } => Some(code),
            _ => None,
        }
    }
}
