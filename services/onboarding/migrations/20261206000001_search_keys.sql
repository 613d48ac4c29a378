-- Names as search compares them (NFKC, lowercase): written with every insert and update, and
-- filled in for older rows when the service starts (SQL cannot normalise Unicode portably).
ALTER TABLE companies ADD COLUMN search_key TEXT;
