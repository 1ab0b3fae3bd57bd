//! Why a query could not be run.

/// Why a query could not be run; the message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Nothing was typed.
    #[error(
        "empty query: type what to look for, e.g. \"red car at the gate last night\" or \"person in black yesterday 15:00-17:00\""
    )]
    Empty,
    /// Too long to be a query.
    #[error("the query is longer than {0} characters")]
    TooLong(usize),
    /// A time that cannot be: a bad date, a range that ends before it starts, one in the future.
    #[error("{0}")]
    BadTime(String),
    /// The sentence model failed.
    #[error("the sentence model failed: {0}")]
    Encoder(String),
}
