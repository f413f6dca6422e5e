-- On-demand environments (ADR 25): one row each, the desired state its target converges to. The record is kept whole
-- as jsonb; deploys and status are copied out of it so that a conditional write compares them in its WHERE clause.
CREATE TABLE IF NOT EXISTS environments (
  name text PRIMARY KEY,
  record jsonb NOT NULL,
  deploys integer NOT NULL,
  status text NOT NULL,
  updated_at timestamptz NOT NULL
);
