import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseNpy, toFloat64 } from '../../src/engine/io/npy';
import { ModelImportError } from '../../src/engine/onnx/import-onnx';
import { BUILTIN_MODELS, DEFAULT_MODEL_ID, builtinFileUrl, openModelFiles, type ModelFile } from '../../src/models/builtin';
import { cropRect, preprocess, resizeRgba, type RgbaImage } from '../../src/models/image';
import { CARD_LIMITS, ModelCardError, checkCardFitsGraph, defaultCard, inputBounds, parseModelCard, type ModelCard } from '../../src/models/model-card';
import { decodeImage } from '../../src/cli/image-io';
import { buildTfjs, sequential, values } from '../fixtures/tfjs-builder';
import { cpuEngine, relL2 } from './helpers/engines';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelsDir = join(repoRoot, 'public', 'models');
const samplesDir = join(repoRoot, 'public', 'samples');
const goldens = resolve(repoRoot, '..', 'shared', 'goldens', 'tfjs');

const file = (dir: string, name: string): ModelFile => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) });
const builtinFiles = (id: string, names?: readonly string[]): ModelFile[] =>
  (names ?? BUILTIN_MODELS.find((m) => m.id === id)!.files).map((n) => file(join(modelsDir, id), n));
const card = (id: string): ModelCard => parseModelCard(readFileSync(join(modelsDir, id, 'card.json'), 'utf8'), `${id}/card.json`);

function importError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelImportError);
    return (e as Error).message;
  }
  throw new Error('expected a ModelImportError');
}

describe('built-in models', () => {
  it('lists darknet-tiny (default), tinyvgg and resnet20-cifar10 with their files, card and license', () => {
    expect(BUILTIN_MODELS.map((m) => m.id)).toEqual(['darknet-tiny', 'tinyvgg', 'resnet20-cifar10']);
    expect(DEFAULT_MODEL_ID).toBe('darknet-tiny');
    for (const m of BUILTIN_MODELS) {
      const c = card(m.id);
      expect(c.id).toBe(m.id);
      expect(c.format).toBe(m.format);
      expect(c.files).toEqual(m.files);
      for (const f of [...m.files, m.card, m.license, c.license.file]) expect(existsSync(join(modelsDir, m.id, f)), `${m.id}/${f}`).toBe(true);
      expect(builtinFileUrl(m, m.files[0]!)).toBe(`/models/${m.id}/${m.files[0]}`);
    }
    expect(card('darknet-tiny').classes[7]).toBe('Egyptian cat');
    expect(card('darknet-tiny').classes[946]).toBe('espresso');
    expect(card('tinyvgg').classes[6]).toBe('espresso');
    expect(card('resnet20-cifar10')).toMatchObject({ input: { width: 32, height: 32, channels: 3, layout: 'NCHW' }, preprocessing: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } });
    expect(card('tinyvgg').preprocessing.scale).toBeCloseTo(1 / 255, 15);
  });

  it('opens each from its files, and the card fits the graph', () => {
    for (const m of BUILTIN_MODELS) {
      const opened = openModelFiles(builtinFiles(m.id));
      expect(opened.format).toBe(m.format);
      expect(opened.modelFile).toBe(m.files[0]);
      checkCardFitsGraph(card(m.id), opened.graph);
    }
    expect(openModelFiles(builtinFiles('tinyvgg')).notes[0]).toMatch(/final softmax/);
  });

  it('opens resnet20 from either exporter\'s file with identical results', async () => {
    const dir = join(modelsDir, 'resnet20-cifar10');
    const fresh = openModelFiles([file(dir, 'resnet20_cifar10.onnx'), file(dir, 'resnet20_cifar10.onnx.data')]).graph;
    const legacy = openModelFiles([file(dir, 'resnet20_cifar10.legacy.onnx')]).graph;
    // Same layers (the new exporter's node names carry no module scopes, so names may differ).
    expect(legacy.nodes.map((n) => n.op)).toEqual(fresh.nodes.map((n) => n.op));
    const engine = await cpuEngine();
    const x = values(3 * 32 * 32, 5);
    const [a, b] = [await engine.load(fresh), await engine.load(legacy)];
    const [la, lb] = [await a.forward(x), await b.forward(x)];
    a.dispose();
    b.dispose();
    expect(relL2(la, lb)).toBeLessThan(1e-6);
  });
});

