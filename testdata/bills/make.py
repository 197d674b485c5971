#!/usr/bin/env python3
"""Writes the bill fixtures of this folder from the channels' documented
formats (docs/PROTOCOLS.md, "Bill files"). The shop, its orders and every
figure are made up; the footers are computed from the rows. Run it from any
directory; the files are committed, tests never run this.

One shop day, 2026-11-20 (Beijing), and the refunds that succeeded on
2026-11-21:

WeChat Pay
  W0001 12.30 paid 09:00:05; refund W0001_R1 2.00 asked 11-20 23:50,
        succeeded 11-21 00:10 (only in the REFUND bill of 11-21)
  W0002 50.00 paid 10:15:00 with a 5.00 non-recharge coupon (settled 45.00);
        refunded in full 11:00:00 (W0002_R1: asked 50.00, settled 45.00)
  W0003  8.00 paid 12:00:00; refund W0003_R1 3.00 PROCESSING
  W0004 20.00 paid 12:30:00; refund W0004_R1 20.00 FAIL
  W0005  6.00 paid 14:00:00 by 付款码 and reversed 14:00:40 (REVOKED)
  W0006  4.00 paid 15:00:00; refund W0006_R1 4.00 asked 11-21 09:30,
        PROCESSING (REFUND bill of 11-21)
Alipay
  A0001 12.30 paid 09:00:05
  A0002 30.00 paid 10:00:09 with 3.00 商家优惠 (商家实收 27.00); refunded
        in full 11:00:00 (A0002_R1)
  A0003  5.00 paid 16:20:00
UnionPay (merchant 777290058110048; fee 0.6% charged, given back on undo)
  U0001 12.30 paid 09:00:05 by QR
  U0002 50.00 paid 10:15:00; refunded in full 11:00:00 (U0002_R1)
  U0003 20.00 paid 12:00:00; 5.00 refunded 13:00:00 (U0003_R1)
  U0004  6.00 paid 14:00:00 by code, cancelled 14:05:00 (消费撤销 U0004_C1)
  U0005  8.00 paid 15:00:00 by code, reversed 15:00:40 (冲正)
  U0090 paid 11-19 (not in the file); 3.00 refunded 16:00:00 (U0090_R1)
"""

import gzip
import io
import os
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

APPID = "wx8888888888888888"
MCHID = "1900000109"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def y(fen):
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def zip_of(files):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 21, 9, 30, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return out.getvalue()


def gz(data):
    return gzip.compress(data, mtime=0)


# ---------------------------------------------------------------- WeChat Pay
CURRENT_ALL = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
CURRENT_ALL_SUM = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
CURRENT_SUCCESS = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"
CURRENT_SUCCESS_SUM = "总交易单数,应结订单总金额,手续费总金额,订单总金额"
CURRENT_REFUND = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
CURRENT_REFUND_SUM = CURRENT_ALL_SUM
# The early generation, before non-recharge coupons: two spellings of the
# coupon columns are documented.
EARLY_ALL = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率"
EARLY_ALL_SUM = "总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额"
EARLY_SUCCESS = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,商品名称,商户数据包,手续费,费率"
EARLY_SUCCESS_SUM = "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额"

# order no, transaction id, trade type, paid at, gross fen, coupon fen, goods
WX_PAYMENTS = [
    ("W0001", "4200002601202611200000000001", "NATIVE", "2026-11-20 09:00:05", 1230, 0, "美式咖啡"),
    ("W0002", "4200002601202611200000000002", "NATIVE", "2026-11-20 10:15:00", 5000, 500, "蛋糕礼盒, 小"),
    ("W0003", "4200002601202611200000000003", "NATIVE", "2026-11-20 12:00:00", 800, 0, "牛奶"),
    ("W0004", "4200002601202611200000000004", "NATIVE", "2026-11-20 12:30:00", 2000, 0, "面包"),
    ("W0005", "4200002601202611200000000005", "MICROPAY", "2026-11-20 14:00:00", 600, 0, "矿泉水"),
    ("W0006", "4200002601202611200000000006", "NATIVE", "2026-11-20 15:00:00", 400, 0, "口香糖"),
]
# order no, refund id, refund no, accepted at, asked fen, coupon part, status
WX_REFUNDS_20 = [
    ("W0002", "50300000012026112000000001", "W0002_R1", "2026-11-20 11:00:00", 5000, 500, "SUCCESS"),
    ("W0003", "50300000012026112000000002", "W0003_R1", "2026-11-20 13:00:00", 300, 0, "PROCESSING"),
    ("W0004", "50300000012026112000000003", "W0004_R1", "2026-11-20 13:10:00", 2000, 0, "FAIL"),
]
# with the time it succeeded (REFUND bill of 11-21)
WX_REFUNDS_21 = [
    ("W0001", "50300000012026112000000004", "W0001_R1", "2026-11-20 23:50:00", "2026-11-21 00:10:00", 200, 0, "SUCCESS"),
    ("W0006", "50300000012026112100000005", "W0006_R1", "2026-11-21 09:30:00", "", 400, 0, "PROCESSING"),
]
REVOKED = {"W0005": "2026-11-20 14:00:40"}


