//! The order state machine of DESIGN.md, as data.
//!
//! ```text
//!            create_qr ok            customer pays (seen by query)
//!  created ───────────────▶ pending ─────────────────────────────▶ paid ──▶ part_refunded ──▶ refunded
//!     │  network lost ▲        │ cancel / expiry + close ok
//!     └──────▶ unknown ┘        └──────────────────────────────▶ closed
//!                              channel says failed ─────────────▶ failed
//!  cash: created ──▶ paid
//!  late success: closed / failed ──▶ paid
//! ```
//!
//! `unknown` is resolved by asking the channel, so from it every outcome the
//! channel can report is reachable. A success that arrives after the till
//! gave up (`closed` or `failed`) is never dropped: the order becomes `paid`
//! (a late payment, recorded and raised as an alarm by the caller).
//! `unverified` is a manual confirmation a manager recorded while the
//! channel was unreachable; a later query or the channel's bill turns it
//! into `paid` or `failed`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OrderState {
    Created,
    Pending,
    Unknown,
    Unverified,
    Paid,
    PartRefunded,
    Refunded,
    Closed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: OrderState,
    pub to: OrderState,
}

impl OrderState {
    pub const ALL: [OrderState; 9] = [
        OrderState::Created,
        OrderState::Pending,
        OrderState::Unknown,
        OrderState::Unverified,
        OrderState::Paid,
        OrderState::PartRefunded,
        OrderState::Refunded,
        OrderState::Closed,
        OrderState::Failed,
    ];

    /// Every edge the machine allows. Anything else is a bug or a lie from
    /// outside, and is refused.
    pub fn can_become(self, to: OrderState) -> bool {
        use OrderState::*;
        matches!(
            (self, to),
            (Created, Pending)
                | (Created, Unknown)
                | (Created, Failed)
                | (Created, Paid)
                | (Created, Unverified)
                | (Pending, Paid)
                | (Pending, Closed)
                | (Pending, Failed)
                | (Pending, Unknown)
                | (Unknown, Pending)
                | (Unknown, Paid)
                | (Unknown, Closed)
                | (Unknown, Failed)
                | (Unknown, Unverified)
                | (Unverified, Paid)
                | (Unverified, Failed)
                | (Closed, Paid)
                | (Failed, Paid)
                | (Paid, PartRefunded)
                | (Paid, Refunded)
                | (PartRefunded, PartRefunded)
                | (PartRefunded, Refunded)
        )
    }

    pub fn transition(self, to: OrderState) -> Result<OrderState, TransitionError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// Final for the payment: nothing more is learned by asking the channel.
    /// (A paid order can still be refunded, which is a manager's act.)
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            OrderState::Created
                | OrderState::Pending
                | OrderState::Unknown
                | OrderState::Unverified
        )
    }

    /// Money was received (possibly refunded since).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            OrderState::Paid | OrderState::PartRefunded | OrderState::Refunded
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Created => "created",
            OrderState::Pending => "pending",
            OrderState::Unknown => "unknown",
            OrderState::Unverified => "unverified",
            OrderState::Paid => "paid",
            OrderState::PartRefunded => "part_refunded",
            OrderState::Refunded => "refunded",
            OrderState::Closed => "closed",
            OrderState::Failed => "failed",
        }
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an order state (one of: created, pending, unknown, unverified, paid, part_refunded, refunded, closed, failed)")]
pub struct UnknownStateName(pub String);

impl FromStr for OrderState {
    type Err = UnknownStateName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownStateName(s.to_owned()))
    }
}

/// The ways a customer can pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ChannelKind {
    Alipay,
    Wechat,
    Unionpay,
    Cash,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Alipay,
        ChannelKind::Wechat,
        ChannelKind::Unionpay,
        ChannelKind::Cash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Alipay => "alipay",
            ChannelKind::Wechat => "wechat",
            ChannelKind::Unionpay => "unionpay",
            ChannelKind::Cash => "cash",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a payment channel (one of: alipay, wechat, unionpay, cash)")]
pub struct UnknownChannelName(pub String);

impl FromStr for ChannelKind {
    type Err = UnknownChannelName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wechatpay" => Ok(ChannelKind::Wechat),
            _ => ChannelKind::ALL
                .into_iter()
                .find(|c| c.as_str() == s)
                .ok_or_else(|| UnknownChannelName(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderState::*;

    const ALLOWED: [(OrderState, OrderState); 22] = [
        (Created, Pending),
        (Created, Unknown),
        (Created, Failed),
        (Created, Paid),
        (Created, Unverified),
        (Pending, Paid),
        (Pending, Closed),
        (Pending, Failed),
        (Pending, Unknown),
        (Unknown, Pending),
        (Unknown, Paid),
        (Unknown, Closed),
        (Unknown, Failed),
        (Unknown, Unverified),
        (Unverified, Paid),
        (Unverified, Failed),
        (Closed, Paid),
        (Failed, Paid),
        (Paid, PartRefunded),
        (Paid, Refunded),
        (PartRefunded, PartRefunded),
        (PartRefunded, Refunded),
    ];

    #[test]
    fn every_allowed_edge_is_taken() {
        for (from, to) in ALLOWED {
            assert_eq!(
                from.transition(to),
                Ok(to),
                "{from} -> {to} must be allowed"
            );
        }
    }

    #[test]
    fn every_other_edge_is_refused_with_an_error() {
        for from in OrderState::ALL {
            for to in OrderState::ALL {
                if ALLOWED.contains(&(from, to)) {
                    continue;
                }
                assert_eq!(
                    from.transition(to),
                    Err(TransitionError { from, to }),
                    "{from} -> {to} must be refused"
                );
            }
        }
    }

    #[test]
    fn finality() {
        let open: Vec<_> = OrderState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(open, vec![Created, Pending, Unknown, Unverified]);
        for state in OrderState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in [Pending, Unknown, Closed, Failed, Created] {
                assert!(!state.can_become(to), "final {state} must not become {to}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for state in OrderState::ALL {
            assert_eq!(state.as_str().parse::<OrderState>(), Ok(state));
            assert_eq!(
                serde_json::to_string(&state).ok(),
                Some(format!("\"{}\"", state.as_str()))
            );
        }
        assert!("nope".parse::<OrderState>().is_err());
        for channel in ChannelKind::ALL {
            assert_eq!(channel.as_str().parse::<ChannelKind>(), Ok(channel));
        }
        assert_eq!("wechatpay".parse::<ChannelKind>(), Ok(ChannelKind::Wechat));
    }
}
