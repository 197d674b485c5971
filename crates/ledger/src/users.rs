//! The people at the till: names, roles and Argon2-hashed PINs.
