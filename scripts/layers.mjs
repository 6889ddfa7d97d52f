// The layers of src/ and what each may import (STYLE.md): every layer uses only layers below it.
// ESLint (eslint.config.js) and the import-rule test (test/import-rules.test.ts) both read this
// table; the test also fails on any import cycle and on process spawning outside the layers
// that may do it.

/** For each folder of src/, the folders it may import from. */
export const LAYERS = {
  core: [],
  protocol: ['core'],
  guest: ['core', 'protocol'],
  host: ['core', 'protocol'],
  audit: ['core', 'protocol', 'host'],
  network: ['core', 'protocol', 'host', 'audit'],
  // The approval cliff: tokens, scopes, the approvals file, the broker; it records in the audit store.
  approval: ['core', 'protocol', 'host', 'audit'],
  image: ['core', 'protocol', 'host'],
  drivers: ['core', 'protocol', 'host', 'image'],
  runtime: ['core', 'protocol', 'host', 'audit', 'approval', 'network', 'image', 'drivers'],
  mcp: ['core', 'protocol', 'host', 'audit', 'approval', 'network', 'image', 'drivers', 'runtime'],
  // The web dashboard: a page over the daemon's or an MCP server's sandboxes, audit and approvals.
  dashboard: ['core', 'protocol', 'host', 'audit', 'approval', 'runtime'],
  // The agent loop is an MCP client: it reaches sandboxes through MCP servers only.
  agent: ['core', 'host'],
  cli: [
    'core',
    'protocol',
    'host',
    'audit',
    'approval',
    'network',
    'image',
    'drivers',
    'runtime',
    'mcp',
    'agent',
    'dashboard',
  ],
};

/** Pure layers: no processes, sockets or files. */
export const PURE_LAYERS = ['core', 'protocol'];
export const KERNEL_MODULES = ['node:child_process', 'node:net', 'node:fs', 'node:fs/promises'];

/**
 * The only layers that may start processes (a value import of node:child_process). The guest
 * agent runs the box's commands, inside the box.
 */
export const SPAWNING_LAYERS = ['host', 'network', 'image', 'drivers', 'guest'];
