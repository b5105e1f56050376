/**
 * The importer decodes ONNX with protobufjs's static code (src/engine/onnx/onnx-proto.generated.js), generated from
 * src/engine/onnx/onnx-schema.ts by `npm run gen:onnx-proto`, because protobufjs's reflection compiles its decoders
 * with Function(), which the app's Content Security Policy forbids (docs/security.md). This file checks that:
 * - the committed code is what the generator makes from the schema today (it fails when either is stale);
 * - the static decoder gives exactly what reflection gave, on every ONNX file we have and on damaged bytes;
 * - it decodes with Function and eval unavailable, as under the CSP;
 * - a decoding failure that is not damaged bytes (CSP, memory, a bug) is reported as what it is.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import * as protobuf from 'protobufjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GENERATED_DTS, GENERATED_JS, generateOnnxProto } from '../../scripts/gen-onnx-proto';
import { ModelImportError, describeDecodeFailure, importOnnx } from '../../src/engine/onnx/import-onnx';
import { onnx } from '../../src/engine/onnx/onnx-proto.generated';
import { onnxProto } from '../../src/engine/onnx/onnx-schema';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = resolve(repoRoot, '..', 'shared');

function onnxFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return onnxFiles(p);
    return n.endsWith('.onnx') ? [p] : [];
  });
}

const FILES = [
  ...onnxFiles(join(shared, 'goldens')),
  ...onnxFiles(join(shared, 'models')),
  ...onnxFiles(join(repoRoot, 'tests', 'fixtures')),
  ...onnxFiles(join(repoRoot, 'public', 'models')),
];

/** A fresh reflected type, as the importer used before (its decoder is compiled on first use with Function()). */
const reflected = (): protobuf.Type => protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');

/**
 * Compares two decoded messages field by field, through the reflected schema, reading each field as the importer
 * does (property access, so prototype defaults count), plus the unknown fields each decoder kept. Returns the path
 * of the first difference, or null.
 */
function difference(type: protobuf.Type, a: Record<string, unknown>, b: Record<string, unknown>, path: string): string | null {
  const unknownA = (a.$unknowns as Uint8Array[] | undefined) ?? [];
  const unknownB = (b.$unknowns as Uint8Array[] | undefined) ?? [];
  if (unknownA.length !== unknownB.length) return `${path}.$unknowns`;
  for (let i = 0; i < unknownA.length; i++) if (!sameBytes(unknownA[i]!, unknownB[i]!)) return `${path}.$unknowns[${i}]`;
  for (const field of type.fieldsArray) {
    field.resolve();
    const p = `${path}.${field.name}`;
    const va = a[field.name];
    const vb = b[field.name];
    if (field.repeated) {
      const la = va as unknown[];
      const lb = vb as unknown[];
      if (!Array.isArray(la) || !Array.isArray(lb) || la.length !== lb.length) return p;
      for (let i = 0; i < la.length; i++) {
        const d = valueDifference(field, la[i], lb[i], `${p}[${i}]`);
        if (d) return d;
      }
    } else {
      const d = valueDifference(field, va, vb, p);
      if (d) return d;
    }
  }
  return null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** The importer's reading of a bytes field: its bytes when it is a non-empty Uint8Array, else nothing. */
const bytesOf = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : new Uint8Array(0));

function valueDifference(field: protobuf.Field, a: unknown, b: unknown, path: string): string | null {
  if (field.resolvedType instanceof protobuf.Type) {
    if (a === null || a === undefined || b === null || b === undefined) return a == b ? null : path;
    return difference(field.resolvedType, a as Record<string, unknown>, b as Record<string, unknown>, path);
  }
  if (field.type === 'bytes') {
    // An absent bytes field: reflection's default is an empty array, the static code's an empty Uint8Array; the
    // importer reads both as no bytes (`instanceof Uint8Array && byteLength > 0`).
    if ((a instanceof Uint8Array) !== (b instanceof Uint8Array) && bytesOf(a).byteLength + bytesOf(b).byteLength > 0) return path;
    return sameBytes(bytesOf(a), bytesOf(b)) ? null : path;
  }
  if (typeof a === 'object' && a !== null) {
    // int64 as a Long (long.js is a dependency of protobufjs): same bits, same signedness.
    return typeof b === 'object' && b !== null && String(a) === String(b) && (a as { unsigned: boolean }).unsigned === (b as { unsigned: boolean }).unsigned ? null : path;
  }
  return Object.is(a, b) ? null : path;
}

