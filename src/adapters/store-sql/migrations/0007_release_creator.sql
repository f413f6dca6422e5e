-- The token that created a release. Releases made before it was recorded have none.
ALTER TABLE releases ADD COLUMN IF NOT EXISTS created_by_id text;
ALTER TABLE releases ADD COLUMN IF NOT EXISTS created_by_name text;
