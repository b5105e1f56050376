/**
 * Shared pieces of the importer fuzz tests (tests/unit/fuzz-*.test.ts): the property every input must satisfy,
 * byte- and JSON-level mutations, the corpus of inputs that once broke an importer, and the knobs the long run
 * (scripts/fuzz-long.mjs) turns through the environment:
 *
 *   FUZZ_RUNS       multiplies every property's run count (default 1: the CI budget)
 *   FUZZ_SEED       fast-check seed (default: a fixed seed, so that CI runs the same inputs every time)
 *   FUZZ_SAVE_DIR   where a failing (shrunk) input is written, as a corpus entry, before the test fails
 *   FUZZ_TIME_MS    the most one input may take (default 1000)
 *   FUZZ_COLLECT    when set, a property does not stop at its first failure: it saves one shrunk input per
 *                   distinct kind of failure, goes on with the next seed until its runs are spent, then fails
 *                   listing them all (what the long run uses)
 *
 * The property: an importer returns a Graph that passes inferShapes (or fails it with a ShapeError or a plain
 * Error naming a layer), or throws a ModelImportError that names the file, carries no `cause` (a cause means an
 * unexpected exception was caught by the importer's last-resort wrapper, i.e. a bug), fits on a line or two, and
 * comes within FUZZ_TIME_MS.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { inferShapes } from '../../src/engine/compile';
import type { Graph } from '../../src/engine/graph';
import { ShapeError } from '../../src/engine/ops/op';
import { ModelImportError } from '../../src/engine/onnx/import-onnx';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const goldensDir = resolve(repoRoot, '..', 'shared', 'goldens');
export const modelsDir = join(repoRoot, 'public', 'models');
export const corpusDir = join(repoRoot, 'tests', 'fuzz', 'corpus');

const env = process.env;
export const FUZZ = {
  scale: Number(env.FUZZ_RUNS ?? 1) || 1,
  seed: env.FUZZ_SEED !== undefined ? Number(env.FUZZ_SEED) : 20260,
  saveDir: env.FUZZ_SAVE_DIR,
  timeMs: Number(env.FUZZ_TIME_MS ?? 1000) || 1000,
  collect: !!env.FUZZ_COLLECT,
};

/** Run count for a property: its CI budget times FUZZ_RUNS. */
export const runs = (base: number): number => Math.max(1, Math.round(base * FUZZ.scale));

export type Outcome =
  | { readonly kind: 'graph'; readonly graph: Graph; readonly ms: number }
  | { readonly kind: 'shape-error'; readonly message: string; readonly ms: number }
  | { readonly kind: 'import-error'; readonly message: string; readonly ms: number };

/** Thrown when an input breaks the property; the message says how. */
export class PropertyViolation extends Error {
  override name = 'PropertyViolation';
}

/** Where an unexpected exception came from: its first stack frame, as "function (file:line)". */
function origin(e: Error): string {
  const frame = (e.stack ?? '').split('\n').find((l) => /^\s+at .*:\d+:\d+\)?$/.test(l));
  if (!frame) return '';
  const m = /at (?:(\S+) )?\(?(?:.*[\\/])?([^\\/]+?):(\d+):\d+\)?$/.exec(frame.trim());
  return m ? ` at ${m[1] ?? '<anonymous>'} (${m[2]}:${m[3]})` : '';
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    const where = e.constructor === Error || e instanceof PropertyViolation ? '' : origin(e);
    return `${e.constructor.name}${where}: ${e.message.slice(0, 300)}${e.cause ? ` (cause: ${describeError(e.cause)})` : ''}`;
  }
  return `non-Error thrown: ${String(e).slice(0, 200)}`;
}

