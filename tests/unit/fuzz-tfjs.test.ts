/**
 * Fuzzing the TF.js layers importer (issue 8): random text and JSON, the built-in models' model.json mutated as
 * JSON (wrong types, huge shapes, missing and extra fields, hostile strings), as text, and together with an
 * inconsistent weights manifest, odd quantization and cut or missing shards; and valid random Keras models built
 * with tests/fixtures/tfjs-builder.ts, then mutated the same ways. The property is the ONNX fuzzer's (see
 * tests/fuzz/harness.ts). Inputs that once broke the importer are replayed from tests/fuzz/corpus/tfjs/.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelImportError } from '../../src/engine/onnx/import-onnx';
import { IMPORT_LIMITS } from '../../src/engine/onnx/limits';
import { importTfjs, tfjsWeightFiles } from '../../src/engine/tfjs/import-tfjs';
import { buildTfjs, sequential, values } from '../fixtures/tfjs-builder';
import { byteMutations, corpus, fuzz, jsonMutation, mutateBytes, mutateJson, newStats, runs, tally, tfjsEntryShards, tfjsSeed, type TfjsCorpusEntry } from '../fuzz/harness';
import {
  buildKeras,
  checkTfjs,
  kerasModel,
  manifestMutation,
  mutateManifest,
  mutateShards,
  shardMutation,
  tfjsEntry,
  tfjsEntryFrom,
} from '../fuzz/tfjs-gen';

const seeds = { tinyvgg: tfjsSeed('tinyvgg'), 'darknet-tiny': tfjsSeed('darknet-tiny') };
type SeedId = keyof typeof seeds;
const seedIds = Object.keys(seeds) as SeedId[];

const mutation = fc.record({
  seed: fc.constantFrom(...seedIds),
  json: fc.array(jsonMutation, { maxLength: 4 }),
  manifest: fc.array(manifestMutation, { maxLength: 2 }),
  shards: fc.array(shardMutation, { maxLength: 2 }),
});
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutated(m: Mutation): { text: string; shards: Map<string, Uint8Array> } {
  const s = seeds[m.seed];
  return { text: mutateJson(mutateManifest(s.text, m.manifest), m.json), shards: mutateShards(s.shards, m.shards) };
}

describe('TF.js importer fuzzing', () => {
  it('replays the corpus of inputs that once broke the importer', () => {
    const entries = corpus('tfjs');
    expect(entries.length).toBeGreaterThan(0);
    for (const { file, bytes } of entries) {
      const entry = JSON.parse(new TextDecoder().decode(bytes)) as TfjsCorpusEntry;
      try {
        checkTfjs(entry.model, tfjsEntryShards(entry), 'model.json');
      } catch (e) {
        throw new Error(`corpus entry ${file}: ${(e as Error).message}`, { cause: e });
      }
    }
  });

  it('random text, random JSON and random topologies give a clear error', () => {
    const stats = newStats();
    const text = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((b) => new TextDecoder().decode(b)),
      fc.json({ maxDepth: 4 }),
      fc.json({ maxDepth: 4 }).map((j) => `{"modelTopology": ${j}, "weightsManifest": ${j}}`),
      fc.json({ maxDepth: 4 }).map((j) => `{"modelTopology": {"model_config": {"class_name": "Sequential", "config": ${j}}}}`),
      fc.json({ maxDepth: 4 }).map((j) => `{"modelTopology": {"model_config": {"class_name": "Model", "config": {"layers": ${j}, "input_layers": ${j}, "output_layers": ${j}}}}}`),
    );
    fuzz('tfjs-random', text, 600, (t) => tally(stats, checkTfjs(t, new Map())), (t) => tfjsEntry(t, new Map()), stats);
    expect(stats.importErrors).toBeGreaterThan(0);
  });

  it('built-in models mutated as JSON, with an inconsistent manifest and cut or missing shards', () => {
    const stats = newStats();
    fuzz(
      'tfjs-builtin-mutated',
      mutation,
      250,
      (m) => {
        const { text, shards } = mutated(m);
        tally(stats, checkTfjs(text, shards));
      },
      (m) => {
        const { text, shards } = mutated(m);
        return tfjsEntryFrom(m.seed, seeds[m.seed].shards, text, shards);
      },
      stats,
    );
    expect(stats.graphs).toBeGreaterThan(0);
    expect(stats.importErrors).toBeGreaterThan(0);
  });

  it('built-in model.json mutated as bytes', () => {
    const stats = newStats();
    const arb = fc.record({ seed: fc.constantFrom(...seedIds), mutations: byteMutations });
    const make = (m: { seed: SeedId; mutations: Parameters<typeof mutateBytes>[1] }) =>
      new TextDecoder().decode(mutateBytes(new TextEncoder().encode(seeds[m.seed].text), m.mutations));
    fuzz('tfjs-text-mutated', arb, 150, (m) => tally(stats, checkTfjs(make(m), seeds[m.seed].shards)), (m) => tfjsEntryFrom(m.seed, seeds[m.seed].shards, make(m), seeds[m.seed].shards), stats);
    expect(stats.importErrors).toBeGreaterThan(0);
  });

  it('valid random Keras models import unmutated (merges, gates, concatenations, LayerNormalization included)', () => {
    fc.assert(
      fc.property(kerasModel, (m) => {
        const built = buildKeras(m);
        const g = importTfjs({ name: 'model.json', text: built.text }, built.shards);
        expect(g.nodes.length).toBeGreaterThan(0);
      }),
      { numRuns: runs(300), seed: 7 },
    );
  });

  it('valid random Keras models (every supported layer, quantized weights), then mutated', () => {
    const stats = newStats();
    const arb = fc.record({
      model: kerasModel,
      json: fc.array(jsonMutation, { maxLength: 3 }),
      manifest: fc.array(manifestMutation, { maxLength: 2 }),
      shards: fc.array(shardMutation, { maxLength: 1 }),
    });
    const make = (m: typeof arb extends fc.Arbitrary<infer T> ? T : never) => {
      const built = buildKeras(m.model);
      return { text: mutateJson(mutateManifest(built.text, m.manifest), m.json), shards: mutateShards(built.shards, m.shards) };
    };
    fuzz(
      'tfjs-keras',
      arb,
      1000,
      (m) => {
        const { text, shards } = make(m);
        tally(stats, checkTfjs(text, shards));
      },
      (m) => {
        const { text, shards } = make(m);
        return tfjsEntry(text, shards);
      },
      stats,
    );
    // (About a third import: enough of them reach every layer kind.)
    expect(stats.graphs).toBeGreaterThan(runs(1000) / 10);
    expect(stats.importErrors).toBeGreaterThan(runs(1000) / 10);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The documented limits (docs/security.md), each refused before the allocation it guards, quickly.

/** Imports and expects a clear ModelImportError; returns its message. (No wall-clock bound: a guard that does not
 * hold shows as the allocation it guards, or the test's timeout.) */
