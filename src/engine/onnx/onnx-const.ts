/**
 * Constant tensors for the ONNX importer: reading TensorProto payloads (inline or external) and evaluating the
 * small operators that exporters use to compute shapes and constants (Shape, Gather, Concat, Cast, ...), so that
 * those chains fold away at load time.
 */

import { AllocationBudget, IMPORT_LIMITS, ImportLimitError, isSafeRelativePath, shapeProblem } from './limits';

/** ONNX TensorProto.DataType codes the importer understands. */
export const DT = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;

/**
 * A constant value known at load time. Float32 data is kept as a Float32Array (weights stay exact and compact);
 * every other type (integers, bool, double) is held as a Float64Array. int64 values beyond 2^53 lose precision,
 * which only matters for the INT64_MAX/MIN sentinels exporters put in Slice, and those are clamped anyway.
 */
export interface ConstTensor {
  /** ONNX data type; float16/bfloat16 are widened to FLOAT on read. */
  readonly dtype: number;
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array;
}

/** Thrown by evaluators; the importer turns it into a ModelImportError naming the node. */
export class FoldError extends Error {
  override name = 'FoldError';
}

/** int64 as decoded by protobufjs: a number, a Long (when long.js is around) or a decimal string. */
export type LongLike = number | string | { toNumber(): number } | null | undefined;

export function num(v: LongLike): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  return v.toNumber();
}

export interface TensorProtoLike {
  dims?: LongLike[] | null;
  dataType?: number | null;
  floatData?: number[] | null;
  int32Data?: number[] | null;
  int64Data?: LongLike[] | null;
  doubleData?: number[] | null;
  uint64Data?: LongLike[] | null;
  stringData?: Uint8Array[] | null;
  rawData?: Uint8Array | null;
  name?: string | null;
  externalData?: { key?: string | null; value?: string | null }[] | null;
  dataLocation?: number | null;
}

export function isFloatType(dtype: number): boolean {
  return dtype === DT.FLOAT || dtype === DT.DOUBLE || dtype === DT.FLOAT16 || dtype === DT.BFLOAT16;
}

