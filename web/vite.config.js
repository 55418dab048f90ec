// Builds the UI into static files: index.html plus content-hashed files under assets/,
// which `lakehouse serve` sends with a one-year immutable cache header.
// public/ is copied as is (assets/lakehouse.svg keeps its name: the icon, and a stable file
// for the API document's example). The output folder comes from the command line
// (scripts/build-web passes <build>/web).
import { defineConfig } from 'vite';

// `npx vite` (development only): live reload, API calls forwarded to a running server.
const api = process.env.LAKEHOUSE_URL || 'http://127.0.0.1:8080';
const apiPrefixes = ['/health', '/openapi.json', '/catalog', '/sql', '/ingest', '/storage',
  '/vectors', '/hnsw', '/search', '/rag', '/ask', '/jobs', '/journal', '/metrics'];

export default defineConfig({
  base: '/',
  publicDir: 'public',
  server: { proxy: Object.fromEntries(apiPrefixes.map((p) => [p, api])) },
  build: {
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2020',
    chunkSizeWarningLimit: 1200,
  },
});
