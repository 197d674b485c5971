// Every backend call the UI makes, typed with the DTOs generated from Rust.
// Errors come back as ApiError { code, message }: the UI branches on code.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { ApiError } from "./generated/ApiError";
import type { AmountDto } from "./generated/AmountDto";
import type { ChargeRequest } from "./generated/ChargeRequest";
import type { CounterEvent } from "./generated/CounterEvent";
import type { EventDto } from "./generated/EventDto";
import type { OrderDto } from "./generated/OrderDto";
import type { SyncStatusDto } from "./generated/SyncStatusDto";
import type { TerminalDto } from "./generated/TerminalDto";

export type { ApiError, OrderDto, TerminalDto, CounterEvent, EventDto, SyncStatusDto };

export function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export function errorText(e: unknown): string {
  if (isApiError(e)) return e.message;
  return String(e);
}

export const api = {
  terminalGet: () => invoke<TerminalDto>("terminal_get"),
  amountCheck: (input: string) => invoke<AmountDto>("amount_check", { input }),
  orderCharge: (req: ChargeRequest) => invoke<OrderDto>("order_charge", { req }),
  orderCancel: (orderNo: string) => invoke<OrderDto>("order_cancel", { orderNo }),
  ordersRecent: (limit: number) => invoke<OrderDto[]>("orders_recent", { limit }),
  ordersSearch: (query: string, limit: number) => invoke<OrderDto[]>("orders_search", { query, limit }),
  orderEvents: (orderNo: string) => invoke<[OrderDto, EventDto[]]>("order_events", { orderNo }),
  qrRender: (payload: string) => invoke<string>("qr_render", { payload }),
  recoveryResults: () => invoke<OrderDto[]>("recovery_results"),
  syncStatus: () => invoke<SyncStatusDto>("sync_status"),
  syncNow: () => invoke<SyncStatusDto>("sync_now"),
  customerWindowOpen: () => invoke<void>("customer_window_open"),
  customerPage: () => invoke<string | null>("customer_page"),
};

/** The backend's push feed: order changes, channel health, alarms, sync. */
export function onCounterEvent(handler: (e: CounterEvent) => void): Promise<UnlistenFn> {
  return listen<CounterEvent>("counter", (event) => handler(event.payload));
}
