// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { KERNEL_MODULES, LAYERS, PURE_LAYERS } from './scripts/layers.mjs';

/** Which folders each layer may not import from: all but those scripts/layers.mjs allows. */
const layers = Object.fromEntries(
  Object.entries(LAYERS).map(([layer, allowed]) => [
    layer,
    Object.keys(LAYERS).filter((other) => other !== layer && !allowed.includes(other)),
  ]),
);

function layerRule(/** @type {string} */ layer, /** @type {string[]} */ banned) {
  const pure = PURE_LAYERS.includes(layer);
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: pure
            ? KERNEL_MODULES.map((name) => ({ name, message: `src/${layer} is pure: no ${name}.` }))
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
