// The shop's migrations, run by Sluice before every deploy's instances start (sluice.review.yaml's migrate:), with
// the stage's (or the environment's) DATABASE_URL. Each is safe to run again.
if (!process.env.DATABASE_URL) {
  console.log('this stage has no database: nothing to migrate');
  process.exit(0);
}
const pg = (await import('pg')).default;
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
try {
  await client.query(`CREATE TABLE IF NOT EXISTS orders (
    id serial PRIMARY KEY,
    sku text NOT NULL,
    qty integer NOT NULL CHECK (qty > 0),
    placed_at timestamptz NOT NULL DEFAULT now()
  )`);
  await client.query('CREATE INDEX IF NOT EXISTS orders_placed_at ON orders (placed_at)');
  console.log('migrations applied');
} finally {
  await client.end();
}
