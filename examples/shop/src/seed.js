// Sample orders for a new empty database (database: { clone: empty, seed: node seed.js }).
import pg from 'pg';

const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
try {
  await client.query("INSERT INTO orders (sku, qty) VALUES ('tea', 2), ('mug', 1), ('pot', 1)");
  console.log('seeded 3 orders');
} finally {
  await client.end();
}
