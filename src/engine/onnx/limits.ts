/**
 * Limits the model importers (ONNX and TF.js) enforce on untrusted files, each checked before the allocation it
 * guards, so that a hostile or damaged file ends in a clear ModelImportError instead of an out-of-memory tab, a
 * hang or a crash. docs/security.md lists them with where they are enforced and how they are tested.
 */

export const IMPORT_LIMITS = {
  /** Elements of any one tensor: a weight, a folded constant, or a value between two layers (1 GiB of float32). */
  maxTensorElements: 2 ** 28,
  /** Dimensions of any one shape. */
  maxRank: 8,
  /**
   * Bytes of all the arrays an import allocates (weights read from the files, constants folded at load, weights
   * transposed or dequantized for the engine): at most this much overall...
   */
  maxTotalBytes: 2 ** 31,
  /** ...and at most this allowance plus `bytesPerFileByte` times the size of the files given. */
  baseBytes: 64 * 2 ** 20,
  bytesPerFileByte: 8,
  /** ONNX nodes in a file (folded ones included), TF.js layers in a model.json, layers in the resulting graph. */
  maxNodes: 10_000,
  /** Model input: height and width of an image input... */
  maxInputSide: 4096,
  /** ...its channels... */
  maxInputChannels: 64,
  /** ...and the elements of any input (4096 x 4096 x 4). */
  maxInputElements: 2 ** 26,
  /** A TF.js model.json: its size (weights live in the shards)... */
  maxJsonBytes: 64 * 2 ** 20,
  /** ...and how deeply it nests. */
  maxJsonDepth: 64,
  /** Characters of a name from a file used to name a layer (longer ones are cut). */
  maxNameLength: 200,
  /** Characters of an error message (names and lists from the file are cut to fit). */
  maxMessageLength: 1500,
} as const;

/** Thrown when an input exceeds a limit; the importers turn it into a ModelImportError naming the file. */
export class ImportLimitError extends Error {
  override name = 'ImportLimitError';
}

const fmt = (n: number): string => (n >= 2 ** 20 && Number.isFinite(n) ? n.toExponential(2) : String(n));

/**
 * Why `shape` is not a valid shape (a message), or undefined when it is: a list of at most maxRank non-negative
 * safe integers whose product (computed without overflowing past 2^53) is at most maxTensorElements.
 */
export function shapeProblem(shape: readonly unknown[], what: string, allowZero = true): string | undefined {
  const show = (): string => `[${shape.slice(0, IMPORT_LIMITS.maxRank + 1).map((d) => String(d)).join(', ')}${shape.length > IMPORT_LIMITS.maxRank + 1 ? ', ...' : ''}]`;
  if (shape.length > IMPORT_LIMITS.maxRank) return `${what} has ${shape.length} dimensions; at most ${IMPORT_LIMITS.maxRank} are supported`;
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < (allowZero ? 0 : 1)) {
      return `${what} has an invalid shape ${show()} (dimensions must be ${allowZero ? 'non-negative' : 'positive'} integers)`;
    }
    n *= d;
    if (n > IMPORT_LIMITS.maxTensorElements) {
      return `${what} has shape ${show()}, more than the ${fmt(IMPORT_LIMITS.maxTensorElements)} elements a tensor may have`;
    }
  }
  return undefined;
}

/** The element count of a shape that shapeProblem accepted. */
export function elements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Why a model input shape is not accepted, or undefined. `layout` says which axes are channels, height, width. */
export function inputProblem(shape: readonly number[], layout: 'nchw' | 'nhwc' | 'other'): string | undefined {
  const L = IMPORT_LIMITS;
  if (shape.length > L.maxRank) return `the input has ${shape.length} dimensions; at most ${L.maxRank} are supported`;
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 1)) return `the input has an invalid shape [${shape.join(', ')}]`;
  if (layout !== 'other' && shape.length === 4) {
    const [c, h, w] = layout === 'nchw' ? [shape[1]!, shape[2]!, shape[3]!] : [shape[3]!, shape[1]!, shape[2]!];
    if (h > L.maxInputSide || w > L.maxInputSide) return `the input is ${w}x${h} pixels; at most ${L.maxInputSide}x${L.maxInputSide} is supported`;
    if (c > L.maxInputChannels) return `the input has ${c} channels; at most ${L.maxInputChannels} are supported`;
  }
  let n = 1;
  for (const d of shape) n = Math.min(n * d, 2 ** 53);
  if (n > L.maxInputElements) return `the input has ${fmt(n)} values; at most ${fmt(L.maxInputElements)} are supported`;
  return undefined;
}

