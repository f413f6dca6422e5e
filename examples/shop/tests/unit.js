// Unit tests, run in the commit stage before anything is deployed.
import { cartTotal } from '../src/catalog.js';

if (cartTotal([]) !== 0) throw new Error('empty cart must total 0');
if (cartTotal([{ sku: 'mug', qty: 2 }]) !== 2400) throw new Error('2 mugs must total 2400');
console.log('unit tests passed');
