//! Every kind of event the ledger records, so the screens can name each
//! one in words (the UI's dictionary is checked against this list). Besides
//! these: `order_<state>` for each order state, and `audit_<action>` for
//! each audit action.

/// Event kinds written directly (not an order's state, not an audit entry).
pub const EVENT_KINDS: &[&str] = &[
    "order_created",
    "refund_processing",
    "refund_succeeded",
    "refund_failed",
    "shift_opened",
    "shift_closed",
    "cash_pay_in",
    "cash_pay_out",
    "cash_drawer_opened",
    "alarm_untrusted_answer",
    "alarm_late_payment",
];

/// Audit actions (recorded as the event `audit_<action>`).
pub const AUDIT_ACTIONS: &[&str] = &[
    "command_refused",
    "refund_requested",
    "refund_succeeded",
    "refund_failed",
    "user_added",
    "user_activated",
    "user_deactivated",
    "late_payment",
    "order_confirmed_manually",
    "unverified_verified",
    "unverified_flagged",
    "cash_pay_in",
    "cash_pay_out",
    "cash_drawer_opened",
    "sync_enroll",
    "channel_suspended",
    "channel_lifted",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The string literals among the first arguments of each call to
    /// `marker` in `text` (up to the call's closing parenthesis).
    fn literals_after(text: &str, marker: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let mut depth = 1;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let args = without_payloads(&rest[..end]);
            let mut parts = args.split('"');
            parts.next();
            while let (Some(lit), _) = (parts.next(), parts.next()) {
                out.push(lit.to_owned());
            }
        }
        out
    }

    /// `args` without the `json!(…)` payloads (their keys are not kinds).
    fn without_payloads(args: &str) -> String {
        let mut out = String::new();
        let mut rest = args;
        while let Some(at) = rest.find("json!(") {
            out.push_str(&rest[..at]);
            let after = &rest[at + "json!(".len()..];
            let mut depth = 1;
            let mut end = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &after[end.min(after.len())..];
        }
        out.push_str(rest);
        out
    }

    fn sources() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut out = Vec::new();
        for dir in ["ledger/src", "api/src", "api/src/reconcile"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("kinds.rs")
                    && !path.ends_with("seed.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    // Tests record whatever they like.
                    let text = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
                    out.push((path.display().to_string(), text));
                }
            }
        }
        out
    }

    fn looks_like_a_kind(s: &str) -> bool {
        s.len() > 3 && s.contains('_') && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    }

    #[test]
    fn every_kind_the_code_records_is_listed() {
        let mut missing = Vec::new();
        for (path, text) in sources() {
            for lit in literals_after(&text, "append_event(")
                .into_iter()
                .chain(literals_after(&text, ".record("))
                .filter(|l| looks_like_a_kind(l))
            {
                if !EVENT_KINDS.contains(&lit.as_str()) {
                    missing.push(format!("event {lit} ({path})"));
                }
            }
            for lit in literals_after(&text, "NewAudit::new(")
                .into_iter()
                .chain(literals_after(&text, "fn action("))
                .filter(|l| looks_like_a_kind(l))
            {
                if !AUDIT_ACTIONS.contains(&lit.as_str()) {
                    missing.push(format!("audit action {lit} ({path})"));
                }
            }
        }
        assert!(missing.is_empty(), "not in kinds.rs: {missing:#?}");
    }
}
