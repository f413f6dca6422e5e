-- Tokens expire, are revoked, and remember when they were last used. A name belongs to one token that is not revoked.
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS revoked_at timestamptz;
ALTER TABLE tokens ADD COLUMN IF NOT EXISTS last_used_at timestamptz;
-- Names were not unique before: the oldest token keeps its name, later ones get their id's first 8 characters added.
UPDATE tokens t SET name = t.name || '-' || left(t.id, 8)
  WHERE EXISTS (SELECT 1 FROM tokens o WHERE o.name = t.name AND (o.created_at < t.created_at OR (o.created_at = t.created_at AND o.id < t.id)));
CREATE UNIQUE INDEX IF NOT EXISTS tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;