describe('openModelFiles: format detection and missing companions', () => {
  const tinyvgg = join(modelsDir, 'tinyvgg');
  const resnet = join(modelsDir, 'resnet20-cifar10');

  it('detects the format from names and contents, and reads a card.json given with the files', () => {
    const renamed = openModelFiles([{ name: 'my-net', bytes: file(resnet, 'resnet20_cifar10.legacy.onnx').bytes }]);
    expect(renamed.format).toBe('onnx');
    const withCard = openModelFiles([...builtinFiles('tinyvgg'), file(tinyvgg, 'card.json')]);
    expect(withCard.card?.id).toBe('tinyvgg');
    const sub = openModelFiles(builtinFiles('tinyvgg').map((f) => ({ ...f, name: `tinyvgg/${f.name}` })));
    expect(sub.format).toBe('tfjs');
  });

  it('names the missing companion file', () => {
    expect(importError(() => openModelFiles([file(resnet, 'resnet20_cifar10.onnx')]))).toBe(
      'resnet20_cifar10.onnx keeps its weights in resnet20_cifar10.onnx.data, which was not given: open both files together',
    );
    expect(importError(() => openModelFiles([file(tinyvgg, 'model.json')]))).toBe(
      'model.json: needs the weight file group1-shard1of1.bin, which is missing: open model.json together with its weight files',
    );
    const darknet = builtinFiles('darknet-tiny').filter((f) => !/group(3|7|9|12)-/.test(f.name));
    const many = builtinFiles('darknet-tiny').filter((f) => !/group(3|7|9|12|2)-/.test(f.name));
    expect(importError(() => openModelFiles(many))).toMatch(/^model\.json: needs 5 weight files group2-shard1of1, group3-shard1of1, group7-shard1of1 and 2 more, which are missing/);
    expect(importError(() => openModelFiles(darknet))).toMatch(/^model\.json: needs 4 weight files group3-shard1of1, group7-shard1of1, group9-shard1of1, group12-shard1of1, which are missing/);
  });

  it('says what was given when it is not a model', () => {
    expect(importError(() => openModelFiles([]))).toMatch(/no files given/);
    expect(importError(() => openModelFiles([file(resnet, 'resnet20_cifar10.onnx.data')]))).toMatch(/weights without their model/);
    expect(importError(() => openModelFiles([file(tinyvgg, 'group1-shard1of1.bin')]))).toMatch(/TF\.js weight files without their model\.json/);
    expect(importError(() => openModelFiles([{ name: 'net.h5', bytes: new Uint8Array([0x89, 0x48, 0x44, 0x46]) }]))).toMatch(/net\.h5 is a Keras file: convert it/);
    expect(importError(() => openModelFiles([{ name: 'net.pt', bytes: new Uint8Array(8) }]))).toMatch(/PyTorch checkpoint: export the model to ONNX/);
    const graphModel = new TextEncoder().encode('{"format": "graph-model", "modelTopology": {"node": []}, "weightsManifest": []}');
    expect(importError(() => openModelFiles([{ name: 'model.json', bytes: graphModel }]))).toMatch(/TF\.js graph model/);
    expect(importError(() => openModelFiles([{ name: 'notes.txt', bytes: new TextEncoder().encode('hello') }]))).toMatch(/no model found/);
    expect(importError(() => openModelFiles([file(resnet, 'resnet20_cifar10.legacy.onnx'), ...builtinFiles('tinyvgg')]))).toMatch(/both an ONNX model .* and a TF\.js model/);
  });

  it('reports broken files with the file name, never a stack trace', () => {
    const onnx = file(resnet, 'resnet20_cifar10.legacy.onnx').bytes;
    for (const f of [
      { name: 'cut.onnx', bytes: onnx.subarray(0, 5000) },
      { name: 'magic.onnx', bytes: new TextEncoder().encode('PK\u0003\u0004 this is a zip, not a model') },
    ]) {
      const msg = importError(() => openModelFiles([f]));
      expect(msg).toMatch(new RegExp(`^${f.name.replace('.', '\\.')}: `));
      expect(msg).not.toMatch(/\n\s+at /);
    }
    const json = file(tinyvgg, 'model.json').bytes;
    expect(importError(() => openModelFiles([{ name: 'model.json', bytes: json.subarray(0, 500) }, file(tinyvgg, 'group1-shard1of1.bin')]))).toMatch(
      /^model\.json: not a TF\.js model: the file is not valid JSON/,
    );
    const shard = file(tinyvgg, 'group1-shard1of1.bin');
    expect(importError(() => openModelFiles([{ name: 'model.json', bytes: json }, { ...shard, bytes: shard.bytes.subarray(0, 1000) }]))).toBe(
      'model.json: group1-shard1of1.bin holds 1000 bytes, but the weights listed for it need 79680: truncated, or not the right file',
    );
  });
});