/** Checks a graph an importer returned: sane input and parameters, then shape inference. */
function checkGraph(graph: Graph): { ok: true } | { ok: false; message: string } {
  const positiveInts = (s: readonly number[]) => s.every((d) => Number.isSafeInteger(d) && d >= 1);
  if (!positiveInts(graph.input.shape)) throw new PropertyViolation(`graph input shape [${graph.input.shape.join(', ')}] is not positive integers`);
  for (const n of graph.nodes) {
    for (const [k, t] of Object.entries(n.params)) {
      let size = 1;
      for (const d of t.shape) size *= d;
      if (!positiveInts(t.shape) && size !== 0) throw new PropertyViolation(`layer "${n.name}" param ${k} has shape [${t.shape.join(', ')}]`);
      if (!(t.data instanceof Float32Array) || t.data.length !== size) {
        throw new PropertyViolation(`layer "${n.name}" param ${k}: ${t.data?.length} values for shape [${t.shape.join(', ')}]`);
      }
    }
  }
  try {
    inferShapes(graph);
    return { ok: true };
  } catch (e) {
    if (e instanceof ShapeError || (e instanceof Error && e.constructor === Error)) return { ok: false, message: e.message };
    throw new PropertyViolation(`inferShapes threw ${describeError(e)}`);
  }
}

/**
 * Runs an import and checks the property. Returns the outcome; throws PropertyViolation when broken.
 * `file` is the name given to the importer, which every error must mention.
 */
export function checkImport(file: string, run: () => Graph): Outcome {
  const started = performance.now();
  let graph: Graph;
  try {
    graph = run();
  } catch (e) {
    const ms = performance.now() - started;
    if (!(e instanceof ModelImportError)) throw new PropertyViolation(`threw ${describeError(e)}`);
    if (e.cause !== undefined) throw new PropertyViolation(`unexpected ${describeError(e.cause)}, behind: ${e.message.slice(0, 200)}`);
    if (!e.message.includes(file)) throw new PropertyViolation(`the error does not name ${file}: ${e.message.slice(0, 300)}`);
    if (e.message.length > 2000) throw new PropertyViolation(`the error is ${e.message.length} characters long`);
    if (/\n\s+at /.test(e.message)) throw new PropertyViolation('the error carries a stack trace');
    if (ms > FUZZ.timeMs) throw new PropertyViolation(`took ${ms.toFixed(0)} ms (limit ${FUZZ.timeMs}) to fail: ${e.message.slice(0, 200)}`);
    return { kind: 'import-error', message: e.message, ms };
  }
  const checked = checkGraph(graph);
  const ms = performance.now() - started;
  if (ms > FUZZ.timeMs) throw new PropertyViolation(`took ${ms.toFixed(0)} ms (limit ${FUZZ.timeMs})`);
  return checked.ok ? { kind: 'graph', graph, ms } : { kind: 'shape-error', message: checked.message, ms };
}

// ---------------------------------------------------------------------------------------------------------------
// Running a property with fast-check, saving what breaks it.

export interface FuzzStats {
  graphs: number;
  shapeErrors: number;
  importErrors: number;
  maxMs: number;
}

export const newStats = (): FuzzStats => ({ graphs: 0, shapeErrors: 0, importErrors: 0, maxMs: 0 });

export function tally(stats: FuzzStats, o: Outcome): void {
  if (o.kind === 'graph') stats.graphs++;
  else if (o.kind === 'shape-error') stats.shapeErrors++;
  else stats.importErrors++;
  stats.maxMs = Math.max(stats.maxMs, o.ms);
}

/** A corpus entry: how to rebuild an input (see corpus/README.md). */
export type CorpusEntry =
  | { readonly kind: 'onnx'; readonly bytes: Uint8Array }
  | { readonly kind: 'tfjs'; readonly entry: TfjsCorpusEntry }
  | { readonly kind: 'image'; readonly ext: 'png' | 'jpg'; readonly bytes: Uint8Array };

/** A TF.js input: model.json text and shards, each inline (base64) or a slice of a built-in shard plus padding. */
export interface TfjsCorpusEntry {
  readonly note?: string;
  readonly model: string;
  readonly shards: Record<string, { readonly base64: string } | { readonly ref: string; readonly end?: number; readonly pad?: number }>;
}

