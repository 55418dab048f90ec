// Builds the UI into static files: index.html plus content-hashed files under assets/,
// which `lakehouse serve` sends with a one-year immutable cache header.
// The output folder comes from the command line (scripts/build-web passes <build>/web).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  publicDir: false,
  build: {
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2020',
    chunkSizeWarningLimit: 1200,
  },
});
