/** `lrp-lens explain --link`: a share link's explanation equals the engine's on the same input and rules. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError, type ExplainLinkCommand } from '../../src/cli/args';
import { decodeImage } from '../../src/cli/image-io';
import { modelFilesSha256, runExplainLink } from '../../src/cli/link';
import { parseNpy, toFloat32 } from '../../src/engine/io/npy';
import { openModelFiles } from '../../src/models/builtin';
import { preprocess, resizeRgba } from '../../src/models/image';
import { parseModelCard } from '../../src/models/model-card';
import { encodeShareState } from '../../src/share/share-codec';
import type { ShareState } from '../../src/share/share-state';
import { cpuEngine, relL2 } from './helpers/engines';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const models = join(repoRoot, 'public', 'models');
const samples = join(repoRoot, 'public', 'samples');
const tmp = mkdtempSync(join(tmpdir(), 'lrp-link-'));
const RESNET = ['resnet20_cifar10.onnx', 'resnet20_cifar10.onnx.data'].map((f) => join(models, 'resnet20-cifar10', f));

const command = (args: string[]): ExplainLinkCommand => {
  const cmd = parseArgs(['explain', '--backend', 'cpu', ...args]);
  if (cmd.kind !== 'explain-link') throw new Error('not explain --link');
  return cmd;
};

const link = (state: ShareState) => `http://localhost:4173/#${encodeShareState(state)}`;

/** Runs the real command line. */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'lrp-lens.mjs'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !/building the CLI/.test(l))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr };
}

/** coffee.png as tinyvgg sees it: 64 x 64 RGB. */
function coffeePixels(size: number): { width: number; height: number; rgb: Uint8Array } {
  const img = resizeRgba(decodeImage(new Uint8Array(readFileSync(join(samples, 'coffee.png'))), 'coffee.png'), size, size, 'center-crop');
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = img.data[4 * i + c]!;
  return { width: size, height: size, rgb };
}

const view: ShareState['view'] = { colormap: 'seismic', opacity: 0.5, clip: true, clipPercentile: 98, inspect: null };

describe('explain --link arguments', () => {
  it('parses', () => {
    expect(parseArgs(['explain', '--link', 'http://x/#s1.abc', '--model', 'm.onnx', '--out', 'h.png', '--json'])).toEqual({
      kind: 'explain-link',
      link: 'http://x/#s1.abc',
      model: 'm.onnx',
      out: 'h.png',
      top: 5,
      json: true,
      backend: 'auto',
      verbose: false,
    });
  });
  for (const [argv, message] of [
    [['--link', 'x', '--image', 'a.png'], /--image cannot be used with --link/],
    [['--link', 'x', '--rule', 'a=flat'], /--rule cannot be used with --link/],
    [['--link', 'x', '--model-data', 'd'], /--model-data needs --model/],
    [['--link', 'x', '--link', 'y'], /--link given twice/],
    [['--link='], /--link needs a value/],
  ] as [string[], RegExp][]) {
    it(`rejects explain ${JSON.stringify(argv)}`, () => {
      expect(() => parseArgs(['explain', ...argv])).toThrow(UsageError);
      expect(() => parseArgs(['explain', ...argv])).toThrow(message);
    });
  }
});