def fee(fen):
    # 0.60%, rounded half up to the fen, printed with five decimals.
    return (fen * 6 + 500) // 1000


def fee_text(fen):
    return y(fen) + "000"


def payment_by_no(no):
    return next(p for p in WX_PAYMENTS if p[0] == no)


def wechat_rows(kind, early=False, full_width_colons=False):
    """Rows (lists of fields) and footer of one WeChat bill."""
    rows = []
    t = {"settle": 0, "refund": 0, "fee": 0, "order": 0, "asked": 0, "coupon_refund": 0}

    def when(text):
        return text.replace(":", "：") if full_width_colons else text

    if kind in ("ALL", "SUCCESS"):
        for no, tx, ttype, at, gross, coupon, goods in WX_PAYMENTS:
            states = ["SUCCESS"] + (["REVOKED"] if no in REVOKED else [])
            for state in states:
                row_at = at if state == "SUCCESS" else REVOKED[no]
                settled = gross if early else gross - coupon
                f = fee(settled)
                common = [when(row_at), APPID, MCHID, "0", "POS-01", tx, no, OPENID, ttype, state, "OTHERS", "CNY"]
                if early:
                    money = [y(gross), y(coupon)]
                else:
                    money = [y(settled), y(coupon)]
                if kind == "ALL":
                    refund_cols = ["0", "0", "0.00", "0.00", "", ""]
                else:
                    refund_cols = []
                tail = [goods, "", fee_text(f if state == "SUCCESS" else -f), "0.60%"]
                if not early:
                    tail += [y(gross)] + (["0.00"] if kind == "ALL" else []) + [""]
                rows.append(common + money + refund_cols + tail)
                if state == "SUCCESS":
                    t["settle"] += settled
                    t["order"] += gross
                    t["fee"] += f
                else:
                    t["fee"] -= f
    if kind == "ALL":
        for no, rid, rno, at, asked, coupon, status in WX_REFUNDS_20:
            _, tx, ttype, _, gross, _, goods = payment_by_no(no)
            settled = asked if early else asked - coupon
            common = [when(at), APPID, MCHID, "0", "POS-01", tx, no, OPENID, ttype, "REFUND", "OTHERS", "CNY", "0.00", "0.00"]
            refund_cols = [rid, rno, y(settled), y(coupon) if early else "0.00", "ORIGINAL", status]
            f = fee(settled)
            tail = [goods, "", fee_text(-f), "0.60%"]
            if not early:
                tail += ["0.00", y(asked), ""]
            rows.append(common + refund_cols + tail)
            t["refund"] += settled
            t["asked"] += asked
            t["fee"] -= f
            if early:
                t["coupon_refund"] += coupon
    if kind == "REFUND":
        for no, rid, rno, applied, succeeded, asked, coupon, status in WX_REFUNDS_21:
            _, tx, ttype, paid_at, gross, pay_coupon, goods = payment_by_no(no)
            settled = asked - coupon
            # 交易时间 is the payment's; the refund's times follow.
            common = [paid_at, APPID, MCHID, "0", "POS-01", tx, no, OPENID, ttype, "REFUND", "OTHERS", "CNY",
                      y(gross - pay_coupon), y(pay_coupon), applied, succeeded]
            refund_cols = [rid, rno, y(settled), "0.00", "ORIGINAL", status]
            f = fee(settled)
            tail = [goods, "", fee_text(-f), "0.60%", y(gross), y(asked), ""]
            rows.append(common + refund_cols + tail)
            t["refund"] += settled
            t["asked"] += asked
            t["fee"] -= f
    n = str(len(rows))
    if early:
        footer = [n, y(t["order"]), y(t["refund"]), y(t["coupon_refund"]), fee_text(t["fee"])]
    elif kind == "SUCCESS":
        footer = [n, y(t["settle"]), fee_text(t["fee"]), y(t["order"])]
    else:
        footer = [n, y(t["settle"]), y(t["refund"]), "0.00", fee_text(t["fee"]), y(t["order"]), y(t["asked"])]
    return rows, footer


