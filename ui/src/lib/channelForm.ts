// The hand-entered channels form's state, and the request it makes. Only
// the channels switched on are sent; every field is checked in Rust.
import type { ChannelEntries } from "../api/client";
import type { AlipayEntry } from "../api/generated/AlipayEntry";
import type { WechatEntry } from "../api/generated/WechatEntry";

export const ALIPAY_GATEWAY = "https://openapi.alipay.com/gateway.do";
export const WECHATPAY_BASE_URL = "https://api.mch.weixin.qq.com";

export interface ChannelForm {
  alipayOn: boolean;
  wechatOn: boolean;
  alipay: AlipayEntry;
  wechat: WechatEntry;
}

export function emptyChannelForm(): ChannelForm {
  return {
    alipayOn: false,
    wechatOn: false,
    alipay: { app_id: "", private_key: "", alipay_public_key: "", gateway: ALIPAY_GATEWAY },
    wechat: {
      mchid: "",
      appid: "",
      serial_no: "",
      apiv3_key: "",
      private_key: "",
      platform_public_key: "",
      platform_public_key_id: "",
      base_url: WECHATPAY_BASE_URL,
    },
  };
}

/** The entries to send, or undefined when no channel is switched on. */
export function formEntries(f: ChannelForm): ChannelEntries | undefined {
  if (!f.alipayOn && !f.wechatOn) return undefined;
  const out: ChannelEntries = {};
  if (f.alipayOn) out.alipay = { ...f.alipay };
  if (f.wechatOn) out.wechat = { ...f.wechat };
  return out;
}
