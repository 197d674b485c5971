-- The shop's own ledger for the bill fixtures of this folder (see make.py):
-- what the counter recorded on 2026-11-20 and 2026-11-21 (Beijing), in UTC.
-- Applied to a fresh ledger file by the reconciliation tests.
INSERT INTO orders (out_trade_no, store, terminal, amount_fen, currency, channel, state,
                    created_at, updated_at, paid_at, refunded_fen, business_date) VALUES
 ('W0001', 'S01', 'T01', 1230, 'CNY', 'wechat', 'part_refunded', '2026-11-20T01:00:00.000Z', '2026-11-20T16:10:00.000Z', '2026-11-20T01:00:05.000Z', 200, '2026-11-20'),
 ('W0002', 'S01', 'T01', 5000, 'CNY', 'wechat', 'refunded', '2026-11-20T02:14:50.000Z', '2026-11-20T03:00:00.000Z', '2026-11-20T02:15:00.000Z', 5000, '2026-11-20'),
 ('W0003', 'S01', 'T01',  800, 'CNY', 'wechat', 'paid', '2026-11-20T03:59:50.000Z', '2026-11-20T04:00:00.000Z', '2026-11-20T04:00:00.000Z', 0, '2026-11-20'),
 ('W0004', 'S01', 'T01', 2000, 'CNY', 'wechat', 'paid', '2026-11-20T04:29:50.000Z', '2026-11-20T04:30:00.000Z', '2026-11-20T04:30:00.000Z', 0, '2026-11-20'),
 ('W0005', 'S01', 'T01',  600, 'CNY', 'wechat', 'refunded', '2026-11-20T05:59:55.000Z', '2026-11-20T06:00:40.000Z', '2026-11-20T06:00:00.000Z', 600, '2026-11-20'),
 ('W0006', 'S01', 'T01',  400, 'CNY', 'wechat', 'paid', '2026-11-20T06:59:50.000Z', '2026-11-20T07:00:00.000Z', '2026-11-20T07:00:00.000Z', 0, '2026-11-20'),
 ('W0101', 'S01', 'T01',  990, 'CNY', 'wechat', 'paid', '2026-11-21T01:59:50.000Z', '2026-11-21T02:00:00.000Z', '2026-11-21T02:00:00.000Z', 0, '2026-11-21'),
 ('A0001', 'S01', 'T01', 1230, 'CNY', 'alipay', 'paid', '2026-11-20T01:00:00.000Z', '2026-11-20T01:00:05.000Z', '2026-11-20T01:00:05.000Z', 0, '2026-11-20'),
 ('A0002', 'S01', 'T01', 3000, 'CNY', 'alipay', 'refunded', '2026-11-20T02:00:00.000Z', '2026-11-20T03:00:00.000Z', '2026-11-20T02:00:09.000Z', 3000, '2026-11-20'),
 ('A0003', 'S01', 'T01',  500, 'CNY', 'alipay', 'paid', '2026-11-20T08:20:00.000Z', '2026-11-20T08:20:03.000Z', '2026-11-20T08:20:03.000Z', 0, '2026-11-20');

INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'W0001_R1', 200, 'succeeded', '2026-11-20T15:50:00.000Z', '2026-11-20T16:10:00.000Z', '2026-11-21' FROM orders WHERE out_trade_no = 'W0001';
INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'W0002_R1', 5000, 'succeeded', '2026-11-20T03:00:00.000Z', '2026-11-20T03:00:00.000Z', '2026-11-20' FROM orders WHERE out_trade_no = 'W0002';
INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'W0003_R1', 300, 'processing', '2026-11-20T05:00:00.000Z', NULL, '2026-11-20' FROM orders WHERE out_trade_no = 'W0003';
INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'W0004_R1', 2000, 'failed', '2026-11-20T05:10:00.000Z', '2026-11-20T05:10:05.000Z', '2026-11-20' FROM orders WHERE out_trade_no = 'W0004';
INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'W0006_R1', 400, 'processing', '2026-11-21T01:30:00.000Z', NULL, '2026-11-21' FROM orders WHERE out_trade_no = 'W0006';
INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'A0002_R1', 3000, 'succeeded', '2026-11-20T03:00:00.000Z', '2026-11-20T03:00:00.000Z', '2026-11-20' FROM orders WHERE out_trade_no = 'A0002';

-- UnionPay: a cancelled or reversed payment stands as paid and then given
-- back in full, as the till records a payment the channel undid; for U0004
-- with the refund of it all the till records beside (U0004_CH).
INSERT INTO orders (out_trade_no, store, terminal, amount_fen, currency, channel, state,
                    created_at, updated_at, paid_at, refunded_fen, business_date) VALUES
 ('U0001', 'S01', 'T01', 1230, 'CNY', 'unionpay', 'paid', '2026-11-20T01:00:00.000Z', '2026-11-20T01:00:05.000Z', '2026-11-20T01:00:05.000Z', 0, '2026-11-20'),
 ('U0002', 'S01', 'T01', 5000, 'CNY', 'unionpay', 'refunded', '2026-11-20T02:14:50.000Z', '2026-11-20T03:00:00.000Z', '2026-11-20T02:15:00.000Z', 5000, '2026-11-20'),
 ('U0003', 'S01', 'T01', 2000, 'CNY', 'unionpay', 'part_refunded', '2026-11-20T03:59:50.000Z', '2026-11-20T05:00:00.000Z', '2026-11-20T04:00:00.000Z', 500, '2026-11-20'),
 ('U0004', 'S01', 'T01',  600, 'CNY', 'unionpay', 'refunded', '2026-11-20T05:59:55.000Z', '2026-11-20T06:05:00.000Z', '2026-11-20T06:00:00.000Z', 600, '2026-11-20'),
 ('U0005', 'S01', 'T01',  800, 'CNY', 'unionpay', 'refunded', '2026-11-20T06:59:55.000Z', '2026-11-20T07:00:40.000Z', '2026-11-20T07:00:00.000Z', 800, '2026-11-20'),
 ('U0090', 'S01', 'T01', 1000, 'CNY', 'unionpay', 'part_refunded', '2026-11-19T01:59:50.000Z', '2026-11-20T08:00:00.000Z', '2026-11-19T02:00:00.000Z', 300, '2026-11-19');

INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'U0002_R1', 5000, 'succeeded', '2026-11-20T03:00:00.000Z', '2026-11-20T03:00:00.000Z', '2026-11-20' FROM orders WHERE out_trade_no = 'U0002';
INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'U0003_R1', 500, 'succeeded', '2026-11-20T05:00:00.000Z', '2026-11-20T05:00:00.000Z', '2026-11-20' FROM orders WHERE out_trade_no = 'U0003';
INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'U0090_R1', 300, 'succeeded', '2026-11-20T08:00:00.000Z', '2026-11-20T08:00:00.000Z', '2026-11-20' FROM orders WHERE out_trade_no = 'U0090';
INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
 SELECT id, 'U0004_CH', 600, 'succeeded', '2026-11-20T06:05:00.000Z', '2026-11-20T06:05:00.000Z', '2026-11-20' FROM orders WHERE out_trade_no = 'U0004';
