export { main } from '../interfaces/cli/main.js';
