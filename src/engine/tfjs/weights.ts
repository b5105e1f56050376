/**
 * TF.js weights: the model.json's weightsManifest (groups of weights stored back to back in binary shards) read
 * into float32 tensors by name. Quantized weights (uint8 / uint16 with scale and min, or float16) are dequantized.
 * Every size is checked against the bytes actually present, and against the import's allocation budget
 * (src/engine/onnx/limits.ts), before anything is allocated.
 */
import { AllocationBudget, IMPORT_LIMITS, ImportLimitError, brief, isSafeRelativePath } from '../onnx/limits';

/** One weight as the manifest describes it. */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly quantization?: { readonly dtype: string; readonly scale?: number; readonly min?: number };
}

export interface WeightGroup {
  readonly paths: readonly string[];
  readonly weights: readonly WeightSpec[];
}

export interface WeightTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Thrown for anything wrong with the manifest or the shards; the importer prefixes the model file's name. */
export class WeightsError extends Error {
  override name = 'WeightsError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bytesPer(dtype: string): number | undefined {
  switch (dtype) {
    case 'float32':
    case 'int32':
      return 4;
    case 'uint16':
    case 'float16':
      return 2;
    case 'uint8':
    case 'bool':
      return 1;
    default:
      return undefined;
  }
}

/** Validates the weightsManifest of a model.json. */
export function parseWeightsManifest(json: unknown): WeightGroup[] {
  if (json === undefined || json === null) return [];
  if (!Array.isArray(json)) throw new WeightsError('"weightsManifest" must be a list of weight groups');
  return json.map((g, gi): WeightGroup => {
    if (!isObject(g)) throw new WeightsError(`weight group ${gi} is not an object`);
    const { paths, weights } = g;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p.length > 0)) {
      throw new WeightsError(`weight group ${gi} has no valid "paths" list`);
    }
    for (const p of paths as string[]) {
      if (!isSafeRelativePath(p)) {
        throw new WeightsError(`weight group ${gi} names the file "${p.slice(0, 100)}", which is not beside model.json (absolute paths, ".." and URLs are refused)`);
      }
    }
    if (!Array.isArray(weights)) throw new WeightsError(`weight group ${gi} has no "weights" list`);
    const specs = weights.map((w, wi): WeightSpec => {
      if (!isObject(w) || typeof w.name !== 'string') throw new WeightsError(`weight ${wi} of group ${gi} has no name`);
      const name = w.name;
      const shape = w.shape;
      if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
        throw new WeightsError(`weight "${name}" has an invalid shape ${brief(shape)}`);
      }
      if (shape.length > IMPORT_LIMITS.maxRank) throw new WeightsError(`weight "${name}" has ${shape.length} dimensions; at most ${IMPORT_LIMITS.maxRank} are supported`);
      let values = 1;
      for (const d of shape as number[]) values *= d;
      if (values > IMPORT_LIMITS.maxTensorElements) {
        throw new WeightsError(`weight "${name}" declares shape [${shape.join(', ')}] (${values.toExponential(2)} values), far more than any model can hold`);
      }
      const dtype = typeof w.dtype === 'string' ? w.dtype : 'float32';
      if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') {
        throw new WeightsError(`weight "${name}" has dtype "${dtype}"; float32, int32 and bool are supported`);
      }
      const spec: { name: string; shape: number[]; dtype: string; quantization?: WeightSpec['quantization'] } = {
        name,
        shape: shape as number[],
        dtype,
      };
      if (w.quantization !== undefined && w.quantization !== null) {
        const q = w.quantization;
        if (!isObject(q) || typeof q.dtype !== 'string') throw new WeightsError(`weight "${name}" has an invalid "quantization"`);
        if (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16') {
          throw new WeightsError(`weight "${name}" is quantized to "${q.dtype}"; uint8, uint16 and float16 are supported`);
        }
        if (q.dtype !== 'float16') {
          if (typeof q.scale !== 'number' || !Number.isFinite(q.scale) || typeof q.min !== 'number' || !Number.isFinite(q.min)) {
            throw new WeightsError(`weight "${name}" is quantized to ${q.dtype} without a numeric "scale" and "min"`);
          }
        }
        spec.quantization = {
          dtype: q.dtype,
          ...(typeof q.scale === 'number' ? { scale: q.scale } : {}),
          ...(typeof q.min === 'number' ? { min: q.min } : {}),
        };
      }
      return spec;
    });
    return { paths: paths as string[], weights: specs };
  });
}

/** Bytes one weight takes in its shard (after quantization). */
export function storedBytes(w: WeightSpec): number {
  let n = 1;
  for (const d of w.shape) n *= d;
  return n * (bytesPer(w.quantization?.dtype ?? w.dtype) ?? 4);
}

