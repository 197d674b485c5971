//! The domain of Shouyin without any I/O: money in integer fen, the order
//! state machine, channel names, identifiers and business-day arithmetic.
//!
//! Every other crate speaks in these types; none of them touches a file, a
//! socket or the clock (time is passed in).

pub mod ids;
pub mod money;
pub mod order;
pub mod paycode;
pub mod time;

pub use ids::{is_valid_out_trade_no, out_trade_no, IdError, TerminalId};
pub use money::{
    format_fen, parse_fen, AmountError, AmountRules, Currency, Money, DEFAULT_SALE_LIMIT_FEN,
};
pub use order::{ChannelKind, OrderState, TransitionError};
pub use paycode::{classify as classify_code, classify_for_till, PayCodeError};
pub use time::{BusinessCalendar, CalendarError};
