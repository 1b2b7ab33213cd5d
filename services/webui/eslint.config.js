// ESLint for the web UI (flat config). `npm run lint` / scripts/lint.sh run it with
// --max-warnings 0, so a warning fails the check as an error does.
//
//   src/**            TypeScript + React hooks rules, browser globals, and import boundaries
//                     between the feature folders (below)
//   server/, e2e/,    plain JavaScript on Node (node globals; e2e/ also browser globals, for
//   scripts/          the functions it hands to page.evaluate())
//   *.config.*        Node
import { fileURLToPath } from "node:url";
import js from "@eslint/js";
import boundaries from "eslint-plugin-boundaries";
import reactHooks from "eslint-plugin-react-hooks";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

const webuiDir = fileURLToPath(new URL(".", import.meta.url));

/**
 * The architecture of src/ (CONVENTIONS.md, "React"): each feature folder owns its pages and
 * its API calls; what more than one feature needs lives in lib/ (API client, stores, shared
 * queries) or components/ (shared UI). A feature never reaches into another feature, and
 * lib/ and components/ never depend on a feature: only the app shell (App.tsx, main.tsx)
 * puts the features together.
 */
export const boundaryElements = [
  { type: "feature", pattern: "src/features/*", capture: ["feature"] },
  { type: "lib", pattern: "src/lib" },
  { type: "components", pattern: "src/components" },
  // Helpers for tests only (fake backend, render with providers).
  { type: "test-support", pattern: "src/test" },
  // The app shell: everything else directly in src/ (App.tsx, main.tsx, test-setup.ts).
  { type: "app", pattern: "src" },
];

const boundaryPolicies = [
  { from: { element: { type: "app" } }, allow: { to: { element: { types: { anyOf: ["feature", "lib", "components"] } } } } },
  {
    from: { element: { type: "feature" } },
    allow: [
      { to: { element: { types: { anyOf: ["lib", "components"] } } } },
      // Its own folder (such imports are internal to the element and not checked anyway).
      { to: { element: { type: "feature", captured: { feature: "{{ from.element.captured.feature }}" } } } },
    ],
  },
  { from: { element: { type: "components" } }, allow: { to: { element: { types: { anyOf: ["lib", "components"] } } } } },
  { from: { element: { type: "test-support" } }, allow: { to: { element: { types: { anyOf: ["lib", "components", "test-support"] } } } } },
  // Test files of any element may use the test helpers.
  { from: { file: { categories: "test" } }, allow: { to: { element: { type: "test-support" } } } },
];

export const BOUNDARY_MESSAGE =
  "Import boundary: a feature may import only src/lib, src/components and its own folder; " +
  "lib/ and components/ never import a feature. Move what is shared into lib/ or components/.";

export default defineConfig([
  globalIgnores(["dist/", "node_modules/", "test-results/", "playwright-report/", "src/lib/*.gen.ts"]),

  {
    files: ["**/*.{js,mjs,cjs,ts,tsx}"],
    extends: [js.configs.recommended],
    linterOptions: { reportUnusedDisableDirectives: "error" },
  },

  // ------------------------------------------------------------------ the SPA
  {
    files: ["src/**/*.{ts,tsx}"],
    extends: [tseslint.configs.recommended, reactHooks.configs.flat.recommended],
    languageOptions: { globals: globals.browser },
    rules: {
      // `_` marks a parameter or binding kept only for its position.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // No warnings are allowed (--max-warnings 0): a missing dependency is an error.
      "react-hooks/exhaustive-deps": "error",
    },
  },
  {
    files: ["src/**/*.test.{ts,tsx}", "src/test/**", "src/test-setup.ts"],
    languageOptions: { globals: { ...globals.browser, ...globals.node, ...globals.vitest } },
  },
  {
    files: ["src/**/*.{ts,tsx}"],
    plugins: { boundaries },
    settings: {
      "boundaries/root-path": webuiDir,
      "boundaries/elements": boundaryElements,
      "boundaries/files": [{ category: "test", pattern: ["src/**/*.test.ts", "src/**/*.test.tsx"] }],
      // Static imports, re-exports and lazy `import()` of pages all count.
      "boundaries/dependency-nodes": ["import", "export", "dynamic-import"],
      "import/resolver": { node: { extensions: [".ts", ".tsx", ".js", ".jsx", ".json"] } },
    },
    rules: {
      "boundaries/dependencies": ["error", { default: "disallow", message: BOUNDARY_MESSAGE, policies: boundaryPolicies }],
      // Every file under src/ belongs to one of the elements above.
      "boundaries/no-unknown-files": "error",
    },
  },

  // ------------------------------------------------------------------ Node
  {
    files: ["server/**/*.js", "e2e/**/*.js", "scripts/**/*.{js,mjs}", "*.config.{js,ts}"],
    languageOptions: { globals: globals.node },
    rules: {
      // Express knows an error handler by its four parameters, used or not.
      "no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // Functions handed to page.evaluate() and friends run in the browser.
    files: ["e2e/**/*.js"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ["server/**/*.test.js"],
    languageOptions: { globals: { ...globals.node, ...globals.vitest } },
  },
  {
    files: ["vite.config.ts"],
    extends: [tseslint.configs.recommended],
  },
]);
