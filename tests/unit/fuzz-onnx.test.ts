/**
 * Fuzzing the ONNX importer (issue 8): random bytes, mutated golden and built-in models, and random ModelProtos
 * built from the supported operators. Every input must end in a Graph (that passes shape inference or fails it
 * with a clear error) or a ModelImportError naming the file, quickly; see tests/fuzz/harness.ts for the exact
 * property and the FUZZ_* variables of the long run (docs/security.md). Inputs that once broke the importer are
 * replayed from tests/fuzz/corpus/onnx/.
 */
import * as protobuf from 'protobufjs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelImportError, importOnnx, onnxExternalFiles } from '../../src/engine/onnx/import-onnx';
import { IMPORT_LIMITS } from '../../src/engine/onnx/limits';
import { onnxProto } from '../../src/engine/onnx/onnx-schema';
import { byteMutations, corpus, fuzz, mutateBytes, newStats, onnxSeeds, runs, tally } from '../fuzz/harness';
import { chainModel, checkOnnx, encodeChain, encodeLen, encodeRandom, onnxEntry, randomModel } from '../fuzz/onnx-gen';

const seeds = onnxSeeds();

// ---------------------------------------------------------------------------------------------------------------

describe('ONNX importer fuzzing', () => {
  it('replays the corpus of inputs that once broke the importer', () => {
    const entries = corpus('onnx');
    expect(entries.length).toBeGreaterThan(0);
    for (const { file, bytes } of entries) {
      try {
        checkOnnx(bytes, file);
      } catch (e) {
        throw new Error(`corpus entry ${file}: ${(e as Error).message}`, { cause: e });
      }
    }
  });

  it('random bytes (and bytes after a ModelProto header) give a clear error', () => {
    const stats = newStats();
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }),
      fc.uint8Array({ maxLength: 2048 }).map((b) => Uint8Array.from([0x08, 0x08, 0x3a, ...encodeLen(b.length), ...b])),
    );
    fuzz('onnx-random-bytes', arb, 400, (bytes) => tally(stats, checkOnnx(bytes)), onnxEntry, stats);
    expect(stats.importErrors).toBeGreaterThan(0);
  });

  it('mutated golden and built-in models (bit flips, truncation, inserted/deleted ranges, inflated varints)', () => {
    expect(seeds.length).toBeGreaterThanOrEqual(8);
    const stats = newStats();
    const arb = fc.record({ seed: fc.nat({ max: seeds.length - 1 }), mutations: byteMutations });
    const make = ({ seed, mutations }: { seed: number; mutations: Parameters<typeof mutateBytes>[1] }) => mutateBytes(seeds[seed]!.bytes, mutations);
    fuzz('onnx-mutated', arb, 300, (m) => tally(stats, checkOnnx(make(m))), (m) => onnxEntry(make(m)), stats);
    // Some mutations leave a model that still imports (a flipped weight bit), most do not.
    expect(stats.graphs + stats.shapeErrors).toBeGreaterThan(0);
    expect(stats.importErrors).toBeGreaterThan(0);
  });

  it('random ModelProtos of supported operators with random attributes and wiring', () => {
    const stats = newStats();
    fuzz('onnx-structured', randomModel, 1500, (m) => tally(stats, checkOnnx(encodeRandom(m))), (m) => onnxEntry(encodeRandom(m)), stats);
    expect(stats.importErrors).toBeGreaterThan(0);
  });

  it('valid chains of supported layers with hostile attributes, dims, types and wiring swapped in', () => {
    const stats = newStats();
    fuzz('onnx-chains', chainModel, 1200, (m) => tally(stats, checkOnnx(encodeChain(m))), (m) => onnxEntry(encodeChain(m)), stats);
    // Unperturbed chains import; perturbed ones mostly do not.
    // (About a third import: enough of them reach every layer kind.)
    expect(stats.graphs).toBeGreaterThan(runs(1200) / 10);
    expect(stats.importErrors).toBeGreaterThan(runs(1200) / 10);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The documented limits (docs/security.md), each refused before the allocation it guards, quickly.

const ModelProto = protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');

interface TinyNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: { name: string; [k: string]: unknown }[];
}
function tiny(spec: { dims?: (number | string)[]; nodes: TinyNode[]; inits?: Record<string, unknown>[]; output?: string }): Uint8Array {
  return ModelProto.encode(
    ModelProto.fromObject({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'limits',
        node: spec.nodes.map((n, i) => ({ opType: n.op, name: n.name ?? `n${i}`, input: n.inputs, output: n.outputs, attribute: n.attrs ?? [] })),
        initializer: spec.inits ?? [],
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: (spec.dims ?? [1, 4]).map((d) => ({ dimValue: d })) } } } }],
        output: [{ name: spec.output ?? spec.nodes.at(-1)!.outputs[0]! }],
      },
    }),
  ).finish();
}
const i64 = (name: string, v: (number | string)[]) => ({ name, dims: [v.length], dataType: 7, int64Data: v });
const f32 = (name: string, dims: number[], n = dims.reduce((a, b) => a * b, 1)) => ({ name, dims, dataType: 1, rawData: new Uint8Array(4 * n) });