export function dtypeName(dtype: number): string {
  for (const [k, v] of Object.entries(DT)) if (v === dtype) return k.toLowerCase();
  return `type ${dtype}`;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A fresh array of n elements for a constant of `dtype`. n is checked against the tensor size limit, and reserved
 * in `budget` when there is one, before anything is allocated.
 */
function alloc(dtype: number, n: number, budget: AllocationBudget | undefined, what = 'the result'): Float32Array | Float64Array {
  reserve(n, dtype === DT.FLOAT ? 4 : 8, budget, what);
  return dtype === DT.FLOAT ? new Float32Array(n) : new Float64Array(n);
}

function reserve(n: number, bytesPer: number, budget: AllocationBudget | undefined, what: string): void {
  try {
    if (budget) budget.reserve(n, bytesPer, what);
    else if (!Number.isSafeInteger(n) || n < 0 || n > IMPORT_LIMITS.maxTensorElements) throw new ImportLimitError(`${what} would have ${n} elements`);
  } catch (e) {
    if (e instanceof ImportLimitError) throw new FoldError(e.message);
    throw e;
  }
}

/** Throws a FoldError unless `shape` is a valid shape within the limits. */
function checkShape(shape: readonly number[], what: string): number[] {
  const p = shapeProblem(shape, what);
  if (p) throw new FoldError(p);
  return [...shape];
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function bf16ToFloat(h: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, (h & 0xffff) << 16, true);
  return buf.getFloat32(0, true);
}

/** Element count and the payload bytes' expected length, or null for variable-size types. */
function elemBytes(dtype: number): number | null {
  switch (dtype) {
    case DT.FLOAT:
    case DT.INT32:
    case DT.UINT32:
      return 4;
    case DT.DOUBLE:
    case DT.INT64:
    case DT.UINT64:
      return 8;
    case DT.INT16:
    case DT.UINT16:
    case DT.FLOAT16:
    case DT.BFLOAT16:
      return 2;
    case DT.INT8:
    case DT.UINT8:
    case DT.BOOL:
      return 1;
    default:
      return null;
  }
}

/** Decodes little-endian bytes of the given type. */
export function decodeRaw(dtype: number, bytes: Uint8Array, count: number): Float32Array | Float64Array {
  const eb = elemBytes(dtype);
  if (eb === null) throw new FoldError(`tensors of ${dtypeName(dtype)} are not supported`);
  if (bytes.byteLength < count * eb) {
    throw new FoldError(`holds ${bytes.byteLength} bytes, ${count * eb} expected`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, count * eb);
  if (dtype === DT.FLOAT) {
    // Copy into a fresh, aligned buffer (the payload sits at any offset inside the protobuf). Every host that runs
    // WebGPU is little-endian, which is also ONNX's byte order.
    // (Node's Buffer.slice makes a view, not a copy: copy explicitly.)
    const copy = new Uint8Array(count * 4);
    copy.set(bytes.subarray(0, count * 4));
    return new Float32Array(copy.buffer);
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const o = i * eb;
    switch (dtype) {
      case DT.DOUBLE:
        out[i] = dv.getFloat64(o, true);
        break;
      case DT.INT64:
        out[i] = Number(dv.getBigInt64(o, true));
        break;
      case DT.UINT64:
        out[i] = Number(dv.getBigUint64(o, true));
        break;
      case DT.INT32:
        out[i] = dv.getInt32(o, true);
        break;
      case DT.UINT32:
        out[i] = dv.getUint32(o, true);
        break;
      case DT.INT16:
        out[i] = dv.getInt16(o, true);
        break;
      case DT.UINT16:
        out[i] = dv.getUint16(o, true);
        break;
      case DT.FLOAT16:
        out[i] = halfToFloat(dv.getUint16(o, true));
        break;
      case DT.BFLOAT16:
        out[i] = bf16ToFloat(dv.getUint16(o, true));
        break;
      case DT.INT8:
        out[i] = dv.getInt8(o);
        break;
      case DT.UINT8:
      case DT.BOOL:
        out[i] = dv.getUint8(o);
        break;
    }
  }
  return out;
}

/** float16/bfloat16 become float32 so that the rest of the importer sees one float type. */
function normalise(dtype: number, shape: number[], data: Float32Array | Float64Array): ConstTensor {
  if (dtype === DT.FLOAT16 || dtype === DT.BFLOAT16) return { dtype: DT.FLOAT, shape, data: new Float32Array(data) };
  return { dtype, shape, data };
}

/**
 * Reads a TensorProto. `external` resolves data_location=EXTERNAL payloads to their bytes (it throws when the side
 * file is missing).
 */
export function readTensor(
  t: TensorProtoLike,
  external: (location: string, offset: number, length: number | undefined) => Uint8Array,
  budget?: AllocationBudget,
): ConstTensor {
  const dtype = t.dataType ?? 0;
  const dims = t.dims ?? [];
  if (dims.length > IMPORT_LIMITS.maxRank) checkShape(dims.map(() => 1), 'it'); // before converting a long list
  const shape = checkShape(dims.map(num), 'it');
  const count = sizeOf(shape);
  if (dtype === DT.STRING) throw new FoldError('string tensors are not supported');
  if (elemBytes(dtype) === null) throw new FoldError(`tensors of ${dtypeName(dtype)} are not supported`);
  // Decoded values are float32 (float, float16, bfloat16) or float64 (everything else).
  const decodedBytes = dtype === DT.FLOAT || dtype === DT.FLOAT16 || dtype === DT.BFLOAT16 ? 4 : 8;
  if (t.dataLocation === 1) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location');
    if (!location) throw new FoldError('external data without a location');
    if (!isSafeRelativePath(location)) {
      throw new FoldError(`its external data location "${location.slice(0, 100)}" is not a file name beside the model (absolute paths, ".." and URLs are refused)`);
    }
    const field = (key: string): number | undefined => {
      if (!kv.has(key)) return undefined;
      const raw = kv.get(key)!;
      const v = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(v)) throw new FoldError(`its external data ${key} "${raw.slice(0, 40)}" is not a non-negative integer`);
      return v;
    };
    const offset = field('offset') ?? 0;
    const length = field('length');
    const needed = count * elemBytes(dtype)!;
    if (length !== undefined && length < needed) throw new FoldError(`its external data length ${length} is less than the ${needed} bytes of shape [${shape.join(', ')}]`);
    const bytes = external(location, offset, length ?? needed);
    if (bytes.byteLength < needed) throw new FoldError(`holds ${bytes.byteLength} bytes, ${needed} expected`);
    reserve(count, decodedBytes, budget, 'the tensor');
    return normalise(dtype, shape, decodeRaw(dtype, bytes, count));
  }
  if (t.rawData && t.rawData.byteLength > 0) {
    if (t.rawData.byteLength < count * elemBytes(dtype)!) throw new FoldError(`holds ${t.rawData.byteLength} bytes, ${count * elemBytes(dtype)!} expected`);
    reserve(count, decodedBytes, budget, 'the tensor');
    return normalise(dtype, shape, decodeRaw(dtype, t.rawData, count));
  }
  reserve(count, decodedBytes, budget, 'the tensor');
  let src: ArrayLike<number> | undefined;
  switch (dtype) {
    case DT.FLOAT:
      src = t.floatData ?? [];
      break;
    case DT.DOUBLE:
      src = t.doubleData ?? [];
      break;
    case DT.INT64:
      src = (t.int64Data ?? []).map(num);
      break;
    case DT.UINT64:
    case DT.UINT32:
      src = (t.uint64Data ?? []).map(num);
      break;
    case DT.FLOAT16:
      src = (t.int32Data ?? []).map(halfToFloat);
      break;
    case DT.BFLOAT16:
      src = (t.int32Data ?? []).map(bf16ToFloat);
      break;
    default:
      src = t.int32Data ?? [];
  }
  if (src.length !== count) {
    // A scalar or empty tensor with no payload at all is a zero-filled tensor of that size only if count is 0.
    throw new FoldError(`holds ${src.length} values, ${count} expected for shape [${shape.join(', ')}]`);
  }
  const data = dtype === DT.FLOAT || dtype === DT.FLOAT16 || dtype === DT.BFLOAT16 ? new Float32Array(src) : new Float64Array(src);
  return normalise(dtype, shape, data);
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluators

export interface AttrBag {
  int(name: string, fallback: number): number;
  ints(name: string): number[] | undefined;
  float(name: string, fallback: number): number;
  floats(name: string): number[] | undefined;
  tensor(name: string): ConstTensor | undefined;
  has(name: string): boolean;
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

function normAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new FoldError(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** The values as integers (truncated); NaN is refused, infinities are kept (Slice clamps them, shapes refuse them). */
export function toInts(t: ConstTensor): number[] {
  if (t.data.length > IMPORT_LIMITS.maxTensorElements) throw new FoldError('too many values');
  return Array.from(t.data, (v) => {
    if (Number.isNaN(v)) throw new FoldError('a NaN where integers are expected');
    return Math.trunc(v);
  });
}

function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new FoldError(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return checkShape(out, 'the broadcast result');
}

/** Index into `shape` (right-aligned, broadcast) for every element of `outShape`. */
function broadcastIndex(shape: readonly number[], outShape: readonly number[]): Int32Array {
  const n = sizeOf(outShape);
  const idx = new Int32Array(n);
  const r = outShape.length;
  const st = strides(shape);
  const outSt = strides(outShape);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < r; d++) {
      const c = Math.floor(rem / outSt[d]!);
      rem -= c * outSt[d]!;
      const sd = d - (r - shape.length);
      if (sd >= 0 && shape[sd]! !== 1) j += c * st[sd]!;
    }
    idx[i] = j;
  }
  return idx;
}

function resultType(ts: readonly ConstTensor[]): number {
  // Mixed types do not occur in valid ONNX; take the first input's type.
  return ts[0]!.dtype;
}

function elementwise(ts: readonly ConstTensor[], f: (...x: number[]) => number, outType: number | undefined, budget: AllocationBudget | undefined): ConstTensor {
  let shape: number[] = [...ts[0]!.shape];
  for (const t of ts.slice(1)) shape = broadcastShape(shape, t.shape);
  const dtype = outType ?? resultType(ts);
  const n = sizeOf(shape);
  const out = alloc(dtype, n, budget);
  reserve(n * ts.length, 4, budget, 'the broadcast indices');
  const idx = ts.map((t) => broadcastIndex(t.shape, shape));
  const args = new Array<number>(ts.length);
  const integer = !isFloatType(dtype);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < ts.length; k++) args[k] = ts[k]!.data[idx[k]![i]!]!;
    const v = f(...args);
    out[i] = integer ? Math.trunc(v) : v;
  }
  return { dtype, shape, data: out };
}

