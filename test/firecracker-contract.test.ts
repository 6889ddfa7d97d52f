// The contract between our Firecracker API bodies and Firecracker's own API description: every
// request our builders make (the driver's boot sequence, and every builder with representative
// and generated configs) is checked against the v1.16.1 Swagger 2.0 spec for its path and
// method, by a small checker of the Swagger subset that spec uses. The spec file is upstream's,
// byte for byte (its hash is the one notes/vmm.md §1.1 records).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { resolveLimits } from '../src/core/limits.js';
import {
  type ApiRequest,
  patchVmState,
  putAction,
  putBootSource,
  putDrive,
  putLogger,
  putMachineConfig,
  putMetrics,
  putSnapshotCreate,
  putSnapshotLoad,
  putVsock,
} from '../src/drivers/firecracker/api.js';
import { bootRequests, firecrackerCmdline } from '../src/drivers/firecracker/config.js';
import { IronClawError } from '../src/index.js';
import { sandboxSeccompFilter } from '../src/host/seccomp-filter.js';

const SPEC_FILE = new URL('fixtures/firecracker-swagger-1.16.1.yaml', import.meta.url);
const SPEC_SHA256 = 'a514abec7b29700c5ca8bdaebbb960e4ffb46fe1fd4869094c6c63630a6fa41c';
const SEED = 0xf12ec;

interface Schema {
  type?: 'object' | 'string' | 'integer' | 'number' | 'boolean' | 'array';
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  items?: Schema;
  $ref?: string;
}
interface Operation {
  parameters?: { name: string; in: string; required?: boolean; type?: string; schema?: Schema }[];
  responses: Record<string, unknown>;
}
interface Spec {
  swagger: string;
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, Schema>;
}

/** Keywords the checker implements, and those that only document (no effect on validity). */
const CHECKED = new Set(['type', 'required', 'properties', 'additionalProperties', 'enum']);
const CHECKED_MORE = new Set(['minimum', 'maximum', 'items', '$ref']);
const DOCUMENTING = new Set(['description', 'default', 'readOnly', 'example', 'format']);

const text = await readFile(SPEC_FILE, 'utf8');
const spec = parse(text) as Spec;

/**
 * The problems of `value` against `schema`, each with its JSON path. Objects may hold only the
 * properties their schema names (Firecracker's serde types deny unknown fields) unless the
 * schema says additionalProperties. A keyword the checker does not know fails the check rather
 * than being skipped, so a spec that grows one cannot pass unnoticed.
 */
function validate(value: unknown, schema: Schema, path = '$'): string[] {
  for (const keyword of Object.keys(schema)) {
    if (!CHECKED.has(keyword) && !CHECKED_MORE.has(keyword) && !DOCUMENTING.has(keyword))
      return [`${path}: the checker does not implement the keyword "${keyword}"`];
  }
  if (schema.$ref !== undefined) {
    const name = /^#\/definitions\/(\w+)$/.exec(schema.$ref)?.[1];
    const target = name === undefined ? undefined : spec.definitions[name];
    if (!target) return [`${path}: unresolvable $ref ${schema.$ref}`];
    return validate(value, target, path);
  }
  const problems: string[] = [];
  switch (schema.type) {
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        return [`${path}: expected an object`];
      const record = value as Record<string, unknown>;
      for (const name of schema.required ?? [])
        if (!(name in record)) problems.push(`${path}: missing required "${name}"`);
      for (const [name, item] of Object.entries(record)) {
        const property = schema.properties?.[name];
        if (property) problems.push(...validate(item, property, `${path}.${name}`));
        else if (schema.additionalProperties !== true)
          problems.push(`${path}: unknown property "${name}"`);
      }
      break;
    }
    case 'string':
      if (typeof value !== 'string') problems.push(`${path}: expected a string`);
      break;
    case 'integer':
      if (!Number.isInteger(value)) problems.push(`${path}: expected an integer`);
      break;
    case 'number':
      if (typeof value !== 'number') problems.push(`${path}: expected a number`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${path}: expected a boolean`);
      break;
    case 'array':
      if (!Array.isArray(value)) return [`${path}: expected an array`];
      if (schema.items)
        value.forEach((item, i) =>
          problems.push(...validate(item, schema.items!, `${path}[${i}]`)),
        );
      break;
    case undefined:
      break;
  }
  if (schema.enum && !schema.enum.includes(value))
    problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum)
      problems.push(`${path}: ${value} is below the minimum ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum)
      problems.push(`${path}: ${value} is above the maximum ${schema.maximum}`);
  }
  return problems;
}

