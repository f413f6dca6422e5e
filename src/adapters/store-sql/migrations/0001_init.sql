-- Releases: a version pinned to one artifact digest.
CREATE TABLE IF NOT EXISTS releases (
  version     text PRIMARY KEY,
  digest      text NOT NULL,
  source_ref  text,
  created_at  timestamptz NOT NULL
);

-- The journey event log. Append-only: rows are never updated or deleted.
-- id orders events across journeys; (journey_id, seq) rejects a second writer at the same position.
CREATE TABLE IF NOT EXISTS events (
  id          bigserial PRIMARY KEY,
  journey_id  text NOT NULL,
  seq         integer NOT NULL,
  type        text NOT NULL,
  data        jsonb NOT NULL,
  at          timestamptz NOT NULL,
  UNIQUE (journey_id, seq)
);

-- API tokens, stored as sha256 hashes.
CREATE TABLE IF NOT EXISTS tokens (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  hash        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL
);
