-- Secrets of stages, encrypted with AES-256-GCM under the key key_id (the key itself is never in the database).
CREATE TABLE IF NOT EXISTS secrets (
  stage text NOT NULL,
  name text NOT NULL,
  key_id text NOT NULL,
  nonce text NOT NULL,
  ciphertext text NOT NULL,
  set_at timestamptz NOT NULL,
  PRIMARY KEY (stage, name)
);
