//! The people at the till: users and roles, PIN login on the shared till,
//! manager approvals on the spot, and the audit log.
//!
//! PINs are checked against the local Argon2 hashes, so logins and
//! approvals work offline. The slow hash runs on the blocking pool without
//! holding the ledger, so a login never stalls a sale. Five wrong PINs in a
//! row lock the user for 30 s, doubling with each further lock (at most an
//! hour); the clock is [`Counter::now`], so tests move time instead of
//! sleeping.
//!
//! An [`Approval`] is checked at the moment of the action it approves; the
//! approver's name then goes on the action's event and audit entry.

use serde_json::{json, Value};
use shouyin_ledger::audit::NewAudit;
use shouyin_ledger::users::{self, PinAttempt, Role, User};

use crate::dto::{Approval, AuditEntryDto, AuditVerifyDto, UserAddRequest, UserDto, UserRole};
use crate::{ApiError, Counter, ErrorCode};

/// The demo staff a fresh demo store gets: (name, roles, PIN).
pub const DEMO_USERS: [(&str, &[Role], &str); 3] = [
    ("收银员 王芳", &[Role::Cashier], "1111"),
    ("店长 李娜", &[Role::Manager, Role::Cashier], "9999"),
    ("会计 张伟", &[Role::Accountant], "5555"),
];

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        UserDto {
            id: u.id,
            name: u.name.clone(),
            roles: u.roles.iter().map(|r| UserRole::from(*r)).collect(),
            active: u.active,
            locked_until: u.locked_until.map(shouyin_ledger::ts),
        }
    }
}

impl From<&shouyin_ledger::audit::AuditEntry> for AuditEntryDto {
    fn from(e: &shouyin_ledger::audit::AuditEntry) -> Self {
        AuditEntryDto {
            seq: e.seq,
            at: shouyin_ledger::ts(e.at),
            actor: e.actor.clone(),
            approver: e.approver.clone(),
            action: e.action.clone(),
            detail: e.detail.to_string(),
            hash: e.hash.clone(),
        }
    }
}

async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a PIN task failed: {e}")))
}

