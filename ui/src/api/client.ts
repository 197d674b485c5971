// Every backend call the UI makes, typed with the DTOs generated from Rust.
// Errors come back as ApiError { code, message }: the UI branches on code.
import { invoke, Channel } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { ApiError } from "./generated/ApiError";
import { describeError } from "../lib/errors";
import { translate, currentLocale } from "../lib/i18n";
import type { AmountDto } from "./generated/AmountDto";
import type { ChargeRequest } from "./generated/ChargeRequest";
import type { CodeChargeRequest } from "./generated/CodeChargeRequest";
import type { CounterEvent } from "./generated/CounterEvent";
import type { EventDto } from "./generated/EventDto";
import type { OrderDto } from "./generated/OrderDto";
import type { SyncStatusDto } from "./generated/SyncStatusDto";
import type { TerminalDto } from "./generated/TerminalDto";
import type { Approval } from "./generated/Approval";
import type { AuditEntryDto } from "./generated/AuditEntryDto";
import type { UserDto } from "./generated/UserDto";
import type { RefundCreateRequest } from "./generated/RefundCreateRequest";
import type { RefundDto } from "./generated/RefundDto";
import type { ManualConfirmRequest } from "./generated/ManualConfirmRequest";
import type { DailyReportDto } from "./generated/DailyReportDto";
import type { RangeReportDto } from "./generated/RangeReportDto";
import type { ExportRequest } from "./generated/ExportRequest";
import type { ExportResultDto } from "./generated/ExportResultDto";
import type { ExportProgressDto } from "./generated/ExportProgressDto";
import type { ReconcileRequest } from "./generated/ReconcileRequest";
import type { ReconcileReportDto } from "./generated/ReconcileReportDto";
import type { ShiftDto } from "./generated/ShiftDto";
import type { CashMovementDto } from "./generated/CashMovementDto";
import type { CashMovementKind } from "./generated/CashMovementKind";
import type { ZReportDto } from "./generated/ZReportDto";
import type { CustomerOrderDto } from "./generated/CustomerOrderDto";
import type { BackupStatusDto } from "./generated/BackupStatusDto";
import type { ChannelsStatusDto } from "./generated/ChannelsStatusDto";
import type { ChannelEntries } from "./generated/ChannelEntries";
import type { StoreSetupRequest } from "./generated/StoreSetupRequest";
import type { DeviceSettings } from "./generated/DeviceSettings";
import type { PrintJobDto } from "./generated/PrintJobDto";

export type { ApiError, OrderDto, TerminalDto, CounterEvent, EventDto, SyncStatusDto };
export type { Approval, UserDto, RefundDto, DailyReportDto, RangeReportDto, ExportResultDto, ExportProgressDto };
export type { ReconcileReportDto, ShiftDto, CashMovementDto, CashMovementKind, ZReportDto, CustomerOrderDto };
export type { BackupStatusDto };
export type { ChannelsStatusDto, ChannelEntries };
export type { DeviceSettings, PrintJobDto };

export function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** An error in the screen's language (see lib/errors.ts); never the backend's English. */
export function errorText(e: unknown): string {
  return describeError((key, vars) => translate(currentLocale(), key, vars), e);
}

