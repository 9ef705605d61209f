import { defineConfig, loadEnv } from 'vite';

// base './': every asset URL in dist/ is relative, so the built app works
// under any path (the pool's own HTTP server at /, nginx at /pool/, a plain
// file server in a sub folder). The API base is resolved at run time
// (src/api.ts: ?api=, window.RXPOOL_API, else ./api).
export default defineConfig(({ mode }) => {
  // `RXPOOL_API_PROXY=http://127.0.0.1:8117 npm run dev` proxies /api to a running pool.
  const env = loadEnv(mode, '.', 'RXPOOL_');
  const proxyTarget = env.RXPOOL_API_PROXY;
  return {
    base: './',
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      target: 'es2022',
      chunkSizeWarningLimit: 600,
    },
    server: proxyTarget ? { proxy: { '/api': { target: proxyTarget, changeOrigin: true } } } : {},
  };
});
