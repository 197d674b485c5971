use shouyin_api::dto::CustomerOrderDto;
use shouyin_api::{ApiError, ChargeRequest, CodeChargeRequest, Counter, EventDto, OrderDto};
use tauri::State;

use crate::access::Caller;

/// Starts a sale: a cash sale comes back paid, a QR sale pending with its code.
#[tauri::command]
pub async fn order_charge(
    caller: Caller,
    counter: State<'_, Counter>,
    req: ChargeRequest,
) -> Result<OrderDto, ApiError> {
    let req = ChargeRequest {
        cashier: Some(caller.name()),
        ..req
    };
    counter.order_charge_at_till(req).await
}

/// Takes a payment with the customer's code (付款码): paid, pending while the
/// customer confirms on the phone, unknown (resolved in the background) or failed.
#[tauri::command]
pub async fn order_charge_code(
    caller: Caller,
    counter: State<'_, Counter>,
    req: CodeChargeRequest,
) -> Result<OrderDto, ApiError> {
    let req = CodeChargeRequest {
        cashier: Some(caller.name()),
        ..req
    };
    counter.order_charge_code_at_till(req).await
}

/// The cashier cancels a payment; if the customer paid meanwhile it comes back paid.
#[tauri::command]
pub async fn order_cancel(
    counter: State<'_, Counter>,
    order_no: String,
) -> Result<OrderDto, ApiError> {
    counter.order_cancel(order_no).await
}

/// The latest sales of the business day, newest first: a cashier's own,
/// or everyone's for a manager or accountant.
#[tauri::command]
pub async fn orders_recent(
    caller: Caller,
    counter: State<'_, Counter>,
    limit: u32,
) -> Result<Vec<OrderDto>, ApiError> {
    counter.orders_recent_for(&caller.0, limit).await
}

/// The payment on the customer display: amount, channel, state and code.
#[tauri::command]
pub async fn order_current(
    counter: State<'_, Counter>,
) -> Result<Option<CustomerOrderDto>, ApiError> {
    counter.order_current().await
}

/// The history view's search.
#[tauri::command]
pub async fn orders_search(
    counter: State<'_, Counter>,
    query: String,
    limit: u32,
) -> Result<Vec<OrderDto>, ApiError> {
    counter.orders_search(query, limit).await
}

/// One order with its ledger events.
#[tauri::command]
pub async fn order_events(
    counter: State<'_, Counter>,
    order_no: String,
) -> Result<(OrderDto, Vec<EventDto>), ApiError> {
    counter.order_events(order_no).await
}

/// The payment code as an SVG image.
#[tauri::command]
pub fn qr_render(payload: String) -> Result<String, ApiError> {
    shouyin_api::qr::qr_svg(&payload)
}