impl Counter {
    /// Check a user's PIN (and, if given, that they hold `role`), counting
    /// wrong attempts towards a lock.
    pub(crate) async fn check_pin(
        &self,
        name: &str,
        pin: &str,
        role: Option<Role>,
    ) -> Result<User, ApiError> {
        let now = self.now();
        let lookup = name.trim().to_owned();
        let found = self
            .with_ledger(move |ledger| Ok(ledger.user(&lookup)?))
            .await?;
        let pin = pin.to_owned();
        let Some((user, hash)) = found else {
            off_thread(move || users::verify_pin_against_nobody(&pin)).await?;
            return Err(ApiError::new(
                ErrorCode::PinWrong,
                format!("wrong name or PIN for {}", name.trim()),
            ));
        };
        if !user.active {
            return Err(ApiError::new(
                ErrorCode::NotPermitted,
                format!("{} is deactivated", user.name),
            ));
        }
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            return Err(locked(&user.name, until, now));
        }
        let correct = off_thread(move || users::verify_pin(&pin, &hash)).await?;
        let user_id = user.id;
        let attempt = self
            .with_ledger(move |ledger| Ok(ledger.record_pin_attempt(user_id, correct, now)?))
            .await?;
        match attempt {
            PinAttempt::Accepted => {}
            PinAttempt::Wrong { attempts_left } => {
                return Err(ApiError::new(
                    ErrorCode::PinWrong,
                    format!(
                        "wrong PIN for {}; {attempts_left} attempt(s) left before a lock",
                        user.name
                    ),
                )
                .detail("attempts_left")
                .with("name", &user.name)
                .with("attempts_left", attempts_left))
            }
            PinAttempt::LockedNow { until } | PinAttempt::Locked { until } => {
                return Err(locked(&user.name, until, now))
            }
        }
        if let Some(role) = role {
            if !user.has(role) {
                return Err(ApiError::new(
                    ErrorCode::NotPermitted,
                    format!("{} is not a {} ({})", user.name, role, role.label_zh()),
                )
                .detail("role")
                .with("name", &user.name)
                .with("role", role));
            }
        }
        Ok(user)
    }

    /// Check a manager's approval now; returns the approver's name as stored.
    pub async fn approval_check(&self, approval: &Approval) -> Result<String, ApiError> {
        let user = self
            .check_pin(&approval.approver_name, &approval.pin, Some(Role::Manager))
            .await?;
        Ok(user.name)
    }

    /// Like [`Counter::approval_check`] for an action that cannot go ahead
    /// without one.
    pub(crate) async fn require_approval(
        &self,
        approval: Option<&Approval>,
        what: &str,
    ) -> Result<String, ApiError> {
        match approval {
            Some(a) => self.approval_check(a).await,
            None => Err(ApiError::new(
                ErrorCode::ApprovalRequired,
                format!("{what} needs a manager's approval (店长授权)"),
            )),
        }
    }

    /// Log in on the shared till with a PIN.
    pub async fn user_login(&self, name: String, pin: String) -> Result<UserDto, ApiError> {
        let user = self.check_pin(&name, &pin, None).await?;
        Ok(UserDto::from(&user))
    }

    /// Every user, by name.
    pub async fn users_list(&self) -> Result<Vec<UserDto>, ApiError> {
        self.with_ledger(|ledger| Ok(ledger.users()?.iter().map(UserDto::from).collect()))
            .await
    }

    /// Add a user. The very first user needs no approval (it is how a store
    /// gets its first manager); after that, a manager approves.
    pub async fn user_add(
        &self,
        req: UserAddRequest,
        approval: Option<Approval>,
    ) -> Result<UserDto, ApiError> {
        let roles: Vec<Role> = req.roles.iter().map(|r| Role::from(*r)).collect();
        if roles.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "a user needs at least one role (cashier, manager, accountant)",
            ));
        }
        users::check_pin_format(&req.pin)?;
        let existing = self.with_ledger(|l| Ok(l.user_count()?)).await?;
        let approver = if existing == 0 {
            None
        } else {
            Some(
                self.require_approval(approval.as_ref(), "adding a user")
                    .await?,
            )
        };
        let pin = req.pin.clone();
        let cost = self.inner.pin_cost;
        let hash = off_thread(move || users::hash_pin_with(&pin, cost)).await??;
        let now = self.now();
        let name = req.name;
        let user = self
            .with_ledger(move |ledger| {
                let actor = approver.clone().unwrap_or_else(|| "setup".to_owned());
                Ok(ledger.add_user(&name, &roles, &hash, &actor, approver.as_deref(), now)?)
            })
            .await?;
        Ok(UserDto::from(&user))
    }

    /// Switch a user off (or on again), with a manager's approval.
    pub async fn user_set_active(
        &self,
        name: String,
        active: bool,
        approval: Approval,
    ) -> Result<UserDto, ApiError> {
        let approver = self.approval_check(&approval).await?;
        let now = self.now();
        let user = self
            .with_ledger(move |ledger| {
                Ok(ledger.set_user_active(&name, active, &approver, Some(&approver), now)?)
            })
            .await?;
        Ok(UserDto::from(&user))
    }

    /// Give a demo store its demo staff (收银员 王芳 1111, 店长 李娜 9999,
    /// 会计 张伟 5555), only when it has no users at all. Returns how many
    /// were added.
    pub async fn ensure_demo_users(&self) -> Result<usize, ApiError> {
        if self.with_ledger(|l| Ok(l.user_count()?)).await? > 0 {
            return Ok(0);
        }
        let cost = self.inner.pin_cost;
        let hashes = off_thread(move || {
            DEMO_USERS
                .iter()
                .map(|(_, _, pin)| users::hash_pin_with(pin, cost))
                .collect::<Result<Vec<_>, _>>()
        })
        .await??;
        let now = self.now();
        self.with_ledger(move |ledger| {
            // Checked again under the lock: two starts at once add them once.
            if ledger.user_count()? > 0 {
                return Ok(0);
            }
            for ((name, roles, _), hash) in DEMO_USERS.iter().zip(&hashes) {
                ledger.add_user(name, roles, hash, "setup", None, now)?;
            }
            Ok(DEMO_USERS.len())
        })
        .await
    }

    /// Record an approved action that has no record of its own (a change of
    /// settings, for one): the approval is checked now and the action goes
    /// to the audit log. `action` is snake_case, e.g. `settings_changed`.
    pub async fn audit_approved(
        &self,
        actor: String,
        action: String,
        detail: Value,
        approval: Approval,
    ) -> Result<AuditEntryDto, ApiError> {
        let approver = self.approval_check(&approval).await?;
        let now = self.now();
        let detail = match detail {
            Value::Object(_) => detail,
            other => json!({ "value": other }),
        };
        let entry = self
            .with_ledger(move |ledger| {
                Ok(ledger.audit_append(
                    &NewAudit::new(actor, action, detail).approved_by(Some(approver)),
                    now,
                )?)
            })
            .await?;
        Ok(AuditEntryDto::from(&entry))
    }

    /// The newest audit entries first.
    pub async fn audit_list(&self, limit: u32) -> Result<Vec<AuditEntryDto>, ApiError> {
        self.with_ledger(move |ledger| {
            Ok(ledger
                .audit_entries(limit)?
                .iter()
                .map(AuditEntryDto::from)
                .collect())
        })
        .await
    }

    /// Recompute the audit chain; reports the first broken entry.
    pub async fn audit_verify(&self) -> Result<AuditVerifyDto, ApiError> {
        self.with_ledger(|ledger| {
            let v = ledger.audit_verify()?;
            Ok(AuditVerifyDto {
                intact: v.is_intact(),
                entries: v.entries,
                first_bad_seq: v.first_bad_seq,
                problem: v.problem,
            })
        })
        .await
    }
}

