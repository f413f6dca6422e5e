-- Every event names who caused it: a token ({kind: token, id, name, role}) or Sluice with its reason. Events written
-- before this column have none; they are read as Sluice's, "recorded before actors".
ALTER TABLE events ADD COLUMN IF NOT EXISTS actor jsonb;

-- The audit trail: one record per mutation, each hash-chained to the one before it (see docs/adr/0017).
CREATE TABLE IF NOT EXISTS audit_records (
  seq bigint PRIMARY KEY,
  at timestamptz NOT NULL,
  actor jsonb NOT NULL,
  action text NOT NULL,
  reason text NOT NULL,
  links jsonb NOT NULL,
  outcome text NOT NULL,
  detail jsonb,
  prev_hash text NOT NULL,
  hash text NOT NULL
);

-- The end of the chain, one row. Appenders lock it (FOR UPDATE), so writers from several processes form one line;
-- and it remembers the last record, so that deleting the last records is seen too.
CREATE TABLE IF NOT EXISTS audit_head (
  id integer PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
  ON CONFLICT (id) DO NOTHING;
