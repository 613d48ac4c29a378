-- Titles and sites as search compares them (NFKC, lowercase): written with every insert and
-- update, and filled in for older rows when the service starts.
ALTER TABLE pilots ADD COLUMN search_key TEXT;
ALTER TABLE pilots ADD COLUMN site_key TEXT;