function reshapeTarget(inShape: readonly number[], spec: readonly number[], allowZero: boolean): number[] {
  if (spec.length > IMPORT_LIMITS.maxRank) throw new FoldError(`the reshape target has ${spec.length} dimensions; at most ${IMPORT_LIMITS.maxRank} are supported`);
  const out = spec.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= inShape.length) throw new FoldError(`Reshape copies dimension ${i}, which the input lacks`);
      return inShape[i]!;
    }
    return d;
  });
  const total = sizeOf(inShape);
  const unknown = out.filter((d) => d === -1).length;
  if (unknown > 1) throw new FoldError('Reshape has more than one -1');
  if (unknown === 1) {
    const known = sizeOf(out.filter((d) => d !== -1));
    if (known === 0 || total % known !== 0) {
      throw new FoldError(`cannot reshape [${inShape.join(', ')}] to [${spec.join(', ')}]`);
    }
    out[out.indexOf(-1)] = total / known;
  }
  if (out.some((d) => d < 0) || sizeOf(out) !== total) {
    throw new FoldError(`cannot reshape [${inShape.join(', ')}] to [${spec.slice(0, 10).join(', ')}${spec.length > 10 ? ', ...' : ''}]`);
  }
  return checkShape(out, 'the reshape target');
}

/** Resolves a Reshape's shape spec (0 = copy, -1 = infer) against the input shape. */
export function resolveReshape(inShape: readonly number[], spec: readonly number[], allowZero = false): number[] {
  return reshapeTarget(inShape, spec, allowZero);
}

