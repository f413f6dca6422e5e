-- Feature flags (ADR 20): changes are events, appended only; each stage's current flags are their projection, written
-- in the same transaction with a revision that grows by one per change. flag_head's one row serialises writers.
CREATE TABLE IF NOT EXISTS flag_head (id integer PRIMARY KEY, changes bigint NOT NULL);
INSERT INTO flag_head (id, changes) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS flag_events (
  id bigserial PRIMARY KEY,
  stage text,
  flag text,
  type text NOT NULL,
  data jsonb NOT NULL,
  actor jsonb NOT NULL,
  reason text NOT NULL,
  links jsonb NOT NULL,
  revisions jsonb NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS flag_events_flag ON flag_events (flag, id);
CREATE TABLE IF NOT EXISTS flag_definitions (
  key text PRIMARY KEY,
  type text NOT NULL,
  variants jsonb NOT NULL,
  description text NOT NULL,
  owner text NOT NULL,
  changed_at timestamptz NOT NULL,
  file_hash text
);
CREATE TABLE IF NOT EXISTS flag_stages (
  stage text PRIMARY KEY,
  revision integer NOT NULL,
  segments jsonb NOT NULL,
  segment_file_hashes jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS flag_stage_flags (
  stage text NOT NULL,
  key text NOT NULL,
  config jsonb NOT NULL,
  changed_at timestamptz NOT NULL,
  file_hash text,
  PRIMARY KEY (stage, key)
);
CREATE TABLE IF NOT EXISTS flag_keys (
  id text PRIMARY KEY,
  stage text NOT NULL,
  name text NOT NULL,
  hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE TABLE IF NOT EXISTS flag_evaluations (
  stage text NOT NULL,
  flag text NOT NULL,
  variant text NOT NULL,
  count bigint NOT NULL,
  last_at timestamptz NOT NULL,
  PRIMARY KEY (stage, flag, variant)
);
