import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'

// Served by the gateway under /console/ (same origin as the API: no CORS, the refresh cookie stays first-party).
export default defineConfig({
  base: '/console/',
  plugins: [vue()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: { proxy: { '/api': 'http://127.0.0.1:8000' } },
  test: { include: ['tests/**/*.test.ts'] },
})