type Outcome = { ok: Record<string, unknown> } | { error: string };
function decodeWith(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): Outcome {
  try {
    return { ok: decode(bytes) as Record<string, unknown> };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
}

function sameOutcome(type: protobuf.Type, a: Outcome, b: Outcome): string | null {
  if ('error' in a || 'error' in b) {
    const ea = 'error' in a ? a.error : 'ok';
    const eb = 'error' in b ? b.error : 'ok';
    return ea === eb ? null : `${ea} vs ${eb}`;
  }
  return difference(type, a.ok, b.ok, 'ModelProto');
}

describe('the generated ONNX decoder', () => {
  it('is what `npm run gen:onnx-proto` makes from onnx-schema.ts (rerun it after changing the schema)', async () => {
    const { js, dts } = await generateOnnxProto();
    expect(readFileSync(GENERATED_JS, 'utf8'), `${relative(repoRoot, GENERATED_JS)} is stale: run npm run gen:onnx-proto`).toBe(js);
    expect(readFileSync(GENERATED_DTS, 'utf8'), `${relative(repoRoot, GENERATED_DTS)} is stale: run npm run gen:onnx-proto`).toBe(dts);
  });

  it('generates no code at run time and needs only protobufjs/minimal', () => {
    const js = readFileSync(GENERATED_JS, 'utf8');
    expect(js).not.toMatch(/\bFunction\s*\(|\beval\s*\(|new\s+Function\b/);
    const imports = [...js.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(imports).toEqual(['protobufjs/minimal.js']);
  });

  it('decodes every ONNX file we have exactly as protobufjs reflection did', () => {
    expect(FILES.length).toBeGreaterThan(20);
    const type = reflected();
    for (const file of FILES) {
      const bytes = new Uint8Array(readFileSync(file));
      const before = decodeWith((b) => type.decode(b), bytes);
      const now = decodeWith((b) => onnx.ModelProto.decode(b), bytes);
      expect('ok' in before, `${relative(repoRoot, file)} decodes`).toBe(true);
      expect(sameOutcome(type, before, now), relative(repoRoot, file)).toBeNull();
    }
  });

  it('gives the same result or the same error as reflection on damaged and random bytes', () => {
    const type = reflected();
    const seeds = ['goldens/cnn.onnx', 'goldens/bncnn.legacy.onnx', 'goldens/mlp.onnx'].map((f) => new Uint8Array(readFileSync(join(shared, f))));
    const damaged = fc.tuple(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.option(fc.nat(), { nil: undefined }),
    ).map(([i, sets, cut]) => {
      const b = seeds[i]!.slice();
      for (const [at, v] of sets) b[at % b.length] = v;
      return cut === undefined ? b : b.subarray(0, cut % b.length);
    });
    const input = fc.oneof(damaged, fc.uint8Array({ maxLength: 256 }));
    fc.assert(
      fc.property(input, (bytes) => {
        const d = sameOutcome(type, decodeWith((b) => type.decode(b), bytes), decodeWith((b) => onnx.ModelProto.decode(b), bytes));
        expect(d).toBeNull();
      }),
      { seed: 20261206, numRuns: 600 },
    );
  });
});

describe('decoding under a Content Security Policy without unsafe-eval', () => {
  const realFunction = globalThis.Function;
  const realEval = globalThis.eval;
  const forbid = (): void => {
    const refuse = (): never => {
      throw new EvalError("Refused to evaluate a string as JavaScript because 'unsafe-eval' is not an allowed source of script");
    };
    globalThis.Function = refuse as unknown as FunctionConstructor;
    globalThis.eval = refuse;
  };
  afterEach(() => {
    globalThis.Function = realFunction;
    globalThis.eval = realEval;
  });

  it('the static decoder and the importer work with Function() and eval() refused; reflection does not', () => {
    const bytes = new Uint8Array(readFileSync(join(shared, 'goldens', 'cnn.legacy.onnx')));
    const type = reflected();
    forbid();
    const graph = importOnnx({ name: 'cnn.legacy.onnx', bytes });
    expect(graph.nodes.length).toBeGreaterThan(0);
    // Reflection compiles its decoder on first use, which is what failed in the browser.
    let thrown: unknown;
    try {
      type.decode(bytes);
    } catch (e) {
      thrown = e;
    }
    globalThis.Function = realFunction;
    globalThis.eval = realEval;
    expect(thrown).toBeInstanceOf(EvalError);
    const { malformed, reason } = describeDecodeFailure(thrown);
    expect(malformed).toBe(false);
    expect(reason).toMatch(/Content Security Policy/);
    expect(reason).not.toMatch(/damaged/);
  });
});

describe('a failed decode names its cause', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const bytes = (): Uint8Array => new Uint8Array(readFileSync(join(shared, 'goldens', 'cnn.legacy.onnx')));

  function importError(thrown: unknown): ModelImportError {
    vi.spyOn(onnx.ModelProto, 'decode').mockImplementation(() => {
      throw thrown;
    });
    try {
      importOnnx({ name: 'model.onnx', bytes: bytes() });
    } catch (e) {
      expect(e).toBeInstanceOf(ModelImportError);
      return e as ModelImportError;
    }
    throw new Error('the import did not fail');
  }

  it('damaged bytes: "damaged", with protobufjs\'s message and no cause', () => {
    const e = importError(new RangeError('index out of range: 12 + 10 > 16'));
    expect(e.message).toBe('model.onnx: not an ONNX model, or the file is damaged (index out of range: 12 + 10 > 16)');
    expect(e.cause).toBeUndefined();
    // The real decoder on real damage says the same kind of thing.
    vi.restoreAllMocks();
    expect(() => importOnnx({ name: 'cut.onnx', bytes: bytes().subarray(0, 100) })).toThrow(/^cut\.onnx: not an ONNX model, or the file is damaged \(/);
    expect(() => importOnnx({ name: 'text.onnx', bytes: new TextEncoder().encode('this is not a protobuf, just some text') })).toThrow(/damaged/);
    // producer_name (field 2) holding the byte 0xff, which is not UTF-8.
    expect(() => importOnnx({ name: 'utf8.onnx', bytes: Uint8Array.of(0x12, 0x01, 0xff) })).toThrow(/^utf8\.onnx: not an ONNX model, or the file is damaged \(/);
  });

  it('a CSP violation (EvalError): names the Content Security Policy, not damage', () => {
    const cause = new EvalError("Refused to evaluate a string as JavaScript because 'unsafe-eval' is not an allowed source of script");
    const e = importError(cause);
    expect(e.message).toMatch(/^model\.onnx: .*Content Security Policy forbids code generation.*EvalError: Refused to evaluate/);
    expect(e.message).not.toMatch(/damaged/);
    expect(e.cause).toBe(cause);
  });

  it('running out of memory: says so', () => {
    for (const msg of ['Array buffer allocation failed', 'Invalid typed array length: 4294967296', 'out of memory']) {
      const e = importError(new RangeError(msg));
      expect(e.message).toMatch(/ran out of memory while decoding the model \(RangeError: /);
      expect(e.message).not.toMatch(/damaged/);
      vi.restoreAllMocks();
    }
  });

  it('anything else (a bug): its name and message, not "damaged"', () => {
    const e = importError(new TypeError("Cannot read properties of undefined (reading 'len')"));
    expect(e.message).toBe("model.onnx: the model could not be decoded (TypeError: Cannot read properties of undefined (reading 'len'))");
    expect(describeDecodeFailure('a string').reason).toBe('the model could not be decoded (string: a string)');
    expect(describeDecodeFailure(new RangeError('Maximum call stack size exceeded')).reason).toMatch(/ran out of stack/);
    // A protobufjs-like message from an error of another kind is not taken for damage.
    expect(describeDecodeFailure(new TypeError('invalid wire type 7 at offset 3')).malformed).toBe(false);
  });

  it('every message protobufjs throws for malformed bytes counts as damage', () => {
    for (const msg of [
      'index out of range: 5 + 1 > 5',
      'index out of range',
      'invalid varint encoding',
      'invalid tag encoding',
      'invalid length encoding',
      'invalid wire type 6 at offset 12',
      'illegal tag: field number 0',
      'invalid end group tag',
      'missing end group',
      'max depth exceeded',
    ]) {
      expect(describeDecodeFailure(new Error(msg)).malformed, msg).toBe(true);
    }
    // A string field that is not UTF-8 (proto3 checks them): the TypeError of a strict TextDecoder, as each engine words it.
    for (const msg of [
      'The encoded data was not valid for encoding utf-8',
      "Failed to execute 'decode' on 'TextDecoder': The encoded data was not valid.",
      'TextDecoder.decode: Decoding failed.',
    ]) {
      expect(describeDecodeFailure(new TypeError(msg)), msg).toEqual({ malformed: true, reason: `not an ONNX model, or the file is damaged (${msg})` });
    }
  });
});
