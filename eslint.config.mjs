// Type-aware typescript-eslint over the Pulumi program, its scripts and its tests
// (https://typescript-eslint.io/getting-started/typed-linting): the project service reads
// tsconfig.json, so the linter sees the same types as tsc. app/ has its own eslint.config.js and is
// linted from there (`cd app && npx eslint .`).
import eslint from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
    globalIgnores(["app/", "bin/", ".pulumi-state/", ".tmp/"]),
    eslint.configs.recommended,
    tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            // node:test's describe/it return promises the runner itself awaits
            // (https://typescript-eslint.io/rules/no-floating-promises/#allowforknownsafecalls).
            "@typescript-eslint/no-floating-promises": [
                "error",
                { allowForKnownSafeCalls: [{ from: "package", name: ["describe", "it", "suite", "test"], package: "node:test" }] },
            ],
            // Fakes and stand-ins implement promise-returning interfaces (fetch, the Docker API, resolvers) with
            // async functions that need no await: async keeps a throw a rejection, as the real ones behave.
            "@typescript-eslint/require-await": "off",
            // Refusing control characters (one-line values for cloud-config, authorized_keys, nginx) is the point.
            "no-control-regex": "off",
            // A caught error is rethrown, or handed to reject(), as it is, whatever it is.
            "@typescript-eslint/only-throw-error": ["error", { allowThrowingUnknown: true }],
            "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true }],
        },
    },
    {
        // The plain-JS files are outside tsconfig.json: no type information for them.
        files: ["**/*.js", "**/*.mjs"],
        extends: [tseslint.configs.disableTypeChecked],
    },
    {
        // Dependency-free CommonJS scripts that Pulumi and the operator run with plain node.
        files: ["scripts/**/*.js"],
        languageOptions: { sourceType: "commonjs", globals: globals.node },
        rules: {
            // require() is how a CommonJS script loads modules.
            "@typescript-eslint/no-require-imports": "off",
            // `const crypto = require("crypto")` shadows Node's global of the same module on purpose.
            "no-redeclare": ["error", { builtinGlobals: false }],
        },
    },
);
