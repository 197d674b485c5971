//! ESC/POS for receipt printers: an encoder that writes receipts the way
//! Chinese thermal printers expect them, and an independent decoder that
//! reads such a byte stream back (the virtual printer and the tests use it).
//!
//! - [`layout`]: paper widths (58 mm = 32 columns, 80 mm = 48) and column
//!   layout by display width, where a Chinese character takes two columns.
//! - [`encode`]: [`Receipt`], a builder of a print job: Chinese mode and
//!   GB18030 text, alignment, emphasis, double size, CODE128 barcodes, QR
//!   codes, the cut and the cash drawer's kick pulse.
//! - [`decode`]: [`decode::decode`] turns bytes into [`decode::Element`]s;
//!   it is written from the command set, not from the encoder, so the two
//!   check each other.

pub mod decode;
pub mod encode;
pub mod layout;

pub use decode::{decode, Align, DecodeError, Element, TextLine};
pub use encode::{EncodeError, Receipt};
pub use layout::Paper;
