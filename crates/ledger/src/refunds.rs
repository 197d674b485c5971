//! Refunds, each with its own request number.
