-- Usage beyond a voucher's balance is recorded, not dropped: the job ran on the data center's
-- machines whether or not the voucher could pay. `usage_records.amount` stays what was charged;
-- `overage` is the unfunded rest, and the voucher keeps the running total for its readers.
ALTER TABLE usage_records ADD COLUMN overage BIGINT NOT NULL DEFAULT 0;
ALTER TABLE vouchers ADD COLUMN overage BIGINT NOT NULL DEFAULT 0;
-- Consumption in a window (a report's period) is summed by time, not paged.
CREATE INDEX ledger_transfers_voucher_time ON ledger_transfers (voucher_id, created_at);
CREATE INDEX usage_records_voucher_created ON usage_records (voucher_id, created_at);