describe('model cards', () => {
  const valid = (): Record<string, unknown> => JSON.parse(readFileSync(join(modelsDir, 'tinyvgg', 'card.json'), 'utf8')) as Record<string, unknown>;

  it('rejects invalid cards naming the field', () => {
    const bad: [(c: Record<string, unknown>) => void, RegExp][] = [
      [(c) => delete c.id, /"id" must be a non-empty string/],
      [(c) => (c.format = 'keras'), /"format" must be "onnx" or "tfjs" \(got "keras"\)/],
      [(c) => (c.files = []), /"files" must be a non-empty list/],
      [(c) => ((c.input as Record<string, unknown>).width = 0), /"input\.width" must be an integer from 1 to 8192/],
      [(c) => ((c.input as Record<string, unknown>).height = 1e9), /"input\.height" must be an integer/],
      [(c) => ((c.input as Record<string, unknown>).channels = 4), /"input\.channels" must be 1 or 3/],
      [(c) => ((c.input as Record<string, unknown>).layout = 'CHW'), /"input\.layout" must be "NCHW" or "NHWC"/],
      [(c) => ((c.preprocessing as Record<string, unknown>).scale = -1), /"preprocessing\.scale" must be a positive number/],
      [(c) => ((c.preprocessing as Record<string, unknown>).mean = [0, 0]), /"preprocessing\.mean" must have 1 or 3 values \(got 2\)/],
      [(c) => ((c.preprocessing as Record<string, unknown>).std = [1, 0, 1]), /"preprocessing\.std" values must be positive/],
      [(c) => ((c.preprocessing as Record<string, unknown>).resize = 'fit'), /"preprocessing\.resize" must be "stretch" or "center-crop"/],
      [(c) => (c.classes = 'cat'), /"classes" must be a non-empty list/],
      [(c) => (c.license = 'MIT'), /"license" must be an object/],
      [(c) => (c.notes = 3), /"notes" must be a string/],
    ];
    for (const [mutate, message] of bad) {
      const c = valid();
      mutate(c);
      expect(() => parseModelCard(c, 'card.json')).toThrow(ModelCardError);
      expect(() => parseModelCard(c, 'card.json')).toThrow(message);
    }
    expect(() => parseModelCard('{ nope', 'x/card.json')).toThrow(/^x\/card\.json: not valid JSON/);
    expect(parseModelCard(JSON.stringify(valid())).id).toBe('tinyvgg');
  });

  it('bounds what a card may hold, and never renders a hostile value whole or deep in a message', () => {
    const deep = (n: number): unknown => {
      let v: unknown = 0;
      for (let i = 0; i < n; i++) v = [v];
      return v;
    };
    const L = CARD_LIMITS;
    const bad: [(c: Record<string, unknown>) => void, RegExp][] = [
      // A value nested a million deep: a message that stringified it would overflow the stack.
      [(c) => (c.format = deep(1_000_000)), /^card\.json: "format" must be "onnx" or "tfjs" \(got a list of 1\)$/],
      [(c) => ((c.input as Record<string, unknown>).layout = { a: deep(1_000_000) }), /\(got an object\)$/],
      [(c) => ((c.preprocessing as Record<string, unknown>).resize = 'x'.repeat(1e6)), /\(got "x{40}…"\)$/],
      [(c) => (c.classes = Array.from({ length: L.maxClasses + 1 }, () => 'a')), /"classes" has 100001 entries, more than the 100000 allowed/],
      [(c) => ((c.classes as string[])[3] = 'c'.repeat(L.maxStringChars + 1)), /"classes\[3\]" has 1001 characters, more than the 1000 allowed/],
      [(c) => (c.files = ['a'.repeat(5000)]), /"files\[0\]" has 5000 characters/],
      [(c) => (c.files = Array.from({ length: L.maxFiles + 1 }, (_, i) => `${i}.bin`)), /"files" has 1001 entries/],
      [(c) => (c.name = 'n'.repeat(2000)), /"name" has 2000 characters, more than the 1000 allowed/],
      [(c) => (c.notes = 'n'.repeat(L.maxNotesChars + 1)), /"notes" has 100001 characters/],
    ];
    for (const [mutate, message] of bad) {
      const c = valid();
      mutate(c);
      expect(() => parseModelCard(c, 'card.json')).toThrow(message);
    }
    expect(() => parseModelCard(' '.repeat(L.maxTextChars + 1), 'big.json')).toThrow(/^big\.json: 16777217 characters, more than the 16777216 a card may have$/);
    // At the limits, a card is still a card.
    const c = valid();
    c.classes = (c.classes as string[]).map((x, i) => (i === 0 ? 'k'.repeat(L.maxStringChars) : x));
    expect(parseModelCard(c).classes[0]).toHaveLength(1000);
  });

  it('gives a user model defaults from its graph, and checks cards against graphs', () => {
    const g = openModelFiles(builtinFiles('tinyvgg')).graph;
    const d = defaultCard(g, 'My Model.json', 'tfjs', ['My Model.json', 'w.bin']);
    expect(d).toMatchObject({
      id: 'my-model',
      name: 'My Model.json',
      format: 'tfjs',
      files: ['My Model.json', 'w.bin'],
      input: { width: 64, height: 64, channels: 3, layout: 'NHWC' },
      preprocessing: { scale: 1 / 255, mean: [0], std: [1], resize: 'center-crop' },
      license: { name: 'unknown', file: '' },
    });
    expect(d.classes).toEqual(Array.from({ length: 10 }, (_, i) => `class ${i}`));
    expect(parseModelCard(d).classes).toHaveLength(10); // a default card is a valid card
    expect(() => checkCardFitsGraph({ ...d, input: { ...d.input, width: 32 } }, g)).toThrow(/says 32x64x3, but the model takes 64x64x3/);
    expect(() => checkCardFitsGraph({ ...d, classes: ['a'] }, g)).toThrow(/names 1 classes, but the model has 10 outputs/);
    expect(inputBounds(card('resnet20-cifar10')).low[0]).toBeCloseTo(-0.485 / 0.229, 12);
    expect(inputBounds(card('tinyvgg'))).toEqual({ low: [0, 0, 0], high: [1, 1, 1] });
  });
});

