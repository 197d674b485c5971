//! One function per command the UI may invoke. Each extracts the counter and
//! its arguments, awaits one `shouyin_api` call and returns its result: the
//! rules live in the api crate, shared with the CLI and the tests.
//! (`generate_handler!` needs each command's full path, so the modules are
//! public rather than re-exported.)

pub mod amount;
pub mod devices;
pub mod manager;
pub mod order;
pub mod reports;
pub mod session;
pub mod settings;
pub mod shift;
pub mod sync;
pub mod terminal;

pub(crate) use session::open_customer_window;