fn locked(
    name: &str,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiError {
    let secs = (until - now).num_seconds().max(1);
    ApiError::new(
        ErrorCode::UserLocked,
        format!(
            "{name} is locked after too many wrong PINs; try again in {secs} s (until {})",
            shouyin_ledger::ts(until)
        ),
    )
    .detail("wait")
    .with("name", name)
    .with("seconds", secs)
}

/// The reason an unverified order gets when the channel has no payment.
pub const FLAGGED_NO_PAYMENT: &str = "flagged: channel has no payment";

impl Counter {
    /// A manager records a payment the channel cannot confirm now (待核实):
    /// the customer shows a paid screen for the shop's static code. Names an
    /// existing open order, or creates one from amount and channel. The
    /// order becomes `unverified` with the approver recorded, and is checked
    /// later by [`Counter::order_verify`] or by reconciliation.
    pub async fn order_confirm_manually(
        &self,
        req: crate::dto::ManualConfirmRequest,
        approval: Approval,
    ) -> Result<crate::dto::OrderDto, ApiError> {
        use shouyin_core::{AmountRules, ChannelKind, Money, OrderState};
        use shouyin_ledger::{Change, NewOrder};
        let cashier = req.cashier.trim().to_owned();
        if cashier.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "the cashier at the till must be given",
            ));
        }
        let approver = self.approval_check(&approval).await?;
        let now = self.now();
        let order = self
            .with_ledger(move |ledger| {
                let order = match (&req.order_no, &req.amount, req.channel) {
                    (Some(no), _, _) => ledger.order_by_no(no.trim())?,
                    (None, Some(amount), Some(channel)) => {
                        if channel == ChannelKind::Cash {
                            return Err(ApiError::new(
                                ErrorCode::InvalidInput,
                                "cash needs no manual confirmation",
                            ));
                        }
                        crate::suspensions::refuse_if_suspended(ledger, channel)?;
                        let rules = AmountRules::sale(ledger.terminal().sale_limit_fen);
                        ledger.create_order(
                            &NewOrder {
                                amount: Money::parse(amount, &rules)?,
                                channel,
                                cashier: Some(cashier.clone()),
                                note: req.note.clone().filter(|n| !n.trim().is_empty()),
                            },
                            now,
                        )?
                    }
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidInput,
                            "give an order number, or an amount and a channel",
                        ))
                    }
                };
                if order.channel == ChannelKind::Cash {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInput,
                        "cash needs no manual confirmation",
                    ));
                }
                if order.state == OrderState::Pending {
                    // The machine reaches unverified through unknown: the
                    // channel could not tell us the outcome.
                    ledger.transition(
                        order.id,
                        &Change::to(OrderState::Unknown)
                            .because("the channel could not confirm; manual confirmation"),
                        now,
                    )?;
                }
                let change = Change {
                    paid_at: Some(now),
                    ..Change::to(OrderState::Unverified)
                        .because("manually confirmed by a manager; to be checked with the channel")
                };
                let audit = NewAudit::new(
                    cashier.clone(),
                    "order_confirmed_manually",
                    json!({ "note": req.note }),
                )
                .approved_by(Some(approver.clone()));
                Ok(ledger.transition_audited(order.id, &change, &audit, now)?)
            })
            .await?;
        let dto = crate::dto::OrderDto::from(&order);
        self.publish(&dto);
        Ok(dto)
    }

    /// Check an unverified order with its channel: paid there → `paid`
    /// (verified); the channel has no payment → `failed`, flagged, with an
    /// audit entry; unreachable or still waiting → stays `unverified`.
    pub async fn order_verify(&self, order_no: String) -> Result<crate::dto::OrderDto, ApiError> {
        use shouyin_channels::RemoteStatus;
        use shouyin_core::OrderState;
        let no = order_no.clone();
        let order = self
            .with_ledger(move |ledger| Ok(ledger.order_by_no(&no)?))
            .await?;
        if order.state != OrderState::Unverified {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("order {order_no} is {}, not unverified", order.state),
            ));
        }
        let channel = self.channel(order.channel)?;
        let remote = match channel.query(&order.out_trade_no).await {
            Ok(remote) => remote,
            Err(e) => {
                tracing::info!(%order_no, "verification postponed: {e}");
                return Ok(crate::dto::OrderDto::from(&order));
            }
        };
        match remote.status {
            RemoteStatus::Paid | RemoteStatus::Refunded => {
                self.settle_unverified_with(
                    order_no,
                    true,
                    "verified by a channel query".into(),
                    remote.channel_trade_no,
                    remote.paid_at,
                    None,
                )
                .await
            }
            RemoteStatus::NotFound | RemoteStatus::Closed | RemoteStatus::Failed => {
                self.settle_unverified_with(
                    order_no,
                    false,
                    format!("channel query: {:?}", remote.status).to_lowercase(),
                    None,
                    None,
                    None,
                )
                .await
            }
            RemoteStatus::Waiting => Ok(crate::dto::OrderDto::from(&order)),
        }
    }

    /// Mark an unverified order verified (→ paid) or flagged (→ failed with
    /// a reason starting "flagged:"), with an audit entry. For
    /// reconciliation, which matches unverified orders against bill lines.
    pub async fn order_settle_unverified_from_bill(
        &self,
        order_no: String,
        verified: bool,
        reason: String,
    ) -> Result<crate::dto::OrderDto, ApiError> {
        self.settle_unverified_with(order_no, verified, reason, None, None, None)
            .await
    }

    /// A manager settles an unverified order (a manual confirmation), so it
    /// never blocks the till's QR charges for good. Without a write-off
    /// reason the channel decides: paid there → `paid` (verified); the
    /// channel has no payment → `failed` (flagged); no usable answer, or
    /// still waiting → refused, the order stays as it is. With a reason it
    /// is written off as not paid (`failed`). Either way the manager's PIN
    /// is checked now and the audit log names them.
    pub async fn order_settle_unverified(
        &self,
        order_no: String,
        write_off_reason: Option<String>,
        approval: Approval,
    ) -> Result<crate::dto::OrderDto, ApiError> {
        use shouyin_channels::RemoteStatus;
        use shouyin_core::OrderState;
        let approver = self.approval_check(&approval).await?;
        let no = order_no.trim().to_owned();
        let lookup = no.clone();
        let order = self
            .with_ledger(move |ledger| Ok(ledger.order_by_no(&lookup)?))
            .await?;
        if order.state != OrderState::Unverified {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("order {no} is {}, not unverified", order.state),
            ));
        }
        let reason = write_off_reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if let Some(reason) = reason {
            return self
                .settle_unverified_with(
                    no,
                    false,
                    format!("flagged: written off by {approver}: {reason}"),
                    None,
                    None,
                    Some(approver),
                )
                .await;
        }
        let channel = self.channel(order.channel)?;
        let remote = channel.query(&order.out_trade_no).await.map_err(|e| {
            ApiError::new(
                ErrorCode::ChannelUnreachable,
                format!("the channel cannot confirm order {no} now ({e}); try again, or write it off with a reason"),
            )
        })?;
        match remote.status {
            RemoteStatus::Paid | RemoteStatus::Refunded => {
                self.settle_unverified_with(
                    no,
                    true,
                    "verified by a channel query".into(),
                    remote.channel_trade_no,
                    remote.paid_at,
                    Some(approver),
                )
                .await
            }
            RemoteStatus::NotFound | RemoteStatus::Closed | RemoteStatus::Failed => {
                self.settle_unverified_with(
                    no,
                    false,
                    format!("channel query: {:?}", remote.status).to_lowercase(),
                    None,
                    None,
                    Some(approver),
                )
                .await
            }
            RemoteStatus::Waiting => Err(ApiError::new(
                ErrorCode::Conflict,
                format!("the channel still waits for the customer to pay order {no}; try again, or write it off with a reason"),
            )),
        }
    }

    async fn settle_unverified_with(
        &self,
        order_no: String,
        verified: bool,
        source: String,
        channel_trade_no: Option<String>,
        paid_at: Option<chrono::DateTime<chrono::Utc>>,
        settled_by: Option<String>,
    ) -> Result<crate::dto::OrderDto, ApiError> {
        use shouyin_core::OrderState;
        use shouyin_ledger::Change;
        let now = self.now();
        let order = self
            .with_ledger(move |ledger| {
                let order = ledger.order_by_no(&order_no)?;
                if order.state != OrderState::Unverified {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        format!("order {order_no} is {}, not unverified", order.state),
                    ));
                }
                let approver = ledger.order_approver(order.id)?;
                let (change, action) = if verified {
                    (
                        Change {
                            channel_trade_no,
                            paid_at: Some(paid_at.or(order.paid_at).unwrap_or(now)),
                            ..Change::to(OrderState::Paid)
                        }
                        .with_detail("verified_by", source.as_str())
                        .with_detail("amount_fen", order.amount.fen()),
                        "unverified_verified",
                    )
                } else {
                    (
                        Change::to(OrderState::Failed).because(if source.starts_with("flagged") {
                            source.clone()
                        } else {
                            format!("{FLAGGED_NO_PAYMENT} ({source})")
                        }),
                        "unverified_flagged",
                    )
                };
                let audit = NewAudit::new(
                    settled_by.clone().unwrap_or_else(|| "system".to_owned()),
                    action,
                    json!({ "source": source, "confirmed_by": approver }),
                )
                .approved_by(settled_by.clone());
                Ok(ledger.transition_audited(order.id, &change, &audit, now)?)
            })
            .await?;
        let dto = crate::dto::OrderDto::from(&order);
        self.publish(&dto);
        Ok(dto)
    }
}
