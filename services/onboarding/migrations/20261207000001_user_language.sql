-- The console's language a person chose ("ko" or "en"); NULL lets the browser decide.
ALTER TABLE users ADD COLUMN language TEXT;
