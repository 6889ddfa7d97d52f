import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

/** One import of a source file: what it names, resolved to a file of src/ when it is relative. */
export interface ImportEdge {
  from: string;
  /** src-relative path of the imported file, or the bare module name (node:fs, zod). */
  to: string;
  /** `import type …` / `export type … from`: no code is loaded. */
  typeOnly: boolean;
}

/** Every import and re-export of `text`, a TypeScript file at src-relative path `file`. */
export function importsOf(file: string, text: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const pattern =
    /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const match of text.matchAll(pattern)) {
    const spec = match[3] ?? match[4];
    if (spec === undefined) continue;
    const to = spec.startsWith('.')
      ? relative('src', resolve('/', 'src', dirname(file), spec).slice(1)).replace(/\.js$/, '.ts')
      : spec;
    edges.push({ from: file, to, typeOnly: match[2] !== undefined });
  }
  return edges;
}

/** The import edges of every non-test .ts file under `srcDir`. */
export async function importGraph(srcDir: string): Promise<ImportEdge[]> {
  const files = (await readdir(srcDir, { recursive: true })).filter(
    (file) => file.endsWith('.ts') && !file.endsWith('.test.ts'),
  );
  const texts = await Promise.all(files.map((file) => readFile(join(srcDir, file), 'utf8')));
  return files.flatMap((file, index) => importsOf(file, texts[index] ?? ''));
}

export interface LayerRules {
  layers: Record<string, readonly string[]>;
  pure: readonly string[];
  kernelModules: readonly string[];
  spawning: readonly string[];
}

/** The folder of src a file belongs to ('' for src/index.ts, the library entry). */
function layerOf(file: string): string {
  return file.includes('/') ? (file.split('/')[0] ?? '') : '';
}

/** Each driver folder of src/drivers/, or undefined for files outside one. */
function driverOf(file: string): string | undefined {
  const parts = file.split('/');
  return parts[0] === 'drivers' && parts.length > 2 ? parts[1] : undefined;
}

/** Every import that breaks a layer rule, in words. */
export function layerViolations(edges: readonly ImportEdge[], rules: LayerRules): string[] {
  const problems: string[] = [];
  for (const { from, to, typeOnly } of edges) {
    const layer = layerOf(from);
    if (layer === '') continue;
    const allowed = rules.layers[layer];
    if (allowed === undefined) {
      problems.push(`${from}: src/${layer} is not in the layer table`);
      continue;
    }
    if (!to.startsWith('node:') && to.endsWith('.ts')) {
      const target = layerOf(to);
      if (target !== layer && !allowed.includes(target))
        problems.push(`${from} imports ${to}: src/${layer} may import only ${allowed.join(', ')}`);
      const [own, other] = [driverOf(from), driverOf(to)];
      if (own !== undefined && other !== undefined && own !== other)
        problems.push(`${from} imports ${to}: one driver never imports another`);
      continue;
    }
    if (rules.pure.includes(layer) && rules.kernelModules.includes(to))
      problems.push(`${from} imports ${to}: src/${layer} is pure`);
    if (to === 'node:child_process' && !typeOnly && !rules.spawning.includes(layer))
      problems.push(
        `${from} imports node:child_process: only ${rules.spawning.join(', ')} start processes`,
      );
  }
  return problems;
}

/** Every import cycle among the files (type-only imports included), each as a file list. */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (!to.endsWith('.ts')) continue;
    next.set(from, [...(next.get(from) ?? []), to]);
  }
  // Tarjan's strongly connected components; a component of two or more files is a cycle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let counter = 0;
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of next.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(target) ?? 0));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(target) ?? 0));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop();
        if (member === undefined) break;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (next.get(node) ?? []).includes(node))
        cycles.push(component.sort());
    }
  };
  for (const node of next.keys()) if (!index.has(node)) visit(node);
  return cycles;
}