export function flattenShape(inShape: readonly number[], axisAttr: number): number[] {
  const r = inShape.length;
  const axis = axisAttr < 0 ? axisAttr + r : axisAttr;
  if (axis < 0 || axis > r) throw new FoldError(`Flatten axis ${axisAttr} is out of range for rank ${r}`);
  return [sizeOf(inShape.slice(0, axis)), sizeOf(inShape.slice(axis))];
}

export function unsqueezeShape(inShape: readonly number[], axes: readonly number[]): number[] {
  const r = inShape.length + axes.length;
  if (r > IMPORT_LIMITS.maxRank) throw new FoldError(`Unsqueeze to ${r} dimensions; at most ${IMPORT_LIMITS.maxRank} are supported`);
  const norm = axes.map((a) => normAxis(a, r, 'Unsqueeze axis')).sort((x, y) => x - y);
  if (new Set(norm).size !== norm.length) throw new FoldError(`Unsqueeze lists an axis twice ([${axes.join(', ')}])`);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(norm.includes(i) ? 1 : inShape[k++]!);
  return out;
}

export function squeezeShape(inShape: readonly number[], axes: readonly number[] | undefined): number[] {
  if (!axes || axes.length === 0) return inShape.filter((d) => d !== 1);
  const norm = axes.map((a) => normAxis(a, inShape.length, 'Squeeze axis'));
  for (const a of norm) if (inShape[a] !== 1) throw new FoldError(`Squeeze axis ${a} has size ${inShape[a]}, not 1`);
  return inShape.filter((_, i) => !norm.includes(i));
}