function saveFinding(name: string, entry: CorpusEntry): string | undefined {
  if (!FUZZ.saveDir) return undefined;
  const dir = resolve(FUZZ.saveDir, entry.kind);
  mkdirSync(dir, { recursive: true });
  const data =
    entry.kind === 'tfjs' ? new TextEncoder().encode(JSON.stringify(entry.entry, null, 1)) : entry.bytes;
  const hash = createHash('sha256').update(data).digest('hex').slice(0, 12);
  const ext = entry.kind === 'onnx' ? 'onnx' : entry.kind === 'tfjs' ? 'json' : entry.ext;
  const path = join(dir, `${name}-${hash}.${ext}`);
  writeFileSync(path, data);
  return path;
}

/** A failure's kind: its message with numbers and quoted names blanked, so that one bug is counted once. */
export function signature(message: string): string {
  return message
    .replace(/"[^"]*"/g, '"_"')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .slice(0, 200);
}

/** What the fuzz tests print for the long run to aggregate (one JSON line per property). */
function report(summary: Record<string, unknown>): void {
  if (FUZZ.collect || FUZZ.scale !== 1) console.log(`FUZZ-SUMMARY ${JSON.stringify(summary)}`);
}

/**
 * Checks `predicate` on `numRuns` inputs of `arb` (times FUZZ_RUNS), seeded by FUZZ_SEED. On a failure the shrunk
 * input is saved under FUZZ_SAVE_DIR (as `toEntry` makes it) and the test fails with the violation. With
 * FUZZ_COLLECT, every distinct kind of failure is collected first (see the top of this file).
 */
export function fuzz<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  numRuns: number,
  predicate: (input: T) => void,
  toEntry: (input: T) => CorpusEntry,
  stats?: FuzzStats,
): void {
  const total = runs(numRuns);
  const seen = new Map<string, string>();
  const started = performance.now();
  let done = 0;
  let seed = FUZZ.seed;
  const failures: string[] = [];
  while (done < total) {
    const details = fc.check(
      fc.property(arb, (input) => {
        try {
          predicate(input);
        } catch (e) {
          // Collecting: a kind of failure already saved does not stop the run again.
          if (FUZZ.collect && seen.has(signature(e instanceof Error ? e.message : String(e)))) return;
          throw e;
        }
      }),
      { numRuns: total - done, seed, endOnFailure: false },
    );
    done += details.numRuns;
    if (!details.failed) break;
    const input = details.counterexample?.[0] as T;
    let saved: string | undefined;
    try {
      saved = input === undefined ? undefined : saveFinding(name, toEntry(input));
    } catch (e) {
      saved = `(could not save: ${(e as Error).message})`;
    }
    const err = details.errorInstance;
    const why = err instanceof Error ? err.message : String(err);
    const line = `${name}: property broken after ${details.numRuns} runs (seed ${details.seed}, path "${details.counterexamplePath}"): ${why}${saved ? `\n  input saved to ${saved}` : ''}`;
    failures.push(line);
    if (!FUZZ.collect) break;
    seen.set(signature(why), saved ?? '');
    seed = (seed * 1103515245 + 12345) >>> 0;
  }
  report({ name, runs: done, ms: Math.round(performance.now() - started), seed: FUZZ.seed, failures: failures.length, kinds: [...seen.keys()], ...(stats ? { outcomes: stats } : {}) });
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

// ---------------------------------------------------------------------------------------------------------------
// Byte mutations

export type ByteMutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly length: number }
  | { readonly op: 'duplicate'; readonly from: number; readonly length: number; readonly at: number }
  | { readonly op: 'varint'; readonly at: number; readonly value: bigint };

/** Values a length or count field is inflated to. */
const BIG_VARINTS = [0x7fn, 0x80n, 0xffn, 0x7fffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 40n, (1n << 53n) + 1n, (1n << 63n) - 1n, (1n << 64n) - 1n];

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x08, 0x12, 0x1a, 0x22, 0x3a, 0x0b, 0x0c) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), from: fc.nat(), length: fc.integer({ min: 1, max: 256 }), at: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('varint' as const), at: fc.nat(), value: fc.constantFrom(...BIG_VARINTS) }) },
);

export const byteMutations = fc.array(byteMutation, { minLength: 1, maxLength: 6 });

function encodeVarint(v: bigint): number[] {
  const out: number[] = [];
  let x = v;
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return out;
}