/** The spec's operation for a concrete path (templates like /drives/{drive_id} match). */
function operationFor(method: string, path: string): { template: string; op: Operation } {
  for (const [template, operations] of Object.entries(spec.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`);
    const op = operations[method.toLowerCase()];
    if (pattern.test(path) && op) return { template, op };
  }
  throw new Error(`the spec has no ${method} ${path}`);
}

/** Every problem of a request against the spec: its path and method, its body, its answer. */
function checkRequest(request: ApiRequest): string[] {
  let found: { template: string; op: Operation };
  try {
    found = operationFor(request.method, request.path);
  } catch (error) {
    return [(error as Error).message];
  }
  const { op, template } = found;
  const problems: string[] = [];
  if (!('204' in op.responses)) problems.push(`${template}: no 204 response in the spec`);
  for (const param of op.parameters ?? []) {
    if (param.in === 'path' && param.type !== 'string')
      problems.push(`${template}: path parameter ${param.name} is not a string`);
  }
  const body = op.parameters?.find((param) => param.in === 'body');
  if (!body?.schema) return [...problems, `${template}: takes no body`];
  return [...problems, ...validate(request.body, body.schema)];
}

/** Everything our builders can make, with every optional field in use somewhere. */
const REPRESENTATIVE: [string, ApiRequest][] = [
  ['logger, minimal', putLogger({ logPath: '/firecracker.log', level: 'Warning' })],
  [
    'logger, full',
    putLogger({
      logPath: '/fc.fifo',
      level: 'Trace',
      showLevel: true,
      showLogOrigin: false,
      module: 'api_server::request',
    }),
  ],
  ['metrics', putMetrics('/metrics.fifo')],
  ['machine config, minimal', putMachineConfig({ vcpuCount: 1, memSizeMib: 128 })],
  [
    'machine config, full',
    putMachineConfig({
      vcpuCount: 2,
      memSizeMib: 1024,
      smt: true,
      trackDirtyPages: true,
      hugePages: '2M',
    }),
  ],
  ['boot source, kernel only', putBootSource({ kernelImagePath: '/vmlinux' })],
  [
    'boot source, full',
    putBootSource({
      kernelImagePath: '/vmlinux',
      initrdPath: '/initrd',
      bootArgs: 'console=ttyS0',
    }),
  ],
  [
    'drive, read-only data disk',
    putDrive({
      driveId: 'rootfs',
      pathOnHost: '/rootfs.ext4',
      isRootDevice: false,
      isReadOnly: true,
    }),
  ],
  [
    'drive, full',
    putDrive({
      driveId: 'scratch_1',
      pathOnHost: '/scratch.ext4',
      isRootDevice: true,
      isReadOnly: false,
      cacheType: 'Writeback',
      ioEngine: 'Async',
    }),
  ],
  ['vsock', putVsock({ guestCid: 3, udsPath: '/vsock.sock' })],
  ['InstanceStart', putAction('InstanceStart')],
  ['SendCtrlAltDel', putAction('SendCtrlAltDel')],
  ['FlushMetrics', putAction('FlushMetrics')],
  ['pause', patchVmState('Paused')],
  ['resume', patchVmState('Resumed')],
  ['snapshot create, default type', putSnapshotCreate({ snapshotPath: '/s', memFilePath: '/m' })],
  [
    'snapshot create, diff',
    putSnapshotCreate({ snapshotPath: '/s', memFilePath: '/m', snapshotType: 'Diff' }),
  ],
  [
    'snapshot load, memory file',
    putSnapshotLoad({ snapshotPath: '/s', memBackend: { backendType: 'File', backendPath: '/m' } }),
  ],
  [
    'snapshot load, full',
    putSnapshotLoad({
      snapshotPath: '/s',
      memBackend: { backendType: 'Uffd', backendPath: '/uffd.sock' },
      trackDirtyPages: true,
      resumeVm: true,
      vsockUdsPath: '/clone.vsock',
      clockRealtime: true,
    }),
  ],
];

describe('the Firecracker API contract (spec v1.16.1)', () => {
  test('the spec is upstream v1.16.1, unchanged', () => {
    expect(createHash('sha256').update(text).digest('hex')).toBe(SPEC_SHA256);
    expect(spec.swagger).toBe('2.0');
    expect(spec.info.version).toBe('1.16.1');
  });

  test.each(REPRESENTATIVE)('%s: the body matches the spec', (_name, request) => {
    expect(checkRequest(request)).toEqual([]);
  });

  test("the driver's boot sequence matches the spec, request by request", async () => {
    // The guest's sandbox filter is named by its sha256 on the command line (guest-seccomp.ts).
    const { sha256 } = await sandboxSeccompFilter();
    for (const limits of [
      resolveLimits(),
      resolveLimits({ memoryBytes: 2 * 1024 ** 3, pids: 64 }),
    ]) {
      const cmdline = firecrackerCmdline(limits, sha256);
      expect(cmdline.split(' ')).toContain(`ironclaw.seccomp=${sha256}`);
      const requests = bootRequests({ memoryMiB: 256, cmdline });
      expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'PUT /logger',
        'PUT /machine-config',
        'PUT /boot-source',
        'PUT /drives/rootfs',
        'PUT /vsock',
        'PUT /actions',
      ]);
      for (const request of requests) expect(checkRequest(request), request.path).toEqual([]);
    }
  });

  test('generated machine configs: the builder refuses what it must, the rest matches the spec', () => {
    let built = 0;
    fc.assert(
      fc.property(
        fc.record(
          {
            vcpuCount: fc.integer({ min: -2, max: 40 }),
            memSizeMib: fc.integer({ min: -1, max: 65536 }),
            smt: fc.boolean(),
            trackDirtyPages: fc.boolean(),
            hugePages: fc.constantFrom('None' as const, '2M' as const),
          },
          { requiredKeys: ['vcpuCount', 'memSizeMib'] },
        ),
        (config) => {
          let request: ApiRequest;
          try {
            request = putMachineConfig(config);
          } catch (error) {
            expect(error).toBeInstanceOf(IronClawError);
            expect((error as IronClawError).code).toBe('INVALID_ARGUMENT');
            const { vcpuCount: n, memSizeMib: m } = config;
            const bad = n < 1 || n > 32 || m < 1 || (config.smt === true && n > 1 && n % 2 === 1);
            expect(bad || (config.hugePages === '2M' && m % 2 === 1)).toBe(true);
            return;
          }
          built++;
          expect(checkRequest(request)).toEqual([]);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
    expect(built).toBeGreaterThan(100);
  });

  test('generated snapshot loads and drives match the spec', () => {
    const path = fc.stringMatching(/^\/[a-z0-9._-]{1,20}$/);
    fc.assert(
      fc.property(
        fc.record(
          {
            snapshotPath: path,
            memBackend: fc.record({
              backendType: fc.constantFrom('File' as const, 'Uffd' as const),
              backendPath: path,
            }),
            trackDirtyPages: fc.boolean(),
            resumeVm: fc.boolean(),
            vsockUdsPath: path,
            clockRealtime: fc.boolean(),
          },
          { requiredKeys: ['snapshotPath', 'memBackend'] },
        ),
        fc.record({
          driveId: fc.stringMatching(/^[A-Za-z0-9_]{1,64}$/),
          pathOnHost: path,
          isRootDevice: fc.boolean(),
          isReadOnly: fc.boolean(),
        }),
        (load, drive) => {
          expect(checkRequest(putSnapshotLoad(load))).toEqual([]);
          expect(checkRequest(putDrive(drive))).toEqual([]);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
  });

  test('the builders refuse values Firecracker would refuse', () => {
    const refused = [
      () => putMachineConfig({ vcpuCount: 0, memSizeMib: 128 }),
      () => putMachineConfig({ vcpuCount: 33, memSizeMib: 128 }),
      () => putMachineConfig({ vcpuCount: 3, memSizeMib: 128, smt: true }),
      () => putMachineConfig({ vcpuCount: 1, memSizeMib: 129, hugePages: '2M' }),
      () => putVsock({ guestCid: 2, udsPath: '/v.sock' }),
      () =>
        putDrive({ driveId: 'root/fs', pathOnHost: '/r', isRootDevice: false, isReadOnly: true }),
      () =>
        putDrive({
          driveId: 'x'.repeat(65),
          pathOnHost: '/r',
          isRootDevice: true,
          isReadOnly: true,
        }),
      () => putBootSource({ kernelImagePath: '' }),
      () =>
        putSnapshotLoad({
          snapshotPath: '/s',
          memBackend: { backendType: 'File', backendPath: '' },
        }),
    ];
    for (const build of refused) expect(build).toThrow(/Firecracker API request/);
  });

  describe('the checker rejects wrong bodies (so a pass above means something)', () => {
    const cases: [string, ApiRequest, RegExp][] = [
      [
        'a missing required field',
        { method: 'PUT', path: '/machine-config', body: { vcpu_count: 1 } },
        /missing required "mem_size_mib"/,
      ],
      [
        'an unknown field',
        { method: 'PUT', path: '/vsock', body: { guest_cid: 3, uds_path: '/v', cid: 3 } },
        /unknown property "cid"/,
      ],
      [
        'a wrong type',
        { method: 'PUT', path: '/machine-config', body: { vcpu_count: '1', mem_size_mib: 128 } },
        /vcpu_count: expected an integer/,
      ],
      [
        'a value outside the enum',
        { method: 'PUT', path: '/logger', body: { level: 'Verbose' } },
        /"Verbose" is not one of/,
      ],
      [
        'a value below the minimum',
        { method: 'PUT', path: '/vsock', body: { guest_cid: 2, uds_path: '/v' } },
        /below the minimum 3/,
      ],
      [
        'a value above the maximum',
        { method: 'PUT', path: '/machine-config', body: { vcpu_count: 33, mem_size_mib: 1 } },
        /above the maximum 32/,
      ],
      [
        'a wrong value nested behind a $ref',
        {
          method: 'PUT',
          path: '/snapshot/load',
          body: {
            snapshot_path: '/s',
            mem_backend: { backend_type: 'Memory', backend_path: '/m' },
          },
        },
        /mem_backend\.backend_type: "Memory" is not one of/,
      ],
      [
        'a path the API does not have',
        { method: 'PUT', path: '/seccomp', body: {} },
        /the spec has no PUT \/seccomp/,
      ],
      [
        'a method the path does not take',
        { method: 'PATCH', path: '/boot-source', body: { kernel_image_path: '/k' } },
        /the spec has no PATCH \/boot-source/,
      ],
    ];
    test.each(cases)('%s', (_name, request, problem) => {
      const problems = checkRequest(request);
      expect(problems.join('\n')).toMatch(problem);
    });

    test('a schema keyword the checker does not implement fails instead of passing', () => {
      expect(validate('x', { type: 'string', pattern: '^y$' } as Schema)).toEqual([
        '$: the checker does not implement the keyword "pattern"',
      ]);
    });
  });
});
