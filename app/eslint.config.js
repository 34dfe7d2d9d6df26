// Type-aware typescript-eslint over src/, test/ and bench/ (https://typescript-eslint.io/getting-started/typed-linting):
// the project service reads tsconfig.json, so the linter sees the same types as tsc.
import eslint from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  { ignores: ["dist/", "node_modules/", ".tmp/"] },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers in template strings (ids, ports, page numbers) are the common case here.
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      // node:test's describe/it return promises the runner itself awaits
      // (https://typescript-eslint.io/rules/no-floating-promises/#allowforknownsafecalls).
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", name: ["describe", "it", "suite", "test"], package: "node:test" }] },
      ],
      // Fastify tells callback-style plugins and hooks from promise-style ones by whether the
      // function is async, so an async function without await is meaningful there.
      "@typescript-eslint/require-await": "off",
      // Kysely's migrator reports a failed migration as `error: unknown`, which is rethrown as is.
      "@typescript-eslint/only-throw-error": ["error", { allowThrowingUnknown: true }],
      "@typescript-eslint/no-confusing-void-expression": ["error", { ignoreArrowShorthand: true }],
      // `_name` marks what a destructuring leaves out on purpose.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Migrations see the database as it was, not the app's current types: Kysely<any> is
    // Kysely's own advice (https://kysely.dev/docs/migrations).
    files: ["src/migrations/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // A `let` that before() assigns, or a flag that an event callback sets, looks never-nullish
    // or never-true to TypeScript's flow analysis; the `?.` and checks on them are deliberate.
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-unnecessary-condition": "off" },
  },
  {
    files: ["**/*.js"],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
