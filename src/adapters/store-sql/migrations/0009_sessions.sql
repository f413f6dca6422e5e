-- Browser sessions of the dashboard: a session names the token it acts as, and keeps only the hash of its cookie's secret.
CREATE TABLE IF NOT EXISTS sessions (
  id text PRIMARY KEY,
  hash text NOT NULL UNIQUE,
  token_id text NOT NULL,
  csrf text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
