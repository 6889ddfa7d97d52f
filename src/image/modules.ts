import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { buildError } from './tools.js';

/**
 * The kernel modules a guest needs, found in an unpacked kernel package and put in load order.
 * Debian's package ships no modules.dep (depmod runs at install time, which we never do), so the
 * dependencies come from each module's own `depends=` field in its .modinfo section; modules the
 * kernel has built in (modules.builtin) need no loading and are left out.
 */

/**
 * What the guest needs: the virtio-mmio transport, the serial port to the agent (QEMU), the disk,
 * and vsock (the agent's channel under Firecracker, which has no virtio-serial device).
 */
export const GUEST_MODULES = [
  'virtio_mmio',
  'virtio_console',
  'virtio_blk',
  'vmw_vsock_virtio_transport',
] as const;

export interface KernelModule {
  name: string;
  /** Path of the .ko file in the unpacked package. */
  file: string;
}

/** Module names use '_' and '-' interchangeably; the kernel compares them as equal. */
export function moduleName(name: string): string {
  return name.replace(/\.ko(\.(xz|gz|zst))?$/, '').replaceAll('-', '_');
}

/** The `depends=` list of a module file's .modinfo: comma-separated names, maybe empty. */
export function modinfoDepends(ko: Uint8Array): string[] {
  const bytes = Buffer.from(ko.buffer, ko.byteOffset, ko.byteLength);
  const at = bytes.indexOf('\0depends=');
  if (at < 0) return [];
  const start = at + '\0depends='.length;
  const end = bytes.indexOf(0, start);
  const list = bytes.toString('utf8', start, end < 0 ? bytes.length : end);
  return list === '' ? [] : list.split(',').map(moduleName);
}

/**
 * `wanted` and everything they depend on, each after its dependencies, from the modules
 * directory of one kernel release (lib/modules/<release>).
 */
export async function modulesInLoadOrder(
  modulesDir: string,
  wanted: readonly string[],
): Promise<KernelModule[]> {
  const [files, builtin] = await Promise.all([
    indexModules(join(modulesDir, 'kernel')),
    readFile(join(modulesDir, 'modules.builtin'), 'utf8').then(
      (text) =>
        new Set(
          text
            .split('\n')
            .filter(Boolean)
            .map((path) => moduleName(basename(path))),
        ),
      () => new Set<string>(),
    ),
  ]);
  const order: KernelModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = async (name: string, chain: readonly string[]): Promise<void> => {
    if (builtin.has(name) || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      throw buildError(
        `kernel modules depend on each other in a cycle: ${[...chain, name].join(' -> ')}`,
      );
    }
    const file = files.get(name);
    if (file === undefined) {
      throw buildError(
        `the kernel has no module ${name} (needed by ${chain.join(' -> ') || 'the guest'}) and does not build it in`,
      );
    }
    if (!file.endsWith('.ko')) {
      throw buildError(`compressed kernel modules (${basename(file)}) are not supported yet`);
    }
    state.set(name, 'visiting');
    for (const dependency of modinfoDepends(await readFile(file))) {
      await visit(dependency, [...chain, name]);
    }
    state.set(name, 'done');
    order.push({ name, file });
  };
  for (const name of wanted) await visit(moduleName(name), []);
  return order;
}

/** Every .ko under `dir`, by module name. */
async function indexModules(dir: string): Promise<Map<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(
    (error: unknown) => {
      throw buildError(`the kernel package has no modules directory ${dir}`, error);
    },
  );
  const index = new Map<string, string>();
  for (const entry of entries) {
    if (entry.isFile() && /\.ko(\.(xz|gz|zst))?$/.test(entry.name)) {
      index.set(moduleName(entry.name), join(entry.parentPath, entry.name));
    }
  }
  return index;
}
