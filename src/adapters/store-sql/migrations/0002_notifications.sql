-- The notification outbox. Rows are made from the event log (see cursors) and kept after delivery, as a record.
-- A row is sent when next_at has come; a sender first moves next_at past its attempt, so a row is sent by one
-- sender at a time and comes due again if that sender dies.
CREATE TABLE IF NOT EXISTS notifications (
  id            bigserial PRIMARY KEY,
  event_id      bigint NOT NULL,
  kind          text NOT NULL,
  stage         text NOT NULL,
  target_kind   text NOT NULL,
  target_url    text NOT NULL,
  body          jsonb NOT NULL,
  status        text NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  next_at       timestamptz NOT NULL,
  last_error    text,
  created_at    timestamptz NOT NULL,
  delivered_at  timestamptz,
  UNIQUE (event_id, kind, stage, target_kind, target_url)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_at) WHERE status = 'pending';

-- How far a reader of the event log has got (by event id).
CREATE TABLE IF NOT EXISTS cursors (
  name      text PRIMARY KEY,
  event_id  bigint NOT NULL
);
-- The outbox starts at the newest event: what happened before it existed is not announced again.
INSERT INTO cursors (name, event_id) SELECT 'notify', coalesce(max(id), 0) FROM events ON CONFLICT (name) DO NOTHING;