/**
 * Bytes an import may allocate, derived from the size of the files given (see IMPORT_LIMITS). Every allocation
 * that is not a fixed small size reserves its bytes here first.
 */
export class AllocationBudget {
  private used = 0;
  readonly limit: number;

  constructor(fileBytes: number) {
    const L = IMPORT_LIMITS;
    this.limit = Math.min(L.maxTotalBytes, L.baseBytes + L.bytesPerFileByte * fileBytes);
  }

  /** Reserves `count` elements of `bytesPer` bytes for `what`; throws ImportLimitError when over. */
  reserve(count: number, bytesPer: number, what: string): void {
    if (!Number.isSafeInteger(count) || count < 0) throw new ImportLimitError(`${what} would have ${count} elements`);
    if (count > IMPORT_LIMITS.maxTensorElements) {
      throw new ImportLimitError(`${what} would have ${fmt(count)} elements, more than the ${fmt(IMPORT_LIMITS.maxTensorElements)} a tensor may have`);
    }
    const bytes = count * bytesPer;
    if (this.used + bytes > this.limit) {
      throw new ImportLimitError(
        `${what} would take the memory the import uses past ${fmt(this.limit)} bytes (${fmt(IMPORT_LIMITS.baseBytes)} plus ${IMPORT_LIMITS.bytesPerFileByte} per byte of the files, at most ${fmt(IMPORT_LIMITS.maxTotalBytes)})`,
      );
    }
    this.used += bytes;
  }

  get bytesUsed(): number {
    return this.used;
  }
}

/** A name from a file, cut to maxNameLength characters, unsafe characters replaced by "?" (for layer names). */
export function clipName(name: string): string {
  const cut = name.length > IMPORT_LIMITS.maxNameLength ? name.slice(0, IMPORT_LIMITS.maxNameLength) : name;
  return cut.replace(UNSAFE_CHARS, '?');
}

/**
 * Control characters (C0, DEL, C1) and bidirectional overrides: a name from a file that holds them could rewrite a
 * terminal (escape sequences) or make text read differently than it is stored.
 */
// eslint-disable-next-line no-control-regex -- these are what is matched
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Whether a name from a file holds control characters or bidirectional overrides. */
export function hasUnsafeChars(name: string): boolean {
  UNSAFE_CHARS.lastIndex = 0;
  return UNSAFE_CHARS.test(name);
}

/** The text with control characters and bidirectional overrides written out as \u{...} escapes. */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_CHARS, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** A message for the user: unsafe characters escaped, cut to maxMessageLength characters. */
export function clipMessage(message: string): string {
  const max = IMPORT_LIMITS.maxMessageLength;
  const safe = escapeUnsafe(message);
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

/** A value from a file, as short JSON for an error message (never throws, whatever its depth or size). */
export function brief(value: unknown, max = 60): string {
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = Array.isArray(value) ? '[...]' : typeof value === 'object' ? '{...}' : String(value);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Whether a file reference from a model (an ONNX external-data location, a TF.js weight path) stays inside the
 * model's folder: relative, no "..", no drive letter or URL scheme, no control characters. Readers fetch or read
 * only such names, so a model cannot make the CLI read /etc/passwd or the app fetch from another origin.
 */
export function isSafeRelativePath(path: string): boolean {
  if (path.length === 0 || path.length > 1024) return false;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(path)) return false;
  if (/^[\\/]/.test(path) || /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(path)) return false;
  return path.split(/[\\/]/).every((part) => part !== '..');
}
