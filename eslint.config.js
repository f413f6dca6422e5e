// One linter, which also holds the formatting rules: ESLint with typescript-eslint and @stylistic.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';
import { layers } from './eslint-rules/layers.js';

/** Contexts and the contexts each may use (acyclic). See docs/adr/0009-layout-by-context.md. */
const CONTEXTS = {
  rollout: [],
  pipeline: ['rollout'],
  journeys: ['pipeline', 'rollout', 'audit'],
  releases: ['journeys', 'pipeline', 'audit'],
  notifications: ['journeys', 'pipeline'],
  auth: ['audit'],
  audit: [],
  secrets: [],
  // The ramps judge with the canaries' judge and metrics ports (ADR 23).
  flags: ['audit', 'rollout'],
  // An environment clones a stage's plan and runs a release (ADR 25).
  environments: ['journeys', 'pipeline', 'audit'],
  // Webhooks make releases and environments, and report through the outbox (ADR 28).
  github: ['environments', 'releases', 'notifications', 'pipeline', 'audit'],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/.sluice/**', '.node24/**', 'examples/**/dist/**', 'packages/*/dist/**', 'bench-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', fetch: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', Buffer: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly', URLSearchParams: 'readonly', AbortSignal: 'readonly' },
    },
    plugins: { '@stylistic': stylistic, sluice: { rules: { layers } } },
    rules: {
      'sluice/layers': ['error', { root: import.meta.dirname, contexts: CONTEXTS }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-control-regex': 'off',
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/indent': ['error', 2, { SwitchCase: 1, ignoredNodes: ['ConditionalExpression', 'TemplateLiteral *'] }],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/eol-last': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', { max: 1 }],
      '@stylistic/object-curly-spacing': ['error', 'always'],
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/max-len': ['error', { code: 150, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreComments: true }],
    },
  },
  {
    // The dashboard runs in the browser: its UI may use the DOM's globals (its pure model, in src/web/model, runs in
    // node's tests too and uses none of them).
    files: ['src/web/**/*.ts', 'src/web/**/*.tsx'],
    languageOptions: {
      globals: {
        window: 'readonly', document: 'readonly', location: 'readonly', history: 'readonly', navigator: 'readonly', EventSource: 'readonly',
        addEventListener: 'readonly', removeEventListener: 'readonly', HTMLElement: 'readonly', HTMLDialogElement: 'readonly',
        HTMLPreElement: 'readonly', HTMLDivElement: 'readonly', HTMLAnchorElement: 'readonly', MessageEvent: 'readonly', Response: 'readonly',
        AbortSignal: 'readonly', TextDecoder: 'readonly',
      },
    },
  },
);