/** Imports and expects a clear ModelImportError; returns its message. (No wall-clock bound: a guard that does not
 * hold shows as the allocation it guards, or the test's timeout.) */
function refused(bytes: Uint8Array, side?: Map<string, Uint8Array>): string {
  let message = '';
  try {
    importOnnx({ name: 'limits.onnx', bytes }, side);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    expect((e as ModelImportError).cause).toBeUndefined();
    message = (e as Error).message;
  }
  expect(message, 'expected a ModelImportError').toMatch(/^limits\.onnx/);
  return message;
}

describe('ONNX import limits', () => {
  it('refuses more than 10,000 nodes', () => {
    const nodes = Array.from({ length: IMPORT_LIMITS.maxNodes + 1 }, (_, i) => ({ op: 'Relu', inputs: [i === 0 ? 'x' : `t${i - 1}`], outputs: [`t${i}`] }));
    expect(refused(tiny({ nodes }))).toMatch(/10001 nodes; at most 10000/);
  });

  it('refuses inputs over 4096x4096, 64 channels, 2^26 values or 8 dimensions', () => {
    const relu = [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }];
    expect(refused(tiny({ dims: [1, 3, 20000, 20000], nodes: relu }))).toMatch(/20000x20000 pixels; at most 4096x4096/);
    expect(refused(tiny({ dims: [1, 65, 8, 8], nodes: relu }))).toMatch(/65 channels; at most 64/);
    expect(refused(tiny({ dims: [1, 2 ** 27], nodes: relu }))).toMatch(/values; at most 6\.71e\+7/);
    expect(refused(tiny({ dims: [1, 1, 1, 1, 1, 1, 1, 1, 1], nodes: relu }))).toMatch(/9 dimensions; at most 8/);
  });

  it('refuses tensors over 2^28 elements, bad dims and overflowing shapes before reading them', () => {
    const gemm = [{ op: 'Gemm', inputs: ['x', 'W'], outputs: ['y'] }];
    const huge = (dims: (number | string)[]) => tiny({ nodes: gemm, inits: [{ name: 'W', dims, dataType: 1, rawData: new Uint8Array(16) }] });
    expect(refused(huge([2 ** 20, 2 ** 20]))).toMatch(/initializer "W": it has shape \[1048576, 1048576\], more than the 2\.68e\+8 elements/);
    expect(refused(huge([-1, 4]))).toMatch(/invalid shape \[-1, 4\] \(dimensions must be non-negative integers\)/);
    expect(refused(huge(['9223372036854775807', 2]))).toMatch(/invalid shape/);
    expect(refused(huge([2 ** 31, 2 ** 31, 2 ** 31]))).toMatch(/more than the 2\.68e\+8 elements/);
    expect(refused(huge([1, 1, 1, 1, 1, 1, 1, 1, 1]))).toMatch(/9 dimensions; at most 8/);
    // Declared sizes beyond the bytes present.
    expect(refused(huge([1000, 1000]))).toMatch(/initializer "W": holds 16 bytes, 4000000 expected/);
    const typed = tiny({ nodes: gemm, inits: [{ name: 'W', dims: [4, 4], dataType: 1, floatData: [1, 2] }] });
    expect(refused(typed)).toMatch(/holds 2 values, 16 expected/);
  });

  it('bounds constant folding: ConstantOfShape, Expand, Range, broadcasting', () => {
    const then = (op: string, inputs: string[], inits: Record<string, unknown>[], attrs: TinyNode['attrs'] = []) =>
      refused(tiny({ nodes: [{ op, inputs, outputs: ['c'], attrs }, { op: 'Relu', inputs: ['x'], outputs: ['y'] }], inits, output: 'y' }));
    expect(then('ConstantOfShape', ['s'], [i64('s', [65536, 65536])])).toMatch(/node "n0" \(ConstantOfShape\): the ConstantOfShape shape has shape \[65536, 65536\], more than/);
    expect(then('ConstantOfShape', ['s'], [i64('s', [-3])])).toMatch(/invalid shape \[-3\]/);
    expect(then('Expand', ['v', 's'], [f32('v', [1]), i64('s', [16384, 16384])])).toMatch(/\(Expand\): the result would take the memory the import uses past/);
    expect(then('Range', ['a', 'b', 'd'], [f32('a', []), { name: 'b', dims: [], dataType: 1, floatData: [1e12] }, { name: 'd', dims: [], dataType: 1, floatData: [1] }])).toMatch(/\(Range\): the Range result would have 1\.00e\+12 elements/);
    expect(then('Range', ['a', 'b', 'd'], [f32('a', []), { name: 'b', dims: [], dataType: 1, floatData: [Infinity] }, { name: 'd', dims: [], dataType: 1, floatData: [1] }])).toMatch(/no finite length/);
    expect(then('Add', ['u', 'v'], [f32('u', [8192, 1]), f32('v', [1, 8192])])).toMatch(/\(Add\): the result would take the memory/);
  });

  it('bounds everything an import allocates by the file size: 64 MiB plus 8 bytes per byte of the files', () => {
    // A 4 MiB constant concatenated with itself again and again: each result is fine, all of them are not.
    const nodes: TinyNode[] = [];
    for (let i = 0; i < 40; i++) nodes.push({ op: 'Concat', inputs: ['W', 'W'], outputs: [`c${i}`], attrs: [{ name: 'axis', type: 2, i: 0 }] });
    nodes.push({ op: 'Relu', inputs: ['x'], outputs: ['y'] });
    const bytes = tiny({ nodes, inits: [f32('W', [2 ** 20])], output: 'y' });
    expect(bytes.length).toBeGreaterThan(4 * 2 ** 20);
    expect(refused(bytes)).toMatch(/would take the memory the import uses past 1\.01e\+8 bytes \(6\.71e\+7 plus 8 per byte of the files, at most 2\.15e\+9\)/);
  });

  it('refuses nodes that redefine a value, and external data outside the model folder', () => {
    const dup = tiny({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['t'] }, { op: 'Relu', inputs: ['t'], outputs: ['t'] }] });
    expect(refused(dup)).toMatch(/node "n1" writes "t", which another node already defines/);
    const shadow = tiny({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['x'] }] });
    expect(refused(shadow)).toMatch(/writes "x", which the graph input already defines/);
    for (const location of ['../../etc/passwd', '/etc/passwd', 'C:\\secret.bin', 'https://evil.example/w.bin', 'a/../../b']) {
      const bytes = tiny({
        nodes: [{ op: 'Gemm', inputs: ['x', 'W'], outputs: ['y'], attrs: [{ name: 'transB', type: 2, i: 1 }] }],
        inits: [{ name: 'W', dims: [2, 4], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: location }] }],
      });
      expect(onnxExternalFiles(bytes)).toEqual([]);
      const side = new Map([[location, new Uint8Array(32)], ['passwd', new Uint8Array(32)]]);
      expect(refused(bytes, side)).toMatch(/is not a file name beside the model/);
    }
    const offset = tiny({
      nodes: [{ op: 'Gemm', inputs: ['x', 'W'], outputs: ['y'], attrs: [{ name: 'transB', type: 2, i: 1 }] }],
      inits: [{ name: 'W', dims: [2, 4], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '-8' }] }],
    });
    expect(refused(offset, new Map([['w.bin', new Uint8Array(64)]]))).toMatch(/external data offset "-8" is not a non-negative integer/);
  });

  // No wall-clock bound (performance is the benchmark's to measure): a quadratic naming would still run past the
  // test's timeout on these 8000 nodes with 100 kB names.
  it('names layers from long and repeated names: unique, and clipped', () => {
    const long = `/${'a.'.repeat(50_000)}b/Relu`;
    const nodes = Array.from({ length: 8000 }, (_, i) => ({ op: 'Relu', name: i % 2000 === 1 ? long : '/same/Relu', inputs: [i === 0 ? 'x' : `t${i - 1}`], outputs: [`t${i}`] }));
    nodes.push({ op: 'Gemm', name: '/fc/Gemm', inputs: ['t7999', 'W'], outputs: ['y'] });
    const g = importOnnx({ name: 'names.onnx', bytes: tiny({ nodes, inits: [f32('W', [4, 2])] }) });
    expect(g.nodes).toHaveLength(8001);
    expect(new Set(g.nodes.map((n) => n.name)).size).toBe(8001);
    expect(Math.max(...g.nodes.map((n) => n.name.length))).toBeLessThanOrEqual(2 * IMPORT_LIMITS.maxNameLength + 8);
  });

  it('writes control characters and bidirectional overrides in names as "?" (layers) or escapes (messages)', () => {
    const evil = '\u001b]52;c;cm0gLXJmIH4=\u0007\u202eevil';
    const g = importOnnx({ name: 'names.onnx', bytes: tiny({ nodes: [{ op: 'Relu', name: `/${evil}/Relu`, inputs: ['x'], outputs: ['y'] }] }) });
    expect(g.nodes[0]!.name).toBe('?]52;c;cm0gLXJmIH4=??evil');
    const message = refused(tiny({ nodes: [{ op: 'Foo', name: evil, inputs: ['x'], outputs: ['y'] }] }));
    expect(message).toBe('limits.onnx: unsupported ONNX operators: Foo (node "?]52;c;cm0gLXJmIH4=??evil")');
    // Names that reach a message unclipped are escaped there.
    const output = refused(tiny({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], output: evil }));
    expect(output).toBe('limits.onnx: the output "\\u{1b}]52;c;cm0gLXJmIH4=\\u{7}\\u{202e}evil" is not computed by any supported layer');
  });
});