def csv_line(fields, backtick=True):
    out = []
    for f in fields:
        cell = ("`" + f) if backtick else f
        if "," in cell or '"' in cell:
            cell = '"' + cell.replace('"', '""') + '"'
        out.append(cell)
    return ",".join(out)


def wechat_text(header, summary_header, kind, early=False, full_width_colons=False, eol="\n"):
    rows, footer = wechat_rows(kind, early, full_width_colons)
    lines = [header] + [csv_line(r) for r in rows] + [summary_header, csv_line(footer)]
    return eol.join(lines) + eol


BOM = "\ufeff"

all_text = BOM + wechat_text(CURRENT_ALL, CURRENT_ALL_SUM, "ALL")
write("wechat_all_20261120.csv", all_text.encode("utf-8"))
write("wechat_all_20261120.csv.gz", gz(all_text.encode("utf-8")))
write("wechat_all_20261120.zip", zip_of([("wechat_all_20261120.csv", all_text.encode("utf-8"))]))
# Saved again from the merchant platform for Excel: GBK, CRLF.
write("wechat_all_20261120_gbk_crlf.csv",
      wechat_text(CURRENT_ALL, CURRENT_ALL_SUM, "ALL", eol="\r\n").encode("gbk"))
write("wechat_success_20261120.csv",
      (BOM + wechat_text(CURRENT_SUCCESS, CURRENT_SUCCESS_SUM, "SUCCESS")).encode("utf-8"))
refund_text = BOM + wechat_text(CURRENT_REFUND, CURRENT_REFUND_SUM, "REFUND")
write("wechat_refund_20261121.csv", refund_text.encode("utf-8"))
write("wechat_refund_20261121.csv.gz", gz(refund_text.encode("utf-8")))
write("wechat_early_all_20261120.csv",
      wechat_text(EARLY_ALL, EARLY_ALL_SUM, "ALL", early=True, full_width_colons=True).encode("utf-8"))
write("wechat_early_success_20261120.csv",
      wechat_text(EARLY_SUCCESS, EARLY_SUCCESS_SUM, "SUCCESS", early=True).encode("utf-8"))

# -------------------------------------------------------------------- Alipay
PID = "20881234567890120156"
DETAIL_HEADER = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
# trade no, order no, kind, goods, created, finished, order fen, received fen,
# merchant discount fen, refund no, service fee fen
ALIPAY_ROWS = [
    ("2026112022001400000001", "A0001", "交易", "美式咖啡", "2026-11-20 09:00:00", "2026-11-20 09:00:05", 1230, 1230, 0, "", -7),
    ("2026112022001400000002", "A0002", "交易", "蛋糕礼盒", "2026-11-20 10:00:00", "2026-11-20 10:00:09", 3000, 2700, 300, "", -16),
    ("2026112022001400000002", "A0002", "退款", "蛋糕礼盒", "2026-11-20 10:00:00", "2026-11-20 11:00:00", 3000, -2700, -300, "A0002_R1", 16),
    ("2026112022001400000003", "A0003", "交易", "牛奶", "2026-11-20 16:20:00", "2026-11-20 16:20:03", 500, 500, 0, "", -3),
]


def alipay_detail(eol):
    lines = [
        "#支付宝业务明细查询",
        f"#账号：[{PID}]",
        "#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        DETAIL_HEADER,
    ]
    paid = [r for r in ALIPAY_ROWS if r[2] == "交易"]
    refunded = [r for r in ALIPAY_ROWS if r[2] == "退款"]
    for trade, no, kind, goods, created, finished, order, received, discount, rno, service in ALIPAY_ROWS:
        # Numbers end with a tab so spreadsheets keep them as text.
        lines.append(csv_line([trade + "\t", no + "\t", kind, goods, created, finished, "S01", "示例店", "cashier01",
                               "POS-01", "abc***@example.com", y(order), y(received), "0.00", "0.00", "0.00",
                               y(discount), "0.00", "", "0.00", "0.00", (rno + "\t") if rno else "", y(service),
                               "0.00", ""], backtick=False))
    lines += [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{len(paid)}笔，商家实收：{y(sum(r[7] for r in paid))}元，商家优惠：{y(sum(r[8] for r in paid))}元",
        f"#退款合计：{len(refunded)}笔，商家实收：{y(sum(r[7] for r in refunded))}元，商家优惠：{y(sum(r[8] for r in refunded))}元",
        "#导出时间：[2026年11月21日 09:12:30]",
    ]
    return eol.join(lines) + eol