export function mutateBytes(base: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let b = Array.from(base);
  for (const m of mutations) {
    const n = b.length;
    const pos = (x: number) => (n === 0 ? 0 : x % n);
    switch (m.op) {
      case 'flip':
        if (n) b[pos(m.at)]! ^= 1 << m.bit;
        break;
      case 'set':
        if (n) b[pos(m.at)] = m.value;
        break;
      case 'truncate':
        b = b.slice(0, pos(m.at));
        break;
      case 'insert':
        b.splice(pos(m.at), 0, ...m.bytes);
        break;
      case 'delete':
        b.splice(pos(m.at), m.length);
        break;
      case 'duplicate': {
        const from = pos(m.from);
        b.splice(pos(m.at), 0, ...b.slice(from, from + m.length));
        break;
      }
      case 'varint': {
        // Replace the varint starting at `at` (a length, count, dim or tag) with a big value.
        const at = pos(m.at);
        let end = at;
        while (end < n && b[end]! & 0x80 && end - at < 10) end++;
        b.splice(at, Math.min(end + 1, n) - at, ...encodeVarint(m.value));
        break;
      }
    }
  }
  return Uint8Array.from(b);
}

// ---------------------------------------------------------------------------------------------------------------
// JSON mutations (TF.js model.json)

export const HOSTILE_STRINGS = [
  '',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '"><svg onload=alert(1)>',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '../../../../etc/passwd',
  '/etc/passwd',
  'C:\\Windows\\win.ini',
  'https://evil.example/x.bin',
  'javascript:alert(1)',
  'data:,x',
  '\u0000',
  '\u202e\u0645',
  'x'.repeat(5000),
];

/** A value that JSON can carry and that no field expects. Infinity appears in the text as 1e999. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(null, true, false, 0, -1, 1, 1.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308, 1e-320, 'INF', '-INF', [], {}, [null], [0], [-1], [1e9, 1e9], [1e9, 1e9, 1e9], [0, 0], [1.5, 2]),
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.integer({ min: -5, max: 70000 }),
  fc.array(fc.integer({ min: -2, max: 5000 }), { maxLength: 5 }),
  fc.string({ maxLength: 12 }),
  fc.dictionary(fc.constantFrom('dtype', 'scale', 'min', 'name', 'shape', 'class_name', 'config', '__proto__'), fc.constantFrom<unknown>('uint8', 'float16', 'int4', 1, -1, 'INF', null, [2, 2])),
);

export type JsonMutation =
  | { readonly op: 'replace'; readonly path: number; readonly value: unknown }
  | { readonly op: 'delete'; readonly path: number }
  | { readonly op: 'add'; readonly path: number; readonly key: string; readonly value: unknown }
  | { readonly op: 'dup'; readonly path: number }
  | { readonly op: 'swap'; readonly path: number; readonly other: number }
  | { readonly op: 'deep'; readonly path: number; readonly depth: number };

export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('replace' as const), path: fc.nat(), value: hostileValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), path: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), path: fc.nat(), key: fc.constantFrom('name', 'shape', 'dtype', 'quantization', 'paths', 'weights', 'activation', 'padding', 'axis', 'groups', 'x', '__proto__', 'constructor'), value: hostileValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dup' as const), path: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swap' as const), path: fc.nat(), other: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deep' as const), path: fc.nat(), depth: fc.constantFrom(50, 2000, 20000) }) },
);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every container (object or array) path in the tree, parents before children. */
function containers(root: Json): { parent: Json[] | Record<string, Json>; key: string | number }[] {
  const out: { parent: Json[] | Record<string, Json>; key: string | number }[] = [];
  const stack: Json[] = [root];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ parent: v, key: i });
        if (x && typeof x === 'object') stack.push(x);
      });
    } else if (v && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        out.push({ parent: v, key: k });
        const x = v[k]!;
        if (x && typeof x === 'object') stack.push(x);
      }
    }
  }
  return out;
}

const DEEP = '__DEEP_';

