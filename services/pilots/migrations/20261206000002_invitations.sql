-- Taking part in a pilot is an invitation the partner company answers: INVITED until one of
-- its members accepts or declines. Companies already in a consortium keep taking part.
ALTER TABLE pilot_participants ADD COLUMN state TEXT NOT NULL DEFAULT 'ACCEPTED';
ALTER TABLE pilot_participants ADD COLUMN answered_at BIGINT;
ALTER TABLE pilot_participants ADD COLUMN answered_by TEXT;
ALTER TABLE pilot_participants ADD COLUMN note TEXT;