def alipay_summary(eol):
    paid = [r for r in ALIPAY_ROWS if r[2] == "交易"]
    refunded = [r for r in ALIPAY_ROWS if r[2] == "退款"]
    lines = [
        "#支付宝业务汇总查询",
        f"#账号：[{PID}]",
        "#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]",
        "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
        csv_line(["S01", "示例店", str(len(paid)), str(len(refunded)), y(sum(r[6] for r in paid)),
                  y(sum(r[7] for r in ALIPAY_ROWS))], backtick=False),
        f"合计,,{len(paid)},{len(refunded)},{y(sum(r[6] for r in paid))},{y(sum(r[7] for r in ALIPAY_ROWS))}",
        "#导出时间：[2026年11月21日 09:12:30]",
    ]
    return eol.join(lines) + eol


detail_name = f"{PID}_20261120_业务明细.csv"
summary_name = f"{PID}_20261120_业务明细(汇总).csv"
detail_gbk = alipay_detail("\r\n").encode("gbk")
summary_gbk = alipay_summary("\r\n").encode("gbk")
# As downloaded: a zip of GBK CSVs with CRLF.
write("alipay_20261120.csv.zip", zip_of([(summary_name, summary_gbk), (detail_name, detail_gbk)]))
# Unpacked by the operating system into a folder and zipped again.
folder = f"{PID}_20261120/"
write("alipay_20261120_folder.zip", zip_of([(folder + summary_name, summary_gbk), (folder + detail_name, detail_gbk)]))
write("alipay_20261120_detail_gbk.csv", detail_gbk)
# Opened and saved again as "CSV UTF-8": BOM, CRLF kept.
write("alipay_20261120_detail_utf8bom.csv", (BOM + alipay_detail("\r\n")).encode("utf-8"))
write("alipay_20261120_detail.csv.gz", gz(detail_gbk))

# The account log (账务明细, bill_type=signcustomer): money in and out.
LOG_HEADER = "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注"
log = [
    "#支付宝账务明细查询",
    f"#账号：[{PID}]",
    "#起始日期：[2026年11月20日 00:00:00]   终止日期：[2026年11月21日 00:00:00]",
    "#-----------------------------------------账务明细列表----------------------------------------",
    LOG_HEADER,
]
balance = 100000
for i, (trade, no, kind, goods, created, finished, order, received, discount, rno, service) in enumerate(ALIPAY_ROWS):
    balance += received
    income, outgo = (y(received), "") if received > 0 else ("", y(received))
    log.append(csv_line([f"2026112001{i:08d}\t", trade + "\t", no + "\t", goods, finished, "abc***@example.com",
                         income, outgo, y(balance), "支付宝", "在线支付" if kind == "交易" else "交易退款", ""],
                        backtick=False))
log += [
    "#-----------------------------------------账务明细列表结束------------------------------------",
    "#导出时间：[2026年11月21日 09:12:30]",
]
write("alipay_20261120_账务明细.csv", ("\r\n".join(log) + "\r\n").encode("gbk"))
write("alipay_20261120_账务明细.csv.zip", zip_of([(f"{PID}_20261120_账务明细.csv", ("\r\n".join(log) + "\r\n").encode("gbk"))]))


# ------------------------------------------------------------------ UnionPay
# The 一般交易流水 (ZM) file of the reconciliation zip: GBK, one trade a
# line, 42 fixed-width fields (widths in bytes) separated by one space.
# Amounts are fen: 交易金额 12 digits; 商户手续费 / 结算金额 / 清算净额 as
# C (credit) or D (debit) and 12 digits. Times are Beijing MMDDhhmmss.
UNIONPAY_MER_ID = "777290058110048"
ZM_WIDTHS = [3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21,
             15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98]