export interface SliceSpec {
  /** Per axis of the input, normalised: start within the axis, step != 0, count = output length. */
  readonly starts: number[];
  readonly ends: number[];
  readonly steps: number[];
  readonly counts: number[];
}

/** ONNX Slice semantics (opset 10+): clamps starts/ends against the input shape, handles negative indices/steps. */
export function normaliseSlice(
  inShape: readonly number[],
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[] | undefined,
  steps: readonly number[] | undefined,
): SliceSpec {
  const r = inShape.length;
  const S = inShape.map(() => 0);
  const E = [...inShape];
  const T = inShape.map(() => 1);
  const ax = axes ?? starts.map((_, i) => i);
  if (starts.length !== ends.length || ax.length !== starts.length || (steps && steps.length !== starts.length)) {
    throw new FoldError('Slice starts/ends/axes/steps differ in length');
  }
  const seen = new Set<number>();
  ax.forEach((a0, i) => {
    const a = normAxis(a0, r, 'Slice axis');
    if (seen.has(a)) throw new FoldError(`Slice lists axis ${a} twice`);
    seen.add(a);
    const dim = inShape[a]!;
    const step = steps ? steps[i]! : 1;
    if (step === 0) throw new FoldError('Slice step 0');
    let s = starts[i]!;
    let e = ends[i]!;
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
    } else {
      s = Math.min(Math.max(s, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
    }
    S[a] = s;
    E[a] = e;
    T[a] = step;
  });
  const counts = inShape.map((_, a) => {
    const t = T[a]!;
    const c = t > 0 ? Math.ceil((E[a]! - S[a]!) / t) : Math.ceil((S[a]! - E[a]!) / -t);
    return Math.max(0, c);
  });
  return { starts: S, ends: E, steps: T, counts };
}

function sliceConst(x: ConstTensor, spec: SliceSpec, budget: AllocationBudget | undefined): ConstTensor {
  const outShape = spec.counts;
  const n = sizeOf(outShape);
  const out = alloc(x.dtype, n, budget);
  const inSt = strides(x.shape);
  const outSt = strides(outShape);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < outShape.length; d++) {
      const c = Math.floor(rem / outSt[d]!);
      rem -= c * outSt[d]!;
      j += (spec.starts[d]! + c * spec.steps[d]!) * inSt[d]!;
    }
    out[i] = x.data[j]!;
  }
  return { dtype: x.dtype, shape: outShape, data: out };
}

function transposeConst(x: ConstTensor, perm: readonly number[], budget: AllocationBudget | undefined): ConstTensor {
  const r = x.shape.length;
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= r)) {
    throw new FoldError(`Transpose perm [${perm.slice(0, 10).join(', ')}] is not a permutation of the ${r} axes`);
  }
  const outShape = perm.map((p) => x.shape[p]!);
  const inSt = strides(x.shape);
  const outSt = strides(outShape);
  const n = sizeOf(outShape);
  const out = alloc(x.dtype, n, budget);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < r; d++) {
      const c = Math.floor(rem / outSt[d]!);
      rem -= c * outSt[d]!;
      j += c * inSt[perm[d]!]!;
    }
    out[i] = x.data[j]!;
  }
  return { dtype: x.dtype, shape: outShape, data: out };
}

export function transpose2d(x: ConstTensor, budget?: AllocationBudget): ConstTensor {
  return transposeConst(x, [1, 0], budget);
}

