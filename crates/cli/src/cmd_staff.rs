//! Staff, refunds, shifts and the audit log from a terminal:
//! `shouyin user add|list`, `shouyin login-check`, `shouyin refund`,
//! `shouyin shift open|pay-in|pay-out|close|report|list`, `shouyin audit
//! verify|list`.
//!
//! Output is `key=value` lines (or JSON with `--json`); the exit status says
//! whether the thing asked for happened (a wrong PIN, a failed refund or a
//! broken audit chain exit non-zero).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use shouyin_api::dto::{
    Approval, CashMovementKind, RefundCreateRequest, RefundStateDto, UserAddRequest, UserRole,
};
use shouyin_api::{Counter, CounterOptions, ErrorCode};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The users of a till: add one (the first needs no approval; later
    /// ones need a manager's), or list them.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Check a PIN as the till's login would: prints `result=ok|wrong|locked`
    /// and exits 0 only for ok. Wrong PINs count towards the lock.
    LoginCheck {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        name: String,
        #[arg(long)]
        pin: String,
    },
    /// Refund (part of) a paid order, approved by a manager. Prints
    /// `refund_no=` and `state=`; exits 0 once the refund succeeded.
    Refund {
        #[arg(long)]
        db: PathBuf,
        /// The channels file (not needed for cash orders).
        #[arg(long)]
        channels: Option<PathBuf>,
        #[arg(long)]
        order: String,
        /// Yuan, e.g. 5.00.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// The approving manager's name.
        #[arg(long, allow_hyphen_values = true)]
        approver: String,
        /// The approving manager's PIN.
        #[arg(long)]
        pin: String,
        #[arg(long, allow_hyphen_values = true)]
        reason: Option<String>,
        /// Who asks for the refund (defaults to the approver).
        #[arg(long, allow_hyphen_values = true)]
        requested_by: Option<String>,
        /// How long to follow a refund the channel has not finished.
        #[arg(long, default_value_t = 30)]
        wait_secs: u64,
        #[arg(long)]
        json: bool,
    },
    /// Shifts: open with a float, pay-ins and pay-outs, blind close, Z report.
    Shift {
        #[command(subcommand)]
        action: ShiftAction,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user. `--pin` is the new user's PIN (4–6 digits).
    Add {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        name: String,
        /// Comma-separated: cashier, manager, accountant.
        #[arg(long)]
        roles: String,
        #[arg(long)]
        pin: String,
        /// The approving manager (needed once the till has users).
        #[arg(long, allow_hyphen_values = true)]
        approver: Option<String>,
        #[arg(long)]
        approver_pin: Option<String>,
    },
    /// List the users.
    List {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShiftAction {
    /// Open a shift with the counted float (yuan).
    Open {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        cashier: String,
        #[arg(long, allow_hyphen_values = true)]
        float: String,
    },
    /// Put money into the drawer (存入).
    PayIn {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        actor: String,
        #[arg(long, allow_hyphen_values = true)]
        approver: Option<String>,
        #[arg(long)]
        pin: Option<String>,
    },
    /// Take money out of the drawer (支出); needs a manager.
    PayOut {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        actor: String,
        #[arg(long, allow_hyphen_values = true)]
        approver: String,
        #[arg(long)]
        pin: String,
    },
    /// Close the open shift with the counted cash (blind count); prints the
    /// expected cash and the over/short.
    Close {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        counted: String,
        #[arg(long)]
        closed_by: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a closed shift's Z report (the newest without `--id`).
    Report {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        id: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Recompute the hash chain; exit non-zero if any entry was edited,
    /// deleted or reordered.
    Verify {
        #[arg(long)]
        db: PathBuf,
    },
    /// The newest entries.
    List {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

async fn open(db: &Path, channels: Option<&Path>) -> anyhow::Result<Counter> {
    let channels = match channels {
        Some(path) => shouyin_api::load_channels(path)?,
        None => Default::default(),
    };
    let options = CounterOptions {
        channels,
        payments: shouyin_api::PaymentSettings {
            probe_every: None,
            ..Default::default()
        },
        ..CounterOptions::default()
    };
    Counter::open_ledger(db, options)
        .await
        .with_context(|| format!("cannot open the ledger {}", db.display()))
}

fn approval(name: Option<String>, pin: Option<String>) -> anyhow::Result<Option<Approval>> {
    match (name, pin) {
        (Some(approver_name), Some(pin)) => Ok(Some(Approval { approver_name, pin })),
        (None, None) => Ok(None),
        _ => anyhow::bail!("give both the approver's name and PIN"),
    }
}

fn ok_if(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::User { action } => user(action).await,
        Command::LoginCheck { db, name, pin } => {
            let counter = open(&db, None).await?;
            let result = counter.user_login(name, pin).await;
            let (word, ok) = match &result {
                Ok(_) => ("ok", true),
                Err(e) if e.code == ErrorCode::UserLocked => ("locked", false),
                Err(e) if e.code == ErrorCode::PinWrong => ("wrong", false),
                Err(e) => return Err(e.clone().into()),
            };
            println!("result={word}");
            match result {
                Ok(user) => println!(
                    "roles={}",
                    user.roles
                        .iter()
                        .map(role_name)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Err(e) => println!("message={}", e.message),
            }
            Ok(ok_if(ok))
        }
        Command::Refund {
            db,
            channels,
            order,
            amount,
            approver,
            pin,
            reason,
            requested_by,
            wait_secs,
            json,
        } => {
            let counter = open(&db, channels.as_deref()).await?;
            let refund = counter
                .refund_create(
                    RefundCreateRequest {
                        order_no: order,
                        amount,
                        reason,
                        requested_by: requested_by.unwrap_or_else(|| approver.clone()),
                    },
                    Approval {
                        approver_name: approver,
                        pin,
                    },
                )
                .await?;
            let refund = if refund.state.is_final() {
                refund
            } else {
                counter
                    .refund_wait_final(&refund.refund_no, Duration::from_secs(wait_secs))
                    .await?
            };
            counter.shutdown().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&refund)?);
            } else {
                println!("refund_no={}", refund.refund_no);
                println!("order_no={}", refund.order_no);
                println!("amount={}", refund.amount);
                println!("state={}", refund.state.as_str());
                if let Some(reason) = &refund.reason {
                    println!("reason={reason}");
                }
            }
            Ok(ok_if(refund.state == RefundStateDto::Succeeded))
        }
        Command::Shift { action } => shift(action).await,
        Command::Audit { action } => audit(action).await,
    }
}

fn role_name(r: &UserRole) -> &'static str {
    match r {
        UserRole::Cashier => "cashier",
        UserRole::Manager => "manager",
        UserRole::Accountant => "accountant",
    }
}

fn parse_roles(text: &str) -> anyhow::Result<Vec<UserRole>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "cashier" => Ok(UserRole::Cashier),
            "manager" => Ok(UserRole::Manager),
            "accountant" => Ok(UserRole::Accountant),
            other => anyhow::bail!("'{other}' is not a role (cashier, manager, accountant)"),
        })
        .collect()
}

