//! The hash-chained audit log of actions that need a manager.
