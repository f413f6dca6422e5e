import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Paths are relative to the repository root, where `npm run build:web` runs: the app's source is src/web and its
// production build goes to dist/web, which `sluice up` serves at the API's address.
export default defineConfig({
  root: 'src/web',
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../../dist/web',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
  },
  server: { proxy: { '/api': 'http://127.0.0.1:27070' } },
});