function castTo(x: ConstTensor, to: number, budget: AllocationBudget | undefined): ConstTensor {
  if (to === DT.STRING) throw new FoldError('Cast to string is not supported');
  const dtype = to === DT.FLOAT16 || to === DT.BFLOAT16 ? DT.FLOAT : to;
  if (elemBytes(dtype) === null) throw new FoldError(`Cast to ${dtypeName(to)} is not supported`);
  const out = alloc(dtype, x.data.length, budget);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i]!;
    out[i] = dtype === DT.BOOL ? (v !== 0 ? 1 : 0) : isFloatType(dtype) ? v : Math.trunc(v);
  }
  return { dtype, shape: x.shape, data: out };
}

function gather(data: ConstTensor, indices: ConstTensor, axis0: number, budget: AllocationBudget | undefined): ConstTensor {
  const r = data.shape.length;
  const axis = normAxis(axis0, r, 'Gather axis');
  const dim = data.shape[axis]!;
  const outer = sizeOf(data.shape.slice(0, axis));
  const inner = sizeOf(data.shape.slice(axis + 1));
  const idx = toInts(indices).map((i) => {
    const j = i < 0 ? i + dim : i;
    if (j < 0 || j >= dim) throw new FoldError(`Gather index ${i} is out of range for size ${dim}`);
    return j;
  });
  const outShape = checkShape([...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)], 'the Gather result');
  const out = alloc(data.dtype, outer * idx.length * inner, budget);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const j of idx) {
      const base = (a * dim + j) * inner;
      for (let k = 0; k < inner; k++) out[o++] = data.data[base + k]!;
    }
  }
  return { dtype: data.dtype, shape: outShape, data: out };
}

function concat(ts: readonly ConstTensor[], axis0: number, budget: AllocationBudget | undefined): ConstTensor {
  const first = ts[0];
  if (!first) throw new FoldError('Concat has no inputs');
  const r = first.shape.length;
  const axis = normAxis(axis0, r, 'Concat axis');
  for (const t of ts) {
    if (t.shape.length !== r || t.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
      throw new FoldError('Concat inputs differ in shape');
    }
  }
  const outer = sizeOf(first.shape.slice(0, axis));
  const inner = sizeOf(first.shape.slice(axis + 1));
  const total = ts.reduce((s, t) => s + t.shape[axis]!, 0);
  const outShape = [...first.shape];
  outShape[axis] = total;
  checkShape(outShape, 'the Concat result');
  const out = alloc(first.dtype, outer * total * inner, budget);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const t of ts) {
      const chunk = t.shape[axis]! * inner;
      for (let k = 0; k < chunk; k++) out[o++] = t.data[a * chunk + k]!;
    }
  }
  return { dtype: first.dtype, shape: outShape, data: out };
}

function expand(x: ConstTensor, shape: readonly number[], budget: AllocationBudget | undefined): ConstTensor {
  checkShape(shape, 'the Expand shape');
  const outShape = broadcastShape(x.shape, shape);
  const out = alloc(x.dtype, sizeOf(outShape), budget);
  reserve(out.length, 4, budget, 'the broadcast indices');
  const idx = broadcastIndex(x.shape, outShape);
  for (let i = 0; i < idx.length; i++) out[i] = x.data[idx[i]!]!;
  return { dtype: x.dtype, shape: outShape, data: out };
}

function ints1d(values: readonly number[]): ConstTensor {
  checkShape([values.length], 'the list');
  return { dtype: DT.INT64, shape: [values.length], data: Float64Array.from(values) };
}

/** Operators the importer evaluates at load time when all their inputs are constants. */
export const FOLDABLE_OPS: ReadonlySet<string> = new Set([
  'Constant',
  'Shape',
  'Size',
  'Gather',
  'Concat',
  'Cast',
  'Unsqueeze',
  'Squeeze',
  'ConstantOfShape',
  'Transpose',
  'Reshape',
  'Flatten',
  'Identity',
  'Dropout',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Neg',
  'Sqrt',
  'Reciprocal',
  'Abs',
  'Min',
  'Max',
  'Equal',
  'Less',
  'Greater',
  'Not',
  'Where',
  'Slice',
  'Range',
  'Expand',
]);

