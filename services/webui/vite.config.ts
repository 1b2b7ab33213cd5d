/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// The Express server (server/index.js) serves dist/ in production; in `npm run dev`
// Vite proxies /api to the same backend so both modes see one origin.
export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    target: "es2022",
    // No inline module-preload polyfill: the CSP forbids inline scripts.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  server: {
    proxy: { "/api": process.env.FLASK_API_URL ?? "http://127.0.0.1:8080" },
  },
  test: {
    globals: true,
    environment: "jsdom",
    setupFiles: ["./src/test-setup.ts"],
    // make test runs this suite beside flask-backend's three database shards on a shared
    // machine: a test gets 20 s there (vitest's default 5 s timed some out). A passing test
    // is no slower: waits end as soon as their condition holds.
    testTimeout: 20_000,
    include: ["src/**/*.test.{ts,tsx}", "server/**/*.test.js"],
    reporters: ["default", "junit"],
    outputFile: { junit: "./test-results/unit.xml" },
  },
});
