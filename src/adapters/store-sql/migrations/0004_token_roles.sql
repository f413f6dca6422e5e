-- A token has a role. Tokens made before roles existed could do everything, and keep doing so.
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS role text NOT NULL DEFAULT 'admin';