describe('explain --link reproduces the link (cpu)', () => {
  it('tinyvgg, the pixels in the link, a preset, three layer rules, a target and a contrast class: the engine’s relevance', async () => {
    const pixels = coffeePixels(64);
    const state: ShareState = {
      version: 1,
      model: { kind: 'builtin', id: 'tinyvgg' },
      image: { kind: 'pixels', ...pixels },
      target: 8,
      contrast: 6,
      preset: 'EpsilonGammaBox',
      presetParams: { low: 0, high: 1 },
      overrides: {
        conv_1_1: { rule: 'flat', params: {} },
        conv_1_2: { rule: 'gamma', params: { gamma: 0.75 } },
        conv_2_1: { rule: 'epsilon', params: { epsilon: 0.01 } },
      },
      mergeBatchNorm: true,
      view,
    };
    const rel = join(tmp, 'tinyvgg.npy');
    const layerFile = join(tmp, 'tinyvgg.conv_2_1.npy');
    const r = await runExplainLink(command(['--link', link(state), '--relevance-out', rel, '--layer', 'conv_2_1', '--layer-out', layerFile]));
    expect(r.explained.class).toBe(8);
    expect(r.contrastTarget).toBe(6);
    expect(r.composite).toBe('EpsilonGammaBox');
    expect(r.link.warnings).toEqual([]);

    // The same input and rules, straight to the engine.
    const dir = join(models, 'tinyvgg');
    const opened = openModelFiles(['model.json', 'group1-shard1of1.bin'].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) })));
    const card = parseModelCard(readFileSync(join(dir, 'card.json'), 'utf8'));
    const rgba = new Uint8Array(64 * 64 * 4).map((_, i) => (i % 4 === 3 ? 255 : pixels.rgb[Math.floor(i / 4) * 3 + (i % 4)]!));
    const x = preprocess({ width: 64, height: 64, data: rgba }, card);
    const model = await (await cpuEngine()).load(opened.graph);
    const e = await model.explain(x, {
      target: 8,
      contrastTarget: 6,
      rules: {
        preset: 'EpsilonGammaBox',
        presetParams: { low: 0, high: 1 },
        layers: [
          { layer: 'conv_1_1', rule: 'flat' },
          { layer: 'conv_1_2', rule: 'gamma', gamma: 0.75 },
          { layer: 'conv_2_1', rule: 'epsilon', epsilon: 0.01 },
        ],
      },
      layerRelevance: true,
    });
    model.dispose();
    const got = toFloat32(parseNpy(readFileSync(rel)));
    expect(relL2(got, e.relevance)).toBeLessThan(1e-6);
    expect(Array.from(got)).toEqual(Array.from(e.relevance));
    // --layer-out: the relevance arriving at conv_2_1's input, as the engine's layers hold it.
    const layer = e.layers.find((l) => l.layer === 'conv_2_1')!;
    const npy = parseNpy(readFileSync(layerFile));
    expect(npy.shape).toEqual([...layer.shape]);
    expect(Array.from(toFloat32(npy))).toEqual(Array.from(layer.data));
    expect(r.layerOut).toEqual({ layer: 'conv_2_1', shape: layer.shape, file: layerFile });
  });

  it('a user’s model (resnet20’s ONNX files) with a sample photo: hash checked, and a different file warned about', async () => {
    const bytes = RESNET.map((f) => readFileSync(f));
    const sha256 = createHash('sha256').update(bytes[0]!).update(bytes[1]!).digest('hex');
    expect(modelFilesSha256([{ name: 'resnet20_cifar10.onnx.data', bytes: bytes[1]! }, { name: 'resnet20_cifar10.onnx', bytes: bytes[0]! }], 'resnet20_cifar10.onnx')).toBe(sha256);
    const state: ShareState = {
      version: 1,
      model: { kind: 'user', name: 'resnet20_cifar10.onnx', sha256 },
      image: { kind: 'sample', id: 'chelsea.png' },
      target: null,
      contrast: 5,
      preset: 'EpsilonPlusFlat',
      presetParams: {},
      overrides: { 'blocks.0.conv1': { rule: 'gamma', params: { gamma: 0.5 } }, 'no.such.layer': { rule: 'flat', params: {} } },
      mergeBatchNorm: true,
      view,
    };
    const lines: string[] = [];
    const r = await runExplainLink(command(['--link', link(state), '--model', RESNET[0]!, '--out', join(tmp, 'resnet.png')]), (l) => lines.push(l));
    expect(r.link.modelCheck).toEqual({ sha256, matches: true });
    expect(r.model.card).toBe('default'); // as the page gives a model opened from files, not the card.json beside it
    expect(r.explained.class).toBe(3); // the default card's preprocessing (pixels / 255) still sees a cat
    expect(r.rules).toEqual([{ layer: 'blocks.0.conv1', rule: 'gamma', gamma: 0.5 }]);
    expect(lines.join('\n')).toMatch(/layers this model does not have, which were left out: "no\.such\.layer"/);

    // The same link with another file: the explanation, and a warning.
    const other = join(tmp, 'other');
    writeFileSync(`${other}.onnx`, bytes[0]!);
    const data = Buffer.from(bytes[1]!);
    data[1000]! ^= 1;
    writeFileSync(join(tmp, 'resnet20_cifar10.onnx.data'), data);
    const warned: string[] = [];
    const w = await runExplainLink(command(['--link', link(state), '--model', `${other}.onnx`, '--model-data', join(tmp, 'resnet20_cifar10.onnx.data')]), (l) => warned.push(l));
    expect(w.link.modelCheck?.matches).toBe(false);
    expect(warned.join('\n')).toMatch(/this is not the file the link was made with/);
  });

  it('reads the link from a file (@path), and notes a comparison it carries', async () => {
    const state: ShareState = {
      version: 1,
      model: { kind: 'builtin', id: 'tinyvgg' },
      image: { kind: 'sample', id: 'coffee.png' },
      target: null,
      contrast: null,
      preset: 'captum-default',
      presetParams: {},
      overrides: {},
      mergeBatchNorm: true,
      view,
      compare: { preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 4 } },
    };
    const file = join(tmp, 'link.txt');
    writeFileSync(file, `${link(state)}\n`);
    const lines: string[] = [];
    const r = await runExplainLink(command(['--link', `@${file}`]), (l) => lines.push(l));
    expect(r.explained).toMatchObject({ class: 6, label: 'espresso' });
    expect(r.link.image).toEqual({ kind: 'sample', id: 'coffee.png' });
    // The link's comparison is the app's to show; the CLI says so and explains A.
    expect(lines).toEqual(['note: the link also shows a comparison with "EpsilonGammaBox"; explain --link reproduces the link\'s own LRP explanation (the page\'s main heatmap), the app the comparison']);
  });

  it('a 224 x 224 photo: the link carries it losslessly in about 120 kB', () => {
    for (const photo of ['coffee.png', 'chelsea.png', 'astronaut.png']) {
      const img = resizeRgba(decodeImage(new Uint8Array(readFileSync(join(samples, photo))), photo), 224, 224, 'center-crop');
      const rgb = new Uint8Array(224 * 224 * 3);
      for (let i = 0; i < 224 * 224; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = img.data[4 * i + c]!;
      const state: ShareState = {
        version: 1,
        model: { kind: 'builtin', id: 'darknet-tiny' },
        image: { kind: 'pixels', width: 224, height: 224, rgb },
        target: null,
        contrast: null,
        preset: 'EpsilonPlusFlat',
        presetParams: {},
        overrides: { conv2d_1: { rule: 'flat', params: {} } },
        mergeBatchNorm: true,
        view,
      };
      const n = link(state).length;
      console.log(`share link for ${photo} at 224 x 224: ${n} characters (${(n / 1000).toFixed(1)} kB)`);
      expect(n).toBeLessThan(150_000);
    }
  });
});

describe('explain --link on the command line', () => {
  it('a bad link exits 1 with one clear line', () => {
    const r = cli(['explain', '--link', 'http://localhost:4173/#s1.not-a-real-link', '--backend', 'cpu']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^lrp-lens: the link cannot be opened: the link is (damaged|truncated)/);
  });

  it('a link made with a user’s model needs --model, in one line', () => {
    const state: ShareState = {
      version: 1,
      model: { kind: 'user', name: 'mine.onnx', sha256: 'a'.repeat(64) },
      image: { kind: 'sample', id: 'coffee.png' },
      target: null,
      contrast: null,
      preset: 'captum-default',
      presetParams: {},
      overrides: {},
      mergeBatchNorm: true,
      view,
    };
    const r = cli(['explain', '--link', link(state), '--backend', 'cpu']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^lrp-lens: the link was made with a model of its sender's own, "mine\.onnx" \(SHA-256 aaaaaaaaaaaa\.\.\.\): give its file with --model$/);
  });
});