function refused(text: string, shards: ReadonlyMap<string, Uint8Array> = new Map()): string {
  let message = '';
  try {
    importTfjs({ name: 'model.json', text }, shards);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    expect((e as ModelImportError).cause).toBeUndefined();
    message = (e as Error).message;
  }
  expect(message, 'expected a ModelImportError').toMatch(/^model\.json: /);
  return message;
}

const inputLayer = (shape: number[]) => ({ class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, ...shape], dtype: 'float32' } });
const flatten = { class_name: 'Flatten', config: { name: 'f' } };

describe('TF.js import limits', () => {
  it('refuses more than 10,000 layers', () => {
    const layers = [inputLayer([4]), ...Array.from({ length: IMPORT_LIMITS.maxNodes }, (_, i) => ({ class_name: 'ReLU', config: { name: `r${i}` } }))];
    expect(refused(buildTfjs(sequential(layers), []).text)).toMatch(/10001 layers; at most 10000/);
  });

  it('refuses inputs over 4096x4096, 64 channels or 2^26 values', () => {
    const m = (shape: number[]) => {
      const built = buildTfjs(sequential([inputLayer(shape), flatten]), []);
      return refused(built.text, built.shards);
    };
    expect(m([20000, 20000, 3])).toMatch(/the input is 20000x20000 pixels; at most 4096x4096/);
    expect(m([8, 8, 65])).toMatch(/65 channels; at most 64/);
    expect(m([2 ** 27])).toMatch(/1\.34e\+8 values; at most 6\.71e\+7/);
  });

  it('refuses weights over 2^28 elements or 8 dimensions, and shapes that do not match the shards', () => {
    const dense = { class_name: 'Dense', config: { name: 'd', units: 2, use_bias: false } };
    const m = buildTfjs(sequential([inputLayer([4]), dense]), [{ name: 'd/kernel', shape: [4, 2], data: values(8, 1) }]);
    const withShape = (shape: unknown) => m.text.replace('"shape":[4,2]', `"shape":${JSON.stringify(shape)}`);
    expect(refused(withShape([2 ** 15, 2 ** 14]), m.shards)).toMatch(/declares shape \[32768, 16384\] \(5\.37e\+8 values\), far more than any model can hold/);
    expect(refused(withShape([1, 1, 1, 1, 1, 1, 1, 1, 1]), m.shards)).toMatch(/9 dimensions; at most 8/);
    expect(refused(withShape([2 ** 53, 2 ** 53]), m.shards)).toMatch(/invalid shape|far more than/);
    expect(refused(withShape([400, 400]), m.shards)).toMatch(/holds 32 bytes, but the weights listed for it need 640000/);
  });

  it('bounds what an import allocates by the file size (a 1 KB file cannot make a 1 GB BatchNorm)', () => {
    const layers = [
      inputLayer([1, 1, 1]),
      { class_name: 'ZeroPadding2D', config: { name: 'pad', padding: [[5000, 5000], [5000, 5000]] } },
      flatten,
      { class_name: 'BatchNormalization', config: { name: 'bn', center: false, scale: false } },
    ];
    const { text, shards } = buildTfjs(sequential(layers), []);
    expect(text.length).toBeLessThan(1000);
    expect(refused(text, shards)).toMatch(/layer "bn" \(BatchNormalization\): the normalisation terms would take the memory the import uses past 6\.71e\+7 bytes/);
  });

  it('refuses weight files outside the model folder, and lists none of them for readers', () => {
    const m = buildTfjs(sequential([inputLayer([4]), { class_name: 'Dense', config: { name: 'd', units: 2 } }]), [{ name: 'd/kernel', shape: [4, 2], data: values(8, 1) }]);
    for (const path of ['../../etc/passwd', '/etc/passwd', 'https://evil.example/x.bin', 'C:\\x.bin', 'a/../../b.bin', 'x\u0000.bin']) {
      const text = m.text.replace('"group1-shard1of1.bin"', JSON.stringify(path));
      expect(tfjsWeightFiles(text)).toEqual([]);
      expect(refused(text, new Map([[path, new Uint8Array(64)]]))).toMatch(/which is not beside model\.json \(absolute paths, "\.\." and URLs are refused\)/);
    }
    expect(tfjsWeightFiles(m.text.replace('"group1-shard1of1.bin"', '"weights/group1-shard1of1.bin"'))).toEqual(['weights/group1-shard1of1.bin']);
  });

  it('refuses JSON nested over 64 levels or over 64 MiB, Object.prototype names as layer classes, control characters in names', () => {
    expect(refused(`{"modelTopology": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`)).toMatch(/nests more than 64 levels/);
    expect(refused(`{"modelTopology": {}, "pad": "${' '.repeat(IMPORT_LIMITS.maxJsonBytes)}"}`)).toMatch(/MiB; a model\.json of at most 64 MiB/);
    for (const cls of ['constructor', '__proto__', 'toString']) {
      const text = buildTfjs(sequential([inputLayer([4]), { class_name: cls, config: { name: 'odd' } }]), []).text;
      expect(refused(text)).toBe(`model.json: unsupported Keras layers: ${cls} (layer "odd")`);
    }
    const evil = buildTfjs(sequential([inputLayer([4]), { class_name: 'ReLU', config: { name: 'r\u001b[2J\u202e' } }]), []);
    expect(refused(evil.text, evil.shards)).toBe('model.json: layer 1 has a name with control characters ("r\\u{1b}[2J\\u{202e}")');
  });
});