# 交易类型 and the 交易代码 written beside it.
UP_CONSUME, UP_REFUND, UP_CANCEL, UP_REVERSAL = ("01", "S56"), ("04", "S30"), ("31", "S31"), ("99", "S32")


def signed(fen):
    return ("D" if fen < 0 else "C") + f"{abs(fen):012d}"


def zm_row(kind, sub, order_id, query_id, fen, mmddhhmmss, orig_query="", orig_order="", orig_time=""):
    txn_type, code = kind
    charged = fee(fen)
    # A payment pays the fee; a refund, cancel or reversal gives it back.
    fee_signed, settle = (-charged, fen - charged) if kind == UP_CONSUME else (charged, -(fen - charged))
    f = [""] * 42
    f[0], f[1], f[2] = code, "00010000", "00010000"
    f[3] = f"{int(query_id[-6:]):06d}"
    f[4], f[5], f[6] = mmddhhmmss, "6216********0018", f"{fen:012d}"
    f[7], f[8], f[9], f[11], f[12] = "5411", "11", query_id, order_id, "01"
    f[13] = f"{int(orig_query[-6:]):06d}" if orig_query else ""
    f[14], f[15], f[16], f[17] = orig_time, signed(fee_signed), signed(settle), "0001"
    f[19], f[20], f[21], f[22] = txn_type, sub, "000000", "01"
    f[26], f[27], f[30], f[32] = orig_query, UNIONPAY_MER_ID, "云闪付小店", signed(settle)
    f[39], f[40] = "0", orig_order
    cells = []
    for text, width in zip(f, ZM_WIDTHS):
        raw = text.encode("gbk")
        assert len(raw) <= width, (text, width)
        cells.append(raw + b" " * (width - len(raw)))
    return b" ".join(cells)


def q(n):
    return f"6126112{n:014d}"


UP_ROWS = [
    # U0001 12.30 by QR.
    zm_row(UP_CONSUME, "07", "U0001", q(1), 1230, "1120090005"),
    # U0002 50.00, refunded in full.
    zm_row(UP_CONSUME, "07", "U0002", q(2), 5000, "1120101500"),
    zm_row(UP_REFUND, "00", "U0002_R1", q(3), 5000, "1120110000", q(2), "U0002", "1120101500"),
    # U0003 20.00, 5.00 of it refunded.
    zm_row(UP_CONSUME, "07", "U0003", q(4), 2000, "1120120000"),
    zm_row(UP_REFUND, "00", "U0003_R1", q(5), 500, "1120130000", q(4), "U0003", "1120120000"),
    # U0004 6.00 by code, cancelled the same day (消费撤销).
    zm_row(UP_CONSUME, "06", "U0004", q(6), 600, "1120140000"),
    zm_row(UP_CANCEL, "00", "U0004_C1", q(7), 600, "1120140500", q(6), "U0004", "1120140000"),
    # U0005 8.00 by code, reversed (冲正).
    zm_row(UP_CONSUME, "06", "U0005", q(8), 800, "1120150000"),
    zm_row(UP_REVERSAL, "01", "U0005", q(9), 800, "1120150040", q(8), "U0005", "1120150000"),
    # U0090 was paid on 11-19 (not in this file); 3.00 refunded today.
    zm_row(UP_REFUND, "00", "U0090_R1", q(10), 300, "1120160000", "612611190000000000090", "U0090", "1119100000"),
]
up_zm = b"\r\n".join(UP_ROWS) + b"\r\n"
UP_ZM_NAME = f"INN26112088ZM_{UNIONPAY_MER_ID}"
# The zip as the file-transfer answer's fileContent unpacks (base64, then
# zlib): the ZM file and the (empty) 差错 file ZME.
up_zip = zip_of([(UP_ZM_NAME, up_zm), (f"INN26112088ZME_{UNIONPAY_MER_ID}", b"")])
write("unionpay_20261120.zip", up_zip)
# fileContent decoded from base64 but not yet inflated.
write("unionpay_20261120_filecontent.zlib", zlib.compress(up_zip))
# The ZM file alone, as unzipped; and opened and saved again as UTF-8.
write("unionpay_" + UP_ZM_NAME, up_zm)
write("unionpay_20261120_ZM_utf8.txt", (BOM + up_zm.decode("gbk").replace("\r\n", "\n")).encode("utf-8"))