/** Finds a shard among the given files: by its path as written, else by its base name. */
export function findShard(files: ReadonlyMap<string, Uint8Array>, path: string): Uint8Array | undefined {
  const clean = path.replace(/^\.\//, '');
  const base = clean.split(/[\\/]/).pop() ?? clean;
  return files.get(path) ?? files.get(clean) ?? files.get(base);
}

/** Every shard path of the manifest that `files` lacks. */
export function missingShards(groups: readonly WeightGroup[], files: ReadonlyMap<string, Uint8Array>): string[] {
  const missing: string[] = [];
  for (const g of groups) for (const p of g.paths) if (!findShard(files, p) && !missing.includes(p)) missing.push(p);
  return missing;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function decode(w: WeightSpec, bytes: Uint8Array): Float32Array {
  const count = bytes.byteLength / (bytesPer(w.quantization?.dtype ?? w.dtype) ?? 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  const q = w.quantization;
  if (q) {
    if (q.dtype === 'float16') {
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    }
    const scale = q.scale!;
    const min = q.min!;
    if (q.dtype === 'uint8') for (let i = 0; i < count; i++) out[i] = bytes[i]! * scale + min;
    else for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true) * scale + min;
    return out;
  }
  switch (w.dtype) {
    case 'float32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case 'int32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    default:
      for (let i = 0; i < count; i++) out[i] = bytes[i]!;
      return out;
  }
}

/** Scoped weight names are indexed by up to this many trailing segments (deeper lookups scan). */
const SUFFIX_DEPTH = 8;

/**
 * The weights of every group, decoded lazily by name. Checks up front that every shard is there and that each
 * group's shards hold at least the bytes its weights need. `missing` shards must have been reported before.
 */
export class WeightStore {
  private readonly index = new Map<string, { spec: WeightSpec; bytes: Uint8Array }>();
  private readonly cache = new Map<string, WeightTensor>();
  /** "/<last k segments>" of every weight name (":0" dropped) -> the names, built on the first scoped lookup. */
  private suffixes: Map<string, string[]> | undefined;

  constructor(
    groups: readonly WeightGroup[],
    files: ReadonlyMap<string, Uint8Array>,
    private readonly budget?: AllocationBudget,
  ) {
    for (const g of groups) {
      const shards = g.paths.map((p) => {
        const s = findShard(files, p);
        if (!s) throw new WeightsError(`the weight file ${p} is missing`);
        return s;
      });
      const total = shards.reduce((n, s) => n + s.byteLength, 0);
      let need = 0;
      for (const w of g.weights) need += storedBytes(w);
      if (need > total) {
        const names = g.paths.join(', ');
        throw new WeightsError(
          `${names} ${g.paths.length === 1 ? 'holds' : 'hold'} ${total} bytes, but the weights listed for ${g.paths.length === 1 ? 'it' : 'them'} need ${need}: truncated, or not the right file`,
        );
      }
      // Concatenate the group's shards (one copy; most groups have a single shard, used in place).
      let buffer: Uint8Array;
      if (shards.length === 1) {
        buffer = shards[0]!;
      } else {
        this.reserve(total, 1, `the weights of ${g.paths.join(', ').slice(0, 100)}`);
        buffer = new Uint8Array(total);
        let at = 0;
        for (const s of shards) {
          buffer.set(s, at);
          at += s.byteLength;
        }
      }
      let offset = 0;
      for (const w of g.weights) {
        const n = storedBytes(w);
        if (!this.index.has(w.name)) this.index.set(w.name, { spec: w, bytes: buffer.subarray(offset, offset + n) });
        offset += n;
      }
    }
  }

  get names(): string[] {
    return [...this.index.keys()];
  }

  private reserve(count: number, bytesPer: number, what: string): void {
    try {
      if (this.budget) this.budget.reserve(count, bytesPer, what);
      else if (count > IMPORT_LIMITS.maxTensorElements) throw new ImportLimitError(`${what} would have ${count} elements`);
    } catch (e) {
      if (e instanceof ImportLimitError) throw new WeightsError(e.message);
      throw e;
    }
  }

  /** Weight names that end with "/" + `name` (scoped names), through an index of name suffixes. */
  private scoped(name: string): string[] {
    const depth = name.split('/').length;
    if (depth > SUFFIX_DEPTH) {
      return [...this.index.keys()].filter((k) => k.replace(/:0$/, '').endsWith(`/${name}`));
    }
    if (!this.suffixes) {
      this.suffixes = new Map();
      for (const k of this.index.keys()) {
        const parts = k.replace(/:0$/, '').split('/');
        for (let i = Math.max(1, parts.length - SUFFIX_DEPTH); i < parts.length; i++) {
          const suffix = parts.slice(i).join('/');
          const list = this.suffixes.get(suffix) ?? [];
          if (!list.includes(k)) list.push(k);
          this.suffixes.set(suffix, list);
        }
      }
    }
    return this.suffixes.get(name) ?? [];
  }

  /**
   * A weight by its full name ("conv2d_1/kernel"), also found under a scope prefix ("model/conv2d_1/kernel")
   * or with a ":0" suffix. Undefined when absent; throws when the name is ambiguous.
   */
  find(name: string): WeightTensor | undefined {
    const cached = this.cache.get(name);
    if (cached) return cached;
    let entry = this.index.get(name) ?? this.index.get(`${name}:0`);
    if (!entry) {
      const hits = this.scoped(name);
      if (hits.length > 1) throw new WeightsError(`several weights match "${name}": ${hits.slice(0, 8).join(', ')}${hits.length > 8 ? ` and ${hits.length - 8} more` : ''}`);
      entry = hits[0] === undefined ? undefined : this.index.get(hits[0]);
    }
    if (!entry) return undefined;
    this.reserve(entry.bytes.byteLength / (bytesPer(entry.spec.quantization?.dtype ?? entry.spec.dtype) ?? 4), 4, `weight "${name}"`);
    const t: WeightTensor = { name, shape: entry.spec.shape, data: decode(entry.spec, entry.bytes) };
    this.cache.set(name, t);
    return t;
  }
}