describe('image preprocessing', () => {
  const solid = (w: number, h: number, rgba: [number, number, number, number]): RgbaImage => {
    const data = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < w * h; i++) data.set(rgba, 4 * i);
    return { width: w, height: h, data };
  };

  it('crops the centre to the input aspect ratio', () => {
    expect(cropRect(451, 300, 224, 224, 'center-crop')).toEqual([75, 0, 300, 300]);
    expect(cropRect(300, 451, 64, 64, 'center-crop')).toEqual([0, 75, 300, 300]);
    expect(cropRect(640, 427, 32, 32, 'stretch')).toEqual([0, 0, 640, 427]);
    expect(cropRect(100, 100, 20, 10, 'center-crop')).toEqual([0, 25, 100, 50]);
  });

  it('area-averages when shrinking, interpolates bilinearly when growing, composites alpha on white', () => {
    // 4x1 -> 2x1: pairs averaged; 3 -> 2: a third of the middle pixel each.
    const row = (vals: number[]): RgbaImage => ({ width: vals.length, height: 1, data: Uint8ClampedArray.from(vals.flatMap((v) => [v, v, v, 255])) });
    const gray = (img: RgbaImage) => Array.from({ length: img.width * img.height }, (_, i) => img.data[4 * i]!);
    expect(gray(resizeRgba(row([0, 100, 200, 255]), 2, 1))).toEqual([50, 228]);
    const card = { input: { width: 2, height: 1, channels: 3, layout: 'NCHW' as const }, preprocessing: { scale: 1, mean: [0], std: [1], resize: 'stretch' as const } };
    const x = preprocess(row([0, 90, 180]), card);
    expect(x[0]).toBeCloseTo((0 * 1 + 90 * 0.5) / 1.5, 4);
    expect(x[1]).toBeCloseTo((180 * 1 + 90 * 0.5) / 1.5, 4);
    // 2 -> 4: pixel centres at 0.25, 0.75 of each source pixel; edges clamped.
    expect(gray(resizeRgba(row([0, 200]), 4, 1))).toEqual([0, 50, 150, 200]);
    // Same size: unchanged.
    expect(gray(resizeRgba(row([3, 7, 11]), 3, 1))).toEqual([3, 7, 11]);
    // Transparent black on white is white; half-transparent red is pink.
    expect(Array.from(resizeRgba(solid(3, 3, [0, 0, 0, 0]), 2, 2).data.subarray(0, 4))).toEqual([255, 255, 255, 255]);
    expect(Array.from(resizeRgba(solid(2, 2, [255, 0, 0, 128]), 1, 1).data)).toEqual([255, 127, 127, 255]);
  });

  it('normalises per channel into NCHW, and converts to greyscale for one-channel models', () => {
    const img = solid(5, 7, [255, 128, 0, 255]);
    const c = card('resnet20-cifar10');
    const x = preprocess(img, c);
    expect(x).toHaveLength(3 * 32 * 32);
    expect(x[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(x[32 * 32 + 100]).toBeCloseTo((128 / 255 - 0.456) / 0.224, 5);
    expect(x[2 * 32 * 32 + 1023]).toBeCloseTo((0 - 0.406) / 0.225, 5);
    const grey = preprocess(img, { input: { width: 2, height: 2, channels: 1, layout: 'NCHW' }, preprocessing: { scale: 1 / 255, mean: [0], std: [1], resize: 'stretch' } });
    expect(grey).toHaveLength(4);
    expect(grey[0]).toBeCloseTo((0.299 * 255 + 0.587 * 128) / 255, 5);
    expect(() => preprocess({ width: 2, height: 2, data: new Uint8Array(3) }, c)).toThrow(/2x2 RGBA needs 16/);
  });

  it('comes close to the goldens\' preprocessed sample photos', () => {
    // The goldens were made with a Gaussian anti-aliasing filter and bilinear sampling; ours area-averages.
    for (const id of ['tinyvgg', 'darknet-tiny']) {
      for (const photo of ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg']) {
        const x = preprocess(decodeImage(new Uint8Array(readFileSync(join(samplesDir, photo))), photo), card(id));
        const ref = toFloat64(parseNpy(new Uint8Array(readFileSync(join(goldens, `${id}.sample.${photo.split('.')[0]}.npy`)))));
        expect(relL2(x, ref), `${id} ${photo}`).toBeLessThan(0.05);
      }
    }
  });
});

describe('test builder', () => {
  it('builds TF.js fixtures the importer reads (sanity check of the test builder)', () => {
    const m = buildTfjs(sequential([{ class_name: 'Dense', config: { name: 'd', units: 2, use_bias: false, batch_input_shape: [null, 3] } }]), [
      { name: 'd/kernel', shape: [3, 2], data: values(6, 1) },
    ]);
    const files = [{ name: 'model.json', bytes: new TextEncoder().encode(m.text) }, ...[...m.shards].map(([name, bytes]) => ({ name, bytes }))];
    expect(openModelFiles(files).graph.nodes.map((n) => n.op)).toEqual(['linear']);
  });
});
