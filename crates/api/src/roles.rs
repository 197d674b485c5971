//! Who may do what at the till: the role matrix, and the use cases whose
//! answer depends on who asks.
//!
//! The matrix is data, written once in `crates/api/commands.list`: one line
//! per command the desktop app answers, with the roles that may call it (or
//! `public`). The desktop shell checks every call against it before the
//! command runs, with the user of the calling window's session; the UI only
//! hides what a role cannot use. A refused call is written to the audit log.
//!
//! Names on records (sales, shifts, refunds, audit entries) come from the
//! session, never from what the UI sends: the request types carry no name.

use serde_json::json;
use shouyin_ledger::audit::NewAudit;
use shouyin_ledger::users::{self, Role};
use shouyin_ledger::OrderFilter;

use crate::dto::{
    Approval, CashMovementDto, CashMovementKind, CustomerOrderDto, UserDto, UserRole,
};
use crate::{ApiError, Counter, ErrorCode, OrderDto};

/// The command list with each command's roles (see the module overview).
pub const COMMANDS_LIST: &str = include_str!("../commands.list");

/// Who may call a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone, before login too (the login screen, the customer display).
    Public,
    /// A logged-in user holding one of these roles.
    Roles(Vec<UserRole>),
}

/// One line of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub command: &'static str,
    pub access: Access,
}

/// Read a command list: `name role…` or `name public` per line, `#` comments.
pub fn parse_matrix(text: &'static str) -> Result<Vec<Rule>, String> {
    let mut rules: Vec<Rule> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let Some(command) = words.next() else {
            continue;
        };
        if rules.iter().any(|r| r.command == command) {
            return Err(format!("line {}: {command} is listed twice", n + 1));
        }
        let who: Vec<&str> = words.collect();
        let access = match who.as_slice() {
            [] => return Err(format!("line {}: {command} names nobody", n + 1)),
            ["public"] => Access::Public,
            roles => Access::Roles(
                roles
                    .iter()
                    .map(|r| match *r {
                        "cashier" => Ok(UserRole::Cashier),
                        "manager" => Ok(UserRole::Manager),
                        "accountant" => Ok(UserRole::Accountant),
                        other => Err(format!("line {}: unknown role {other}", n + 1)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        rules.push(Rule { command, access });
    }
    Ok(rules)
}

/// The app's role matrix. A list that does not parse allows nothing but
/// what is public in the lines before the fault (the unit test below keeps
/// that from ever shipping).
pub fn matrix() -> &'static [Rule] {
    static MATRIX: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    MATRIX.get_or_init(|| match parse_matrix(COMMANDS_LIST) {
        Ok(rules) => rules,
        Err(e) => {
            tracing::error!("the command list is broken, every command is refused: {e}");
            Vec::new()
        }
    })
}

/// The names of every command, in the list's order.
pub fn command_names() -> Vec<&'static str> {
    matrix().iter().map(|r| r.command).collect()
}

/// May `user` (`None`: nobody logged in at that window) call `command`?
/// An unknown command is refused: a command missing from the matrix is
/// never open by accident.
pub fn authorize(command: &str, user: Option<&UserDto>) -> Result<(), ApiError> {
    let Some(rule) = matrix().iter().find(|r| r.command == command) else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("{command} is not in the role matrix"),
        ));
    };
    match (&rule.access, user) {
        (Access::Public, _) => Ok(()),
        (Access::Roles(_), None) => Err(ApiError::new(
            ErrorCode::NotLoggedIn,
            format!("{command} needs a logged-in user"),
        )),
        (Access::Roles(allowed), Some(user)) => {
            if user.roles.iter().any(|r| allowed.contains(r)) {
                Ok(())
            } else {
                Err(ApiError::new(
                    ErrorCode::Forbidden,
                    format!("{} may not {command}", user.name),
                ))
            }
        }
    }
}

impl UserDto {
    pub fn has(&self, role: UserRole) -> bool {
        self.roles.contains(&role)
    }

    fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(|r| Role::from(*r).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Counter {
    /// Write a refused call to the audit log: who (from the session), with
    /// which roles, tried which command, and why it was refused.
    pub async fn audit_refused(
        &self,
        user: Option<&UserDto>,
        command: &str,
        refusal: &ApiError,
    ) -> Result<(), ApiError> {
        let actor = user.map_or_else(|| "(not logged in)".to_owned(), |u| u.name.clone());
        let detail = json!({
            "command": command,
            "roles": user.map(UserDto::roles_text).unwrap_or_default(),
            "code": refusal.code,
        });
        let now = self.now();
        self.with_ledger(move |ledger| {
            ledger.audit_append(&NewAudit::new(actor, "command_refused", detail), now)?;
            Ok(())
        })
        .await
    }

    /// A new store's first manager (name and PIN, typed twice). Allowed only
    /// while the ledger has no users at all: it is how a real store gets
    /// someone who can log in; until then nothing can be sold.
    /// A real store's first start, in one step: the store's name, the
    /// terminal id, the time zone and business-day cut-off, and the first
    /// manager (PIN typed twice). Only on a fresh ledger (no users, nothing
    /// recorded); everything is checked before anything is written.
    pub async fn setup_store(&self, req: StoreSetupRequest) -> Result<UserDto, ApiError> {
        let terminal = shouyin_core::TerminalId::parse(req.terminal.trim())
            .map_err(|e| ApiError::new(ErrorCode::InvalidInput, e.to_string()))?;
        let calendar =
            shouyin_core::BusinessCalendar::parse(req.timezone.trim(), req.day_cutoff.trim())
                .map_err(|e| ApiError::new(ErrorCode::InvalidInput, e.to_string()))?;
        let store = req.store.trim().to_owned();
        if store.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "the store's name must be given",
            ));
        }
        if req.manager.trim().is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "the manager's name must be given",
            ));
        }
        if req.pin != req.pin_again {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "the two PINs differ; type the same PIN twice",
            ));
        }
        users::check_pin_format(&req.pin)?;
        // Before any channel is asked anything: only a fresh ledger.
        if self.with_ledger(|ledger| Ok(ledger.user_count()?)).await? > 0 {
            return Err(already_set_up());
        }
        // The channels are checked before anything is written, and kept
        // before the store is set up, so a refusal loses nothing and a
        // second try starts from the same fresh ledger.
        let channels_file = req
            .channels_file
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        // Both are checked before either is kept.
        let from_file = match channels_file {
            Some(path) => Some(crate::channel_setup::check_channels_file(path).await?),
            None => None,
        };
        let entered = match req.channels.clone() {
            Some(entries) => Some(crate::channel_entry::check_channel_entries(entries).await?),
            None => None,
        };
        for checked in from_file.into_iter().chain(entered) {
            self.keep_channels(checked).await?;
        }
        let (store_kept, terminal_kept) = (store.clone(), terminal.to_string());
        self.with_ledger(move |ledger| {
            if ledger.user_count()? > 0 {
                return Err(already_set_up());
            }
            let sale_limit_fen = ledger.terminal().sale_limit_fen;
            Ok(ledger.set_up_terminal(&shouyin_ledger::TerminalSetup {
                store,
                terminal,
                calendar,
                sale_limit_fen,
            })?)
        })
        .await?;
        *self
            .inner
            .store_name
            .write()
            .unwrap_or_else(|p| p.into_inner()) = store_kept;
        *self
            .inner
            .terminal_id
            .write()
            .unwrap_or_else(|p| p.into_inner()) = terminal_kept;
        self.setup_first_manager(req.manager, req.pin, req.pin_again)
            .await
    }

    pub async fn setup_first_manager(
        &self,
        name: String,
        pin: String,
        pin_again: String,
    ) -> Result<UserDto, ApiError> {
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "the manager's name must be given",
            ));
        }
        if pin != pin_again {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "the two PINs differ; type the same PIN twice",
            ));
        }
        users::check_pin_format(&pin)?;
        if self.with_ledger(|l| Ok(l.user_count()?)).await? > 0 {
            return Err(already_set_up());
        }
        let hash = tokio::task::spawn_blocking(move || users::hash_pin(&pin))
            .await
            .map_err(|e| ApiError::internal(format!("a PIN task failed: {e}")))??;
        let now = self.now();
        let user = self
            .with_ledger(move |ledger| {
                // Checked again under the ledger's lock: two set-ups at once
                // make one manager.
                if ledger.user_count()? > 0 {
                    return Err(already_set_up());
                }
                Ok(ledger.add_user(
                    &name,
                    &[Role::Manager, Role::Cashier],
                    &hash,
                    "setup",
                    None,
                    now,
                )?)
            })
            .await?;
        Ok(UserDto::from(&user))
    }

    /// Whether the ledger still waits for its first manager.
    pub async fn needs_setup(&self) -> Result<bool, ApiError> {
        Ok(self.with_ledger(|l| Ok(l.user_count()?)).await? == 0)
    }

    /// Today's latest sales as `user` may see them: a cashier her own, a
    /// manager or accountant everyone's.
    pub async fn orders_recent_for(
        &self,
        user: &UserDto,
        limit: u32,
    ) -> Result<Vec<OrderDto>, ApiError> {
        let sees_all = user.has(UserRole::Manager) || user.has(UserRole::Accountant);
        let cashier = (!sees_all).then(|| user.name.clone());
        let now = self.now();
        self.with_ledger(move |ledger| {
            let today = ledger.calendar().business_date(now);
            let orders = ledger.orders(&OrderFilter {
                business_date: Some(today),
                cashier,
                limit: Some(limit),
                ..OrderFilter::default()
            })?;
            Ok(orders.iter().map(OrderDto::from).collect())
        })
        .await
    }

    /// A pay-in or pay-out by the session's user. A cashier moves cash only
    /// with a manager's approval on the spot, either way.
    pub async fn shift_cash_movement_by(
        &self,
        user: &UserDto,
        kind: CashMovementKind,
        amount: String,
        reason: String,
        approval: Option<Approval>,
    ) -> Result<CashMovementDto, ApiError> {
        if !user.has(UserRole::Manager) && approval.is_none() {
            return Err(ApiError::new(
                ErrorCode::ApprovalRequired,
                "moving cash needs a manager's approval (店长授权)",
            ));
        }
        self.shift_cash_movement(kind, amount, reason, user.name.clone(), approval)
            .await
    }

    /// What the customer display may show: the payment in progress (amount,
    /// channel, state and its code as an image), or nothing. Never a list.
    pub async fn order_current(&self) -> Result<Option<CustomerOrderDto>, ApiError> {
        let now = self.now();
        let latest = self
            .with_ledger(move |ledger| {
                let today = ledger.calendar().business_date(now);
                Ok(ledger
                    .orders(&OrderFilter {
                        business_date: Some(today),
                        limit: Some(1),
                        ..OrderFilter::default()
                    })?
                    .first()
                    .map(OrderDto::from))
            })
            .await?;
        match latest.filter(|o| !o.state.is_final()) {
            Some(order) => Ok(Some(CustomerOrderDto::of(&order)?)),
            None => Ok(None),
        }
    }
}