/**
 * Evaluates one foldable node. `inputs[i]` is undefined for an omitted optional input; `inputShapes[i]` is the
 * (possibly non-constant) input's shape, which is all Shape/Size need.
 */
export function evaluate(
  op: string,
  inputs: readonly (ConstTensor | undefined)[],
  inputShapes: readonly (readonly number[] | undefined)[],
  attrs: AttrBag,
  budget?: AllocationBudget,
): ConstTensor[] {
  const need = (i: number): ConstTensor => {
    const t = inputs[i];
    if (!t) throw new FoldError(`input ${i} is missing`);
    return t;
  };
  const f32 = (dtype: number, v: number): number => (dtype === DT.FLOAT ? Math.fround(v) : v);
  switch (op) {
    case 'Constant': {
      const t = attrs.tensor('value');
      if (t) return [t];
      if (attrs.has('value_float')) return [{ dtype: DT.FLOAT, shape: [], data: Float32Array.of(attrs.float('value_float', 0)) }];
      const fl = attrs.floats('value_floats');
      if (fl) {
        reserve(fl.length, 4, budget, 'the constant');
        return [{ dtype: DT.FLOAT, shape: [fl.length], data: Float32Array.from(fl) }];
      }
      if (attrs.has('value_int')) return [{ dtype: DT.INT64, shape: [], data: Float64Array.of(attrs.int('value_int', 0)) }];
      const is = attrs.ints('value_ints');
      if (is) return [ints1d(is)];
      throw new FoldError('Constant without a supported value attribute');
    }
    case 'Shape': {
      const shape = inputShapes[0];
      if (!shape) throw new FoldError('input shape unknown');
      const r = shape.length;
      let start = attrs.int('start', 0);
      let end = attrs.int('end', r);
      if (start < 0) start += r;
      if (end < 0) end += r;
      start = Math.min(Math.max(start, 0), r);
      end = Math.min(Math.max(end, 0), r);
      return [ints1d(shape.slice(start, Math.max(start, end)))];
    }
    case 'Size': {
      const shape = inputShapes[0];
      if (!shape) throw new FoldError('input shape unknown');
      return [{ dtype: DT.INT64, shape: [], data: Float64Array.of(sizeOf(shape)) }];
    }
    case 'Gather':
      return [gather(need(0), need(1), attrs.int('axis', 0), budget)];
    case 'Concat':
      return [concat(inputs.filter((t): t is ConstTensor => t !== undefined), attrs.int('axis', 0), budget)];
    case 'Cast':
      return [castTo(need(0), attrs.int('to', DT.FLOAT), budget)];
    case 'Unsqueeze': {
      const x = need(0);
      const axes = inputs[1] ? toInts(inputs[1]) : attrs.ints('axes');
      if (!axes) throw new FoldError('Unsqueeze without axes');
      return [{ ...x, shape: unsqueezeShape(x.shape, axes) }];
    }
    case 'Squeeze': {
      const x = need(0);
      const axes = inputs[1] ? toInts(inputs[1]) : attrs.ints('axes');
      return [{ ...x, shape: squeezeShape(x.shape, axes) }];
    }
    case 'ConstantOfShape': {
      const shape = checkShape(toInts(need(0)), 'the ConstantOfShape shape');
      const v = attrs.tensor('value') ?? { dtype: DT.FLOAT, shape: [1], data: Float32Array.of(0) };
      const out = alloc(v.dtype, sizeOf(shape), budget);
      out.fill(v.data[0] ?? 0);
      return [{ dtype: v.dtype, shape, data: out }];
    }
    case 'Transpose': {
      const x = need(0);
      const perm = attrs.ints('perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i);
      return [transposeConst(x, perm, budget)];
    }
    case 'Reshape': {
      const x = need(0);
      return [{ ...x, shape: reshapeTarget(x.shape, toInts(need(1)), attrs.int('allowzero', 0) === 1) }];
    }
    case 'Flatten': {
      const x = need(0);
      return [{ ...x, shape: flattenShape(x.shape, attrs.int('axis', 1)) }];
    }
    case 'Identity':
    case 'Dropout':
      return [need(0)];
    case 'Add':
      return [elementwise([need(0), need(1)], (a, b) => f32(need(0).dtype, a + b), undefined, budget)];
    case 'Sub':
      return [elementwise([need(0), need(1)], (a, b) => f32(need(0).dtype, a - b), undefined, budget)];
    case 'Mul':
      return [elementwise([need(0), need(1)], (a, b) => f32(need(0).dtype, a * b), undefined, budget)];
    case 'Div': {
      const integer = !isFloatType(need(0).dtype);
      return [
        elementwise([need(0), need(1)], (a, b) => {
          if (integer && b === 0) throw new FoldError('integer division by zero');
          return f32(need(0).dtype, a / b);
        }, undefined, budget),
      ];
    }
    case 'Pow':
      return [elementwise([need(0), need(1)], (a, b) => f32(need(0).dtype, a ** b), need(0).dtype, budget)];
    case 'Neg':
      return [elementwise([need(0)], (a) => -a, undefined, budget)];
    case 'Abs':
      return [elementwise([need(0)], (a) => Math.abs(a), undefined, budget)];
    case 'Sqrt':
      return [elementwise([need(0)], (a) => f32(need(0).dtype, Math.sqrt(a)), undefined, budget)];
    case 'Reciprocal':
      return [elementwise([need(0)], (a) => f32(need(0).dtype, 1 / a), undefined, budget)];
    case 'Min':
    case 'Max': {
      const ts = inputs.filter((t): t is ConstTensor => t !== undefined);
      if (ts.length === 0) throw new FoldError(`${op} has no inputs`);
      const g = op === 'Min' ? Math.min : Math.max;
      return [ts.slice(1).reduce((acc, t) => elementwise([acc, t], (a, b) => g(a, b), undefined, budget), ts[0]!)];
    }
    case 'Equal':
      return [elementwise([need(0), need(1)], (a, b) => (a === b ? 1 : 0), DT.BOOL, budget)];
    case 'Less':
      return [elementwise([need(0), need(1)], (a, b) => (a < b ? 1 : 0), DT.BOOL, budget)];
    case 'Greater':
      return [elementwise([need(0), need(1)], (a, b) => (a > b ? 1 : 0), DT.BOOL, budget)];
    case 'Not':
      return [elementwise([need(0)], (a) => (a === 0 ? 1 : 0), DT.BOOL, budget)];
    case 'Where':
      return [elementwise([need(0), need(1), need(2)], (c, a, b) => (c !== 0 ? a : b), need(1).dtype, budget)];
    case 'Slice': {
      const x = need(0);
      const spec = normaliseSlice(
        x.shape,
        toInts(need(1)),
        toInts(need(2)),
        inputs[3] ? toInts(inputs[3]) : undefined,
        inputs[4] ? toInts(inputs[4]) : undefined,
      );
      return [sliceConst(x, spec, budget)];
    }
    case 'Range': {
      const scalar = (i: number, what: string): number => {
        const t = need(i);
        if (t.data.length !== 1) throw new FoldError(`Range ${what} must be a single value, got shape [${t.shape.join(', ')}]`);
        return t.data[0]!;
      };
      const start = scalar(0, 'start');
      const limit = scalar(1, 'limit');
      const delta = scalar(2, 'delta');
      if (delta === 0) throw new FoldError('Range delta 0');
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      if (!Number.isFinite(n)) throw new FoldError(`Range from ${start} to ${limit} by ${delta} has no finite length`);
      const out = alloc(need(0).dtype, n, budget, 'the Range result');
      for (let i = 0; i < n; i++) out[i] = start + i * delta;
      return [{ dtype: need(0).dtype, shape: [n], data: out }];
    }
    case 'Expand':
      return [expand(need(0), toInts(need(1)), budget)];
    default:
      throw new FoldError(`no evaluator for ${op}`);
  }
}
