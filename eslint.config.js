// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Which folders each layer may not import from: each layer uses only the layers below it. */
const layers = {
  core: ['protocol', 'guest', 'host', 'runtime', 'mcp', 'cli'],
  protocol: ['guest', 'host', 'runtime', 'mcp', 'cli'],
  guest: ['host', 'runtime', 'mcp', 'cli'],
  host: ['guest', 'runtime', 'mcp', 'cli'],
  runtime: ['guest', 'mcp', 'cli'],
  mcp: ['guest', 'cli'],
  cli: ['guest'],
};
const kernelModules = ['node:child_process', 'node:net', 'node:fs', 'node:fs/promises'];

function layerRule(/** @type {string} */ layer, /** @type {string[]} */ banned) {
  const pure = layer === 'core' || layer === 'protocol';
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: pure
            ? kernelModules.map((name) => ({ name, message: `src/${layer} is pure: no ${name}.` }))
            : [],
          patterns: banned.map((other) => ({
            group: [`**/${other}/*`, `../${other}/*`],
            message: `src/${layer} must not import from src/${other} (layer rule, see STYLE.md).`,
          })),
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.all.json', tsconfigRootDir: import.meta.dirname },
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        require: 'readonly',
        __filename: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      // Handlers implement an async interface; some have nothing to await.
      '@typescript-eslint/require-await': 'off',
      'no-restricted-syntax': [
        'error',
        {
          selector: 'CallExpression[callee.property.name=/^(execSync|spawnSync|execFileSync)$/]',
          message: 'No synchronous child processes (STYLE.md).',
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  { files: ['**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  ...Object.entries(layers).map(([layer, banned]) => layerRule(layer, banned)),
);