export const api = {
  terminalGet: () => invoke<TerminalDto>("terminal_get"),
  amountCheck: (input: string) => invoke<AmountDto>("amount_check", { input }),
  orderCharge: (req: ChargeRequest) => invoke<OrderDto>("order_charge", { req }),
  orderCancel: (orderNo: string) => invoke<OrderDto>("order_cancel", { orderNo }),
  orderChargeCode: (req: CodeChargeRequest) => invoke<OrderDto>("order_charge_code", { req }),
  orderCurrent: () => invoke<CustomerOrderDto | null>("order_current"),
  ordersRecent: (limit: number) => invoke<OrderDto[]>("orders_recent", { limit }),
  ordersSearch: (query: string, limit: number) => invoke<OrderDto[]>("orders_search", { query, limit }),
  orderEvents: (orderNo: string) => invoke<[OrderDto, EventDto[]]>("order_events", { orderNo }),
  qrRender: (payload: string) => invoke<string>("qr_render", { payload }),
  recoveryResults: () => invoke<OrderDto[]>("recovery_results"),
  syncStatus: () => invoke<SyncStatusDto>("sync_status"),
  syncNow: () => invoke<SyncStatusDto>("sync_now"),
  customerWindowOpen: () => invoke<void>("customer_window_open"),
  customerPage: () => invoke<string | null>("customer_page"),
  customerWindowClose: () => invoke<void>("customer_window_close"),
  customerWindowIsOpen: () => invoke<boolean>("customer_window_is_open"),
  syncEnroll: (hqUrl: string, code: string) => invoke<SyncStatusDto>("sync_enroll", { hqUrl, code }),
  backupStatus: () => invoke<BackupStatusDto>("backup_status"),
  backupNow: () => invoke<BackupStatusDto>("backup_now"),
  channelsStatus: () => invoke<ChannelsStatusDto>("channels_status"),
  channelsConfigure: (entries: ChannelEntries) => invoke<ChannelsStatusDto>("channels_configure", { entries }),
  // staff and approvals
  usersList: () => invoke<UserDto[]>("users_list"),
  userLogin: (name: string, pin: string) => invoke<UserDto>("user_login", { name, pin }),
  userLogout: () => invoke<void>("user_logout"),
  sessionGet: () => invoke<UserDto | null>("session_get"),
  setupFirstManager: (name: string, pin: string, pinAgain: string) =>
    invoke<UserDto>("setup_first_manager", { name, pin, pinAgain }),
  setupStore: (req: StoreSetupRequest) => invoke<UserDto>("setup_store", { req }),
  // Names on records come from the session in Rust, never from here.
  auditApproved: (action: string, detail: unknown, approval: Approval) =>
    invoke<AuditEntryDto>("audit_approved", { action, detail, approval }),
  refundCreate: (req: RefundCreateRequest, approval: Approval) => invoke<RefundDto>("refund_create", { req, approval }),
  orderVoid: (orderNo: string, reason: string | null, approval: Approval) =>
    invoke<RefundDto>("order_void", { orderNo, reason, approval }),
  refundsForOrder: (orderNo: string) => invoke<RefundDto[]>("refunds_for_order", { orderNo }),
  orderConfirmManually: (req: ManualConfirmRequest, approval: Approval) =>
    invoke<OrderDto>("order_confirm_manually", { req, approval }),
  orderSettleUnverified: (orderNo: string, writeOffReason: string | null, approval: Approval) =>
    invoke<OrderDto>("order_settle_unverified", { orderNo, writeOffReason, approval }),
  orderRecheck: (orderNo: string) => invoke<OrderDto>("order_recheck", { orderNo }),
  // office
  reportsDaily: (date: string) => invoke<DailyReportDto>("reports_daily", { date }),
  reportsRange: (from: string, to: string) => invoke<RangeReportDto>("reports_range", { from, to }),
  exportCsv: (path: string, req: ExportRequest) => invoke<ExportResultDto>("export_csv", { path, req }),
  exportXlsx: (path: string, req: ExportRequest) => invoke<ExportResultDto>("export_xlsx", { path, req }),
  reconcileRun: (req: ReconcileRequest) => invoke<ReconcileReportDto>("reconcile_run", { req }),
  // Opens the folder of a file this till exported (Rust refuses any other path).
  exportOpenFolder: (path: string) => invoke<string>("export_open_folder", { path }),
  // 补录 from a reconcile line: ask the channel about the order and record its answer.
  reconcileRecheck: (orderNo: string) => invoke<OrderDto>("reconcile_recheck", { orderNo }),
  // shift
  shiftOpen: (float: string) => invoke<ShiftDto>("shift_open", { float }),
  shiftCurrent: () => invoke<ShiftDto | null>("shift_current"),
  shiftCashMovement: (kind: CashMovementKind, amount: string, reason: string, approval: Approval | null) =>
    invoke<CashMovementDto>("shift_cash_movement", { kind, amount, reason, approval }),
  cashDrawerOpen: (reason: string, approval: Approval) =>
    invoke<CashMovementDto>("cash_drawer_open", { reason, approval }),
  shiftClose: (counted: string) => invoke<ZReportDto>("shift_close", { counted }),
  shiftReportText: (shiftId: number) => invoke<string>("shift_report_text", { shiftId }),
  // printer, reprints, scan to refund
  deviceSettingsGet: () => invoke<DeviceSettings>("device_settings_get"),
  deviceSettingsSet: (settings: DeviceSettings) => invoke<DeviceSettings>("device_settings_set", { settings }),
  printTestPage: () => invoke<PrintJobDto>("print_test_page"),
  receiptReprint: (orderNo: string) => invoke<PrintJobDto>("receipt_reprint", { orderNo }),
  printRetry: (jobId: number) => invoke<PrintJobDto>("print_retry", { jobId }),
  printFailed: () => invoke<PrintJobDto[]>("print_failed"),
  orderLookup: (code: string) => invoke<OrderDto>("order_lookup", { code }),
  zReportPrint: (shiftId: number) => invoke<PrintJobDto>("z_report_print", { shiftId }),
};

/** The export's progress (rows done / total), pushed while a file is written. */
export function onExportProgress(handler: (p: ExportProgressDto) => void): Promise<UnlistenFn> {
  return listen<ExportProgressDto>("export_progress", (event) => handler(event.payload));
}

/** The payment in progress, pushed to the customer display only. */
export function onCustomerOrder(handler: (o: CustomerOrderDto) => void): Promise<UnlistenFn> {
  return listen<CustomerOrderDto>("customer_order", (event) => handler(event.payload));
}

// The counter's feed comes over one IPC channel of this window (never a
// Tauri event, which every window could hear); views add handlers to it.
const counterHandlers = new Set<(e: CounterEvent) => void>();
let counterFeed: Promise<void> | null = null;

/** The backend's push feed: order changes, channel health, alarms, sync. */
export function onCounterEvent(handler: (e: CounterEvent) => void): Promise<UnlistenFn> {
  counterHandlers.add(handler);
  if (!counterFeed) {
    const channel = new Channel<CounterEvent>();
    channel.onmessage = (e) => counterHandlers.forEach((h) => h(e));
    counterFeed = invoke<void>("counter_subscribe", { onEvent: channel }).catch(() => {
      counterFeed = null;
    });
  }
  return counterFeed.then(() => () => {
    counterHandlers.delete(handler);
  });
}
