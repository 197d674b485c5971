//! System flows and end-to-end tests of Shouyin live in `tests/` of this
//! package; the library itself is empty and exists so the package has a target.
