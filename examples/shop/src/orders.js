// Orders, kept in the stage's PostgreSQL database when it has one (sluice.review.yaml's database:). An environment
// gets a copy of staging's of its own: what it writes there, staging never sees.
const url = process.env.DATABASE_URL;
let pool;

async function db() {
  if (!url) return undefined;
  if (!pool) {
    const pg = (await import('pg')).default;
    pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 2000 });
    pool.on('error', () => {}); // a session the server closes is opened again on the next query
  }
  return pool;
}

/** The newest orders and how many there are, or undefined when the stage keeps none. */
export async function recentOrders() {
  const p = await db();
  if (!p) return undefined;
  const { rows } = await p.query('SELECT id, sku, qty FROM orders ORDER BY id DESC LIMIT 5');
  const { rows: count } = await p.query('SELECT count(*)::int AS n FROM orders');
  return { count: count[0].n, rows };
}

/** Records an order; answers its id. */
export async function placeOrder(sku, qty) {
  const p = await db();
  if (!p) throw new Error('this stage keeps no orders (it has no database)');
  const { rows } = await p.query('INSERT INTO orders (sku, qty) VALUES ($1, $2) RETURNING id', [sku, qty]);
  return rows[0].id;
}

export async function closeOrders() {
  await pool?.end();
}
