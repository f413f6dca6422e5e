-- A journey has an id of its own, recorded with its release. Journeys made before this had their release's version
-- as id, and keep it.
ALTER TABLE releases ADD COLUMN IF NOT EXISTS journey_id text;
UPDATE releases SET journey_id = version WHERE journey_id IS NULL;

-- What each stage should serve (release, canary and weight, the stage's plan): a projection of the event log, written
-- in the transaction that appends the events changing it, and rebuilt from the log when it disagrees.
CREATE TABLE IF NOT EXISTS desired_stages (
  stage       text PRIMARY KEY,
  data        jsonb NOT NULL,
  updated_at  timestamptz NOT NULL
);
