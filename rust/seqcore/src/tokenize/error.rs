//! Errors of the tokenizer: bad files, bad ids, disallowed special tokens.

use thiserror::Error;

/// Everything that can go wrong while loading, training or running a tokenizer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenizeError {
    /// A tokenizer, rank or multi-word file is malformed. `location` says
    /// where (a JSON path such as `model.merges[17]`, or `line 12`).
    #[error("{location}: {message}")]
    Format { location: String, message: String },
    /// A file is larger than the documented cap; refused before parsing.
    #[error("{what} is {size} bytes, over the {cap}-byte limit")]
    TooLarge { what: String, size: u64, cap: u64 },
    /// A token id that is not in the vocabulary.
    #[error("{}", id_message(*id, *vocab_size))]
    IdOutOfRange { id: u64, vocab_size: usize },
    /// The text contains a special token the caller did not allow.
    #[error(
        "the text contains the special token {token:?} at byte {position}; pass it in \
         allowed_special to encode it as a special token, or in disallowed_special=() \
         to encode it as plain text"
    )]
    DisallowedSpecial { token: String, position: usize },
    /// A regular expression did not compile or failed while matching.
    #[error("pre-tokenizer pattern: {0}")]
    Pattern(String),
    /// Bad arguments (e.g. a vocabulary size smaller than the byte alphabet).
    #[error("{0}")]
    Invalid(String),
    /// The caller's progress/cancel callback asked to stop (e.g. Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl TokenizeError {
    /// Shorthand for a [`TokenizeError::Format`].
    pub fn format(location: impl Into<String>, message: impl Into<String>) -> Self {
        TokenizeError::Format {
            location: location.into(),
            message: message.into(),
        }
    }

    /// [`TokenizeError::TooLarge`] when `data` is over `cap` bytes: files
    /// are refused by size before any parsing.
    pub fn check_size(what: &str, data: &[u8], cap: u64) -> Result<(), Self> {
        if data.len() as u64 > cap {
            return Err(TokenizeError::TooLarge {
                what: what.into(),
                size: data.len() as u64,
                cap,
            });
        }
        Ok(())
    }
}

/// An id past the end is out of range; one below it is a gap that no
/// token fills (rank files may skip ids, e.g. cl100k's 100256-100276).
fn id_message(id: u64, vocab_size: usize) -> String {
    if id < vocab_size as u64 {
        format!("token id {id} is not in the vocabulary: no token has that id (ids run below {vocab_size}, with gaps)")
    } else {
        format!("token id {id} is out of range for a vocabulary of {vocab_size}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_check_allows_the_cap_and_refuses_a_byte_more() {
        assert!(TokenizeError::check_size("the file", &[0; 8], 8).is_ok());
        match TokenizeError::check_size("the file", &[0; 9], 8) {
            Err(TokenizeError::TooLarge { what, size, cap }) => {
                assert_eq!((what.as_str(), size, cap), ("the file", 9, 8));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn ids_in_a_gap_are_not_called_out_of_range() {
        let gap = TokenizeError::IdOutOfRange {
            id: 5,
            vocab_size: 9,
        };
        assert!(gap.to_string().contains("not in the vocabulary"), "{gap}");
        let past = TokenizeError::IdOutOfRange {
            id: 9,
            vocab_size: 9,
        };
        assert_eq!(
            past.to_string(),
            "token id 9 is out of range for a vocabulary of 9"
        );
    }
}