/** Applies JSON mutations to a parsed model.json and writes it back as text (Infinity as 1e999, deep nesting inline). */
export function mutateJson(text: string, mutations: readonly JsonMutation[]): string {
  const root = JSON.parse(text) as Json;
  const deep: number[] = [];
  for (const m of mutations) {
    const slots = containers(root);
    if (slots.length === 0) break;
    const slot = slots[m.path % slots.length]!;
    const { parent, key } = slot;
    const set = (v: unknown) => {
      if (Array.isArray(parent)) parent[key as number] = v as Json;
      else Object.defineProperty(parent, key, { value: v, enumerable: true, writable: true, configurable: true });
    };
    switch (m.op) {
      case 'replace':
        set(structuredClone(m.value));
        break;
      case 'delete':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete (parent as Record<string, Json>)[key as string];
        break;
      case 'add': {
        const target = (parent as Record<string | number, Json>)[key];
        if (target && typeof target === 'object' && !Array.isArray(target)) {
          Object.defineProperty(target, m.key, { value: structuredClone(m.value), enumerable: true, writable: true, configurable: true });
        } else if (Array.isArray(target)) target.push(structuredClone(m.value) as Json);
        break;
      }
      case 'dup':
        if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(parent[key as number]!));
        break;
      case 'swap': {
        const other = slots[m.other % slots.length]!;
        const a = (parent as Record<string | number, Json>)[key];
        const b = (other.parent as Record<string | number, Json>)[other.key];
        if (a !== undefined && b !== undefined && a !== b) {
          set(structuredClone(b));
          if (Array.isArray(other.parent)) other.parent[other.key as number] = structuredClone(a);
          else (other.parent as Record<string, Json>)[other.key as string] = structuredClone(a);
        }
        break;
      }
      case 'deep':
        set(`${DEEP}${deep.length}`);
        deep.push(m.depth);
        break;
    }
  }
  let out = JSON.stringify(root);
  out = out.replace(/"(-?)INF"/g, '$11e999');
  deep.forEach((d, i) => {
    out = out.replace(`"${DEEP}${i}"`, `${'['.repeat(d)}1${']'.repeat(d)}`);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Files

export const readBytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));

/** Every external-data side file the golden and built-in ONNX models use, by base name. */
export function onnxSideFiles(): Map<string, Uint8Array> {
  const side = new Map<string, Uint8Array>();
  for (const dir of [goldensDir, join(goldensDir, 'resnet'), join(modelsDir, 'resnet20-cifar10')]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.onnx.data') && !side.has(f)) side.set(f, readBytes(join(dir, f)));
  }
  return side;
}

/** The ONNX models the mutation fuzzer starts from. */
export function onnxSeeds(): { name: string; bytes: Uint8Array }[] {
  const seeds: { name: string; bytes: Uint8Array }[] = [];
  for (const dir of [goldensDir, join(modelsDir, 'resnet20-cifar10')]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.onnx')) seeds.push({ name: f, bytes: readBytes(join(dir, f)) });
  }
  return seeds;
}

/** A built-in TF.js model: model.json text and its shards. */
export function tfjsSeed(id: string): { text: string; shards: Map<string, Uint8Array> } {
  const dir = join(modelsDir, id);
  const shards = new Map<string, Uint8Array>();
  for (const f of readdirSync(dir)) if (f.startsWith('group')) shards.set(f, readBytes(join(dir, f)));
  return { text: readFileSync(join(dir, 'model.json'), 'utf8'), shards };
}

/** Rebuilds the shards of a TF.js corpus entry. */
export function tfjsEntryShards(entry: TfjsCorpusEntry): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, s] of Object.entries(entry.shards)) {
    if ('base64' in s) {
      out.set(name, new Uint8Array(Buffer.from(s.base64, 'base64')));
      continue;
    }
    const src = readBytes(join(modelsDir, s.ref));
    const cut = src.subarray(0, s.end ?? src.length);
    const bytes = new Uint8Array(cut.length + (s.pad ?? 0));
    bytes.set(cut);
    out.set(name, bytes);
  }
  return out;
}

/** The committed corpus of one kind: [file name, contents]. */
export function corpus(kind: 'onnx' | 'tfjs' | 'images'): { file: string; bytes: Uint8Array }[] {
  const dir = join(corpusDir, kind);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.endsWith('.md'))
    .sort()
    .map((file) => ({ file, bytes: readBytes(join(dir, file)) }));
}