fn already_set_up() -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        "this till already has users; a manager adds staff",
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_command_list_parses_and_every_command_names_someone() {
        let rules = parse_matrix(COMMANDS_LIST).unwrap();
        assert!(rules.len() > 30, "only {} commands", rules.len());
        assert_eq!(matrix().len(), rules.len());
    }

    #[test]
    fn a_broken_list_is_an_error_not_a_guess() {
        assert!(parse_matrix("a public\na cashier").is_err(), "listed twice");
        assert!(parse_matrix("a").is_err(), "names nobody");
        assert!(parse_matrix("a cashier owner").is_err(), "unknown role");
    }

    fn user(roles: &[UserRole]) -> UserDto {
        UserDto {
            id: 1,
            name: "x".into(),
            roles: roles.to_vec(),
            active: true,
            locked_until: None,
        }
    }

    #[test]
    fn the_matrix_decides_with_the_session_user() {
        let cashier = user(&[UserRole::Cashier]);
        let accountant = user(&[UserRole::Accountant]);
        let manager = user(&[UserRole::Manager, UserRole::Cashier]);
        assert!(authorize("order_charge", Some(&cashier)).is_ok());
        assert_eq!(
            authorize("order_charge", Some(&accountant))
                .unwrap_err()
                .code,
            ErrorCode::Forbidden
        );
        assert_eq!(
            authorize("order_charge", None).unwrap_err().code,
            ErrorCode::NotLoggedIn
        );
        assert_eq!(
            authorize("refund_create", Some(&cashier)).unwrap_err().code,
            ErrorCode::Forbidden
        );
        assert!(authorize("refund_create", Some(&manager)).is_ok());
        assert!(authorize("terminal_get", None).is_ok());
        assert_eq!(
            authorize("no_such_command", Some(&manager))
                .unwrap_err()
                .code,
            ErrorCode::Forbidden,
            "a command missing from the matrix is refused"
        );
    }
}

/// The first-start set-up screen's answers.
#[derive(Clone, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct StoreSetupRequest {
    pub store: String,
    pub terminal: String,
    /// An IANA zone, e.g. `Asia/Shanghai`.
    pub timezone: String,
    /// `HH:MM`: sales before it count to the day before.
    pub day_cutoff: String,
    pub manager: String,
    pub pin: String,
    pub pin_again: String,
    /// The full path of a channels file to import (optional): each of its
    /// channels is checked with a signed query before anything is kept.
    #[serde(default)]
    #[ts(optional)]
    pub channels_file: Option<String>,
    /// Channels entered by hand (optional), checked the same way.
    #[serde(default)]
    #[ts(optional)]
    pub channels: Option<crate::channel_entry::ChannelEntries>,
}

impl std::fmt::Debug for StoreSetupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSetupRequest")
            .field("store", &self.store)
            .field("terminal", &self.terminal)
            .field("timezone", &self.timezone)
            .field("day_cutoff", &self.day_cutoff)
            .field("manager", &self.manager)
            .field("channels_file", &self.channels_file)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}