async fn user(action: UserAction) -> anyhow::Result<ExitCode> {
    match action {
        UserAction::Add {
            db,
            name,
            roles,
            pin,
            approver,
            approver_pin,
        } => {
            let counter = open(&db, None).await?;
            let user = counter
                .user_add(
                    UserAddRequest {
                        name,
                        roles: parse_roles(&roles)?,
                        pin,
                    },
                    approval(approver, approver_pin)?,
                )
                .await?;
            println!("user={}", user.name);
            println!(
                "roles={}",
                user.roles
                    .iter()
                    .map(role_name)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            Ok(ExitCode::SUCCESS)
        }
        UserAction::List { db, json } => {
            let counter = open(&db, None).await?;
            let users = counter.users_list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                for u in &users {
                    println!(
                        "{}\t{}\t{}{}",
                        u.name,
                        u.roles.iter().map(role_name).collect::<Vec<_>>().join(","),
                        if u.active { "active" } else { "inactive" },
                        u.locked_until
                            .as_deref()
                            .map(|t| format!("\tlocked until {t}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn shift(action: ShiftAction) -> anyhow::Result<ExitCode> {
    match action {
        ShiftAction::Open { db, cashier, float } => {
            let counter = open(&db, None).await?;
            let shift = counter.shift_open(cashier, float).await?;
            println!("shift={}", shift.id);
            println!("cashier={}", shift.cashier);
            println!("float={}", shift.float);
            Ok(ExitCode::SUCCESS)
        }
        ShiftAction::PayIn {
            db,
            amount,
            reason,
            actor,
            approver,
            pin,
        } => {
            let counter = open(&db, None).await?;
            let m = counter
                .shift_cash_movement(
                    CashMovementKind::PayIn,
                    amount,
                    reason,
                    actor,
                    approval(approver, pin)?,
                )
                .await?;
            println!("movement={}", m.id);
            println!("amount={}", m.amount);
            Ok(ExitCode::SUCCESS)
        }
        ShiftAction::PayOut {
            db,
            amount,
            reason,
            actor,
            approver,
            pin,
        } => {
            let counter = open(&db, None).await?;
            let m = counter
                .shift_cash_movement(
                    CashMovementKind::PayOut,
                    amount,
                    reason,
                    actor,
                    approval(Some(approver), Some(pin))?,
                )
                .await?;
            println!("movement={}", m.id);
            println!("amount={}", m.amount);
            Ok(ExitCode::SUCCESS)
        }
        ShiftAction::Close {
            db,
            counted,
            closed_by,
            json,
        } => {
            let counter = open(&db, None).await?;
            let report = counter.shift_close(counted, closed_by).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("shift={}", report.shift_id);
                println!("counted={}", report.counted);
                println!("expected={}", report.expected);
                println!("over_short={}", report.over_short);
                println!("result={}", report.over_short_kind);
            }
            Ok(ExitCode::SUCCESS)
        }
        ShiftAction::Report { db, id, json } => {
            let counter = open(&db, None).await?;
            let id = match id {
                Some(id) => id,
                None => counter
                    .shifts_list(50)
                    .await?
                    .into_iter()
                    .find(|s| s.closed_at.is_some())
                    .map(|s| s.id)
                    .context("no closed shift in this ledger")?,
            };
            if json {
                let report = counter.shift_report(id).await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", counter.shift_report_text(id).await?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn audit(action: AuditAction) -> anyhow::Result<ExitCode> {
    match action {
        AuditAction::Verify { db } => {
            let counter = open(&db, None).await?;
            let v = counter.audit_verify().await?;
            println!("entries={}", v.entries);
            println!("intact={}", v.intact);
            if let Some(seq) = v.first_bad_seq {
                println!("first_bad_seq={seq}");
            }
            if let Some(problem) = &v.problem {
                println!("problem={problem}");
            }
            Ok(ok_if(v.intact))
        }
        AuditAction::List { db, limit, json } => {
            let counter = open(&db, None).await?;
            let entries = counter.audit_list(limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for e in &entries {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        e.seq,
                        e.at,
                        e.action,
                        e.actor,
                        e.approver.as_deref().unwrap_or("-"),
                        e.detail
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
