import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protobuf from 'protobufjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseNpy, toFloat32, toFloat64 } from '../../src/engine/io/npy';
import { onnxProto } from '../../src/engine/onnx/onnx-schema';
import { parseArgs, parseRuleOverride, UsageError, type ExplainCommand } from '../../src/cli/args';
import { assignmentFor, ExplainError, formatReport, readInput, runExplain } from '../../src/cli/explain';
import { decodeImage } from '../../src/cli/image-io';
import { openModelFiles } from '../../src/models/builtin';
import { renderHeatmap, sumChannels, symmetricMax } from '../../src/models/colormap';
import { parseModelCard } from '../../src/models/model-card';
import { cpuEngine, relL2 } from './helpers/engines';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const models = join(repoRoot, 'public', 'models');
const samples = join(repoRoot, 'public', 'samples');
const fixtures = join(repoRoot, 'tests', 'fixtures');
const goldens = resolve(repoRoot, '..', 'shared', 'goldens', 'tfjs');
const tmp = mkdtempSync(join(tmpdir(), 'lrp-explain-'));

const TINYVGG = join(models, 'tinyvgg', 'model.json');
const DARKNET = join(models, 'darknet-tiny', 'model.json');
const RESNET = join(models, 'resnet20-cifar10', 'resnet20_cifar10.onnx');
const truncatedJson = join(tmp, 'truncated', 'model.json');

const explain = (args: string[]): ExplainCommand => {
  const cmd = parseArgs(['explain', '--backend', 'cpu', ...args]);
  if (cmd.kind !== 'explain') throw new Error('not explain');
  return cmd;
};

/** Runs the real command line; returns the exit status and output. */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'lrp-lens.mjs'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  // The launcher may say it (re)builds the bundle first; that line is not the command's.
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !/building the CLI/.test(l))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr };
}

describe('explain arguments', () => {
  it('parses every option', () => {
    expect(
      parseArgs([
        'explain',
        '--model=m.onnx',
        '--model-data',
        'm.onnx.data',
        '--image',
        'cat.png',
        '--target',
        '7',
        '--composite',
        'EpsilonGammaBox',
        '--rule',
        'conv1=gamma:gamma=0.5,zeroBias=true',
        '--rule',
        '#0=zbox:low=[0,-1,-2],high=1',
        '--out',
        'h.png',
        '--relevance-out',
        'r.npy',
        '--top',
        '3',
        '--json',
        '--backend',
        'webgpu',
        '--card',
        'card.json',
        '-v',
      ]),
    ).toEqual({
      kind: 'explain',
      model: 'm.onnx',
      modelData: 'm.onnx.data',
      image: 'cat.png',
      target: 7,
      composite: 'EpsilonGammaBox',
      rules: [
        { layer: 'conv1', rule: 'gamma', params: { gamma: 0.5, zeroBias: true } },
        { layer: '#0', rule: 'zbox', params: { low: [0, -1, -2], high: 1 } },
      ],
      out: 'h.png',
      relevanceOut: 'r.npy',
      colormap: 'bwr',
      clip: null,
      top: 3,
      json: true,
      backend: 'webgpu',
      card: 'card.json',
      verbose: true,
    });
    expect(parseArgs(['explain', '--model', 'model.json', '--input', 'x.npy'])).toEqual({
      kind: 'explain',
      model: 'model.json',
      input: 'x.npy',
      rules: [],
      colormap: 'bwr',
      clip: null,
      top: 5,
      json: false,
      backend: 'auto',
      verbose: false,
    });
    expect(parseRuleOverride('fc=epsilon')).toEqual({ layer: 'fc', rule: 'epsilon', params: {} });
  });

  const bad: [string[], RegExp][] = [
    [[], /explain needs --model/],
    [['--model', 'm.onnx'], /needs one of --image <png\|jpg> or --input <x\.npy>/],
    [['--model', 'm.onnx', '--image', 'a.png', '--input', 'x.npy'], /needs one of --image/],
    [['--model', 'a', '--model', 'b', '--image', 'x.png'], /--model given twice/],
    [['--model', 'm', '--image', 'x.png', '--target', '-1'], /--target must be a class index/],
    [['--model', 'm', '--image', 'x.png', '--target', 'cat'], /--target must be a class index/],
    [['--model', 'm', '--image', 'x.png', '--top', '0'], /--top must be a whole number from 1 to 1000, got "0"/],
    [['--model', 'm', '--image', 'x.png', '--rule', 'conv1'], /--rule conv1: expected LAYER=RULE/],
    [['--model', 'm', '--image', 'x.png', '--rule', 'conv1=gamma:0.5'], /parameter "0\.5" should be name=value/],
    [['--model', 'm', '--image', 'x.png', '--rule', 'conv1=gamma:gamma=big'], /"big" is not a number/],
    [['--model', 'm', '--image', 'x.png', '--rule', 'c=zbox:low=[0,x]'], /is not a list of numbers/],
    [['--model', 'm', '--image', 'x.png', '--backend', 'metal'], /--backend must be webgpu, cpu or cpu-fast/],
    [['--model', 'm', '--image', 'x.png', '--json=yes'], /--json takes no value/],
    [['--model', 'm', '--image', 'x.png', '--fast'], /unknown option "--fast" for explain/],
    [['--model', 'm', '--image', 'x.png', '--targt', '3'], /unknown option "--targt" for explain; did you mean --target\?/],
    [['--model', 'm', '--image', 'x.png', '--composite', 'Fancy'], /--composite must be one of captum-default, .* \(got "Fancy"\)/],
    [['--model', 'm', '--image', 'x.png', '--colormap', 'jet'], /--colormap must be bwr, seismic, coldnhot or magnitude \(got "jet"\)/],
    [['--model', 'm', '--image', 'x.png', '--batchnorm', 'fold'], /--batchnorm must be keep or merge \(got "fold"\)/],
    [['--model', 'm', '--image', 'x.png', '--clip', '40'], /--clip must be a percentile from 50 to 99\.99, got "40"/],
    [['--model', 'm', '--image', 'x.png', '--clip', '100'], /--clip must be a percentile from 50 to 99\.99/],
    [['--model', 'm', '--image', 'x.png', '--clip', 'high'], /--clip must be a percentile/],
    [['--model', 'm', '--image', 'x.png', '--contrast', 'x'], /--contrast must be a class index/],
    [['--model', 'm', '--image', 'x.png', '--target', '3', '--contrast', '3'], /--contrast 3 is the --target/],
    [['--model', 'm', '--image', 'x.png', '--layer', 'conv1'], /--layer needs --layer-out <file\.npy>/],
    [['--model', 'm', '--image', 'x.png', '--layer-out', 'l.npy'], /--layer-out needs --layer <name>/],
    [['--model', 'm', '--images', 'dir', '--out', 'o', '--layer', 'a', '--layer-out', 'l.npy'], /--layer-out is for one image, not --images/],
    [['--model', 'm', '--image', 'x.png', '--out', 'a.png', '--out', 'b.png'], /--out given twice/],
    [['--model', 'm', '--image', 'x.png', '--out='], /--out needs a value/],
    [['--model', 'm', '--image', 'x.png', 'extra'], /unexpected argument "extra"/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects explain ${JSON.stringify(argv)}`, () => {
      expect(() => parseArgs(['explain', ...argv])).toThrow(UsageError);
      expect(() => parseArgs(['explain', ...argv])).toThrow(message);
    });
  }
});

describe('explain on the built-in models (cpu)', () => {
  it('tinyvgg: coffee.png is espresso; writes the heatmap PNG and the relevance .npy', async () => {
    const out = join(tmp, 'tinyvgg.png');
    const rel = join(tmp, 'tinyvgg.npy');
    const r = await runExplain(explain(['--model', TINYVGG, '--image', join(samples, 'coffee.png'), '--out', out, '--relevance-out', rel]));
    expect(r.top[0]).toMatchObject({ rank: 1, class: 6, label: 'espresso' });
    expect(r.top).toHaveLength(5);
    expect(r.top.reduce((s, t) => s + t.probability, 0)).toBeLessThanOrEqual(1 + 1e-9);
    expect(r.explained).toMatchObject({ class: 6, label: 'espresso' });
    expect(r.composite).toBe('EpsilonPlusFlat');
    expect(r.model).toMatchObject({ format: 'tfjs', card: 'built-in', name: 'TinyVGG (CNN Explainer, 10 Tiny ImageNet classes)' });
    expect(r.notes[0]).toMatch(/final softmax \(layer "output"\) was removed: explanations start from the logits/);
    const png = decodeImage(new Uint8Array(readFileSync(out)), out);
    expect([png.width, png.height]).toEqual([64, 64]);
    const npy = parseNpy(new Uint8Array(readFileSync(rel)));
    expect(npy.shape).toEqual([1, 3, 64, 64]);
    expect(toFloat64(npy).reduce((s, v) => s + v, 0)).toBeCloseTo(r.relevanceSum, 4);
    const text = formatReport(r).join('\n');
    expect(text).toMatch(/^ {3}1\. espresso /m);
    expect(text).toMatch(/^Note: The final softmax/m);
    expect(text).toMatch(/^Explained: class 6 "espresso" \(logit [\d.]+\) with EpsilonPlusFlat$/m);
    expect(text).toMatch(/^Relevance sum: /m);
  });

  it('tinyvgg: the goldens\' preprocessed input with EpsilonPlusFlat reproduces Zennit\'s relevance', async () => {
    const rel = join(tmp, 'golden.npy');
    const r = await runExplain(explain(['--model', TINYVGG, '--input', join(goldens, 'tinyvgg.sample.coffee.npy'), '--target', '6', '--relevance-out', rel]));
    const ref = toFloat64(parseNpy(new Uint8Array(readFileSync(join(goldens, 'tinyvgg.zennit.EpsilonPlusFlat.npy')))));
    expect(relL2(toFloat64(parseNpy(new Uint8Array(readFileSync(rel)))), ref)).toBeLessThan(1e-5);
    expect(r.input.kind).toBe('npy');
  });

  it('resnet20 (ONNX + side file found beside it): chelsea.png is a cat; --rule overrides with card bounds', async () => {
    const r = await runExplain(explain(['--model', RESNET, '--image', join(samples, 'chelsea.png'), '--top', '3', '--rule', '#0=zbox', '--rule', '#1=gamma:gamma=0.5']));
    expect(r.top.map((t) => t.label)[0]).toBe('cat');
    expect(r.top).toHaveLength(3);
    expect(r.rules[0]).toMatchObject({ layer: '#0', rule: 'zbox' });
    expect((r.rules[0] as unknown as { low: number[] }).low[0]).toBeCloseTo(-0.485 / 0.229, 10);
    expect(r.model.format).toBe('onnx');
  });

  // Darknet on the float64 CPU backend is the slow one: Captum's epsilon (one pass per layer) keeps it to seconds.
  it('darknet-tiny: chelsea.png is an Egyptian cat, coffee.png is espresso', { timeout: 180_000 }, async () => {
    const cat = await runExplain(explain(['--model', DARKNET, '--image', join(samples, 'chelsea.png'), '--composite', 'captum-default']));
    expect(cat.top[0]).toMatchObject({ class: 7, label: 'Egyptian cat' });
    const coffee = await runExplain(explain(['--model', DARKNET, '--image', join(samples, 'coffee.png'), '--composite', 'captum-default', '--top', '1']));
    expect(coffee.top).toEqual([expect.objectContaining({ class: 946, label: 'espresso' })]);
  });
});

describe('explain: the options the app has (cpu)', () => {
  const coffee = join(samples, 'coffee.png');
  /** tinyvgg loaded on the CPU backend, with the CLI's input and rules for a command, straight to the engine. */
  async function engineRun(cmd: ExplainCommand, options: { target?: number; contrastTarget?: number; layerRelevance: boolean }) {
    const dir = join(models, 'tinyvgg');
    const opened = openModelFiles(['model.json', 'group1-shard1of1.bin'].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) })));
    const card = parseModelCard(readFileSync(join(dir, 'card.json'), 'utf8'));
    const { x } = await readInput(cmd, opened.graph, card);
    const engine = await cpuEngine();
    const model = await engine.load(opened.graph);
    try {
      return await model.explain(x, { ...options, rules: assignmentFor(cmd, card).assignment });
    } finally {
      model.dispose();
      engine.dispose();
    }
  }

  it('--layer-out writes the relevance arriving at that layer\'s input: Explanation.layers, as a float32 .npy of its shape', async () => {
    const file = join(tmp, 'conv_2_1.npy');
    const cmd = explain(['--model', TINYVGG, '--image', coffee, '--layer', 'conv_2_1', '--layer-out', file]);
    const r = await runExplain(cmd);
    const e = await engineRun(cmd, { layerRelevance: true });
    const layer = e.layers.find((l) => l.layer === 'conv_2_1')!;
    const npy = parseNpy(new Uint8Array(readFileSync(file)));
    expect(npy.dtype).toBe('<f4');
    expect(npy.shape).toEqual([...layer.shape]);
    expect(npy.shape).not.toEqual([1, 3, 64, 64]); // a layer inside the model, not the input
    expect(Array.from(toFloat64(npy))).toEqual(Array.from(layer.data));
    expect(r.layerOut).toEqual({ layer: 'conv_2_1', shape: layer.shape, file });
    expect(formatReport(r).join('\n')).toMatch(/^Layer relevance: .*conv_2_1\.npy \(the input of conv_2_1, \[1, \d+, \d+, \d+\]\)$/m);
  });

  it('--layer with a name the model does not have: an error naming the layers there are', async () => {
    const cmd = explain(['--model', TINYVGG, '--image', coffee, '--layer', 'conv_9', '--layer-out', join(tmp, 'x.npy')]);
    const err = await runExplain(cmd).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExplainError);
    expect((err as Error).message).toMatch(/^--layer "conv_9" is not a layer of this model\. The layers: .*conv_1_1, .*conv_2_1, .*output/);
    const near = await runExplain(explain(['--model', TINYVGG, '--image', coffee, '--layer', 'CONV_2', '--layer-out', join(tmp, 'x.npy')])).catch((e: unknown) => e);
    expect((near as Error).message).toMatch(/did you mean "conv_2_1" or "conv_2_2"\? The layers: /);
  });

  it('--contrast: the relevance of the target minus the contrast class\'s, as the engine\'s contrastTarget', async () => {
    const rel = join(tmp, 'contrast.npy');
    const cmd = explain(['--model', TINYVGG, '--image', coffee, '--target', '6', '--contrast', '8', '--relevance-out', rel]);
    const r = await runExplain(cmd);
    expect(r.explained.class).toBe(6);
    expect(r.contrastTarget).toBe(8);
    expect(formatReport(r).join('\n')).toMatch(/^Contrast: minus the relevance of class 8$/m);
    const got = toFloat32(parseNpy(new Uint8Array(readFileSync(rel))));
    const e = await engineRun(cmd, { target: 6, contrastTarget: 8, layerRelevance: false });
    expect(Array.from(got)).toEqual(Array.from(e.relevance));
    // EpsilonPlusFlat's rules are linear in the relevance they pass on: the contrast is the difference of the two.
    const a = await engineRun(cmd, { target: 6, layerRelevance: false });
    const b = await engineRun(cmd, { target: 8, layerRelevance: false });
    expect(relL2(got, a.relevance.map((v, i) => v - b.relevance[i]!))).toBeLessThan(1e-5);
    await expect(runExplain(explain(['--model', TINYVGG, '--image', coffee, '--contrast', '10']))).rejects.toThrow(/^--contrast 10 is not a class of this model \(0 to 9\)$/);
  });

  it('--out with --colormap and --clip: the PNG is the app\'s canvas (sumChannels, symmetricMax, renderHeatmap)', async () => {
    for (const [colormap, clip] of [['seismic', '97.5'], ['magnitude', null], ['bwr', null]] as const) {
      const out = join(tmp, `${colormap}.png`);
      const rel = join(tmp, `${colormap}.npy`);
      const r = await runExplain(explain(['--model', TINYVGG, '--image', coffee, '--out', out, '--relevance-out', rel, '--colormap', colormap, ...(clip ? ['--clip', clip] : [])]));
      const relevance = toFloat32(parseNpy(new Uint8Array(readFileSync(rel))));
      // As app/components/HeatmapView.tsx draws it.
      const map = sumChannels(relevance, [1, 3, 64, 64]);
      const vmax = symmetricMax(map.data, clip ? Number(clip) : null);
      const png = decodeImage(new Uint8Array(readFileSync(out)), out);
      expect(Array.from(png.data)).toEqual(Array.from(renderHeatmap(map, colormap, vmax)));
      expect(r.heatmapView).toEqual({ colormap, clipPercentile: clip ? Number(clip) : null, vmax });
    }
  });

  it('--batchnorm keep|merge: BatchNorm as layers of their own or merged (bncnn)', async () => {
    const bn = ['--model', resolve(goldens, '..', 'bncnn.bn.onnx'), '--input', resolve(goldens, '..', 'bncnn.input.npy')];
    const merged = await runExplain(explain(bn));
    const kept = await runExplain(explain([...bn, '--batchnorm', 'keep']));
    const captum = await runExplain(explain([...bn, '--composite', 'captum-default']));
    const captumMerged = await runExplain(explain([...bn, '--composite', 'captum-default', '--batchnorm', 'merge']));
    const captumKept = await runExplain(explain([...bn, '--composite', 'captum-default', '--batchnorm', 'keep']));
    // One default everywhere (the app's BatchNorm choice, the library's batchNorm option): merged, whatever the composite.
    expect([merged.batchnorm, kept.batchnorm, captum.batchnorm, captumMerged.batchnorm, captumKept.batchnorm]).toEqual(['merged', 'kept', 'merged', 'merged', 'kept']);
    expect(kept.model.layers - merged.model.layers).toBe(2);
    expect(formatReport(kept).join('\n')).toMatch(/^BatchNorm: kept as layers of their own$/m);
    await expect(runExplain(explain([...bn, '--batchnorm', 'merge', '--rule', 'bn1=epsilon']))).rejects.toThrow(
      /--rule names the BatchNorm layer "bn1", which --batchnorm merge merges into the layer before it: use --batchnorm keep/,
    );
    expect((await runExplain(explain([...bn, '--rule', 'bn1=epsilon']))).batchnorm).toBe('kept');
  });

  it('a class list beside a model without a card names its classes, as in the app; a wrong one is named and not used', async () => {
    const dir = join(tmp, 'with-classes');
    mkdirSync(dir, { recursive: true });
    const shared = resolve(goldens, '..');
    for (const f of ['cnn.onnx', 'cnn.onnx.data']) writeFileSync(join(dir, f), readFileSync(join(shared, f)));
    const names = Array.from({ length: 10 }, (_, i) => `thing ${String.fromCharCode(97 + i)}`);
    writeFileSync(join(dir, 'classes.json'), JSON.stringify(names));
    writeFileSync(join(dir, 'class_names.txt'), 'only\ntwo\n'); // listed first, and refused
    const r = await runExplain(explain(['--model', join(dir, 'cnn.onnx'), '--input', join(shared, 'cnn.input.npy')]));
    expect(r.model.card).toBe('default');
    expect(r.explained.label).toBe(names[r.explained.class]);
    expect(r.top.every((t) => t.label === names[t.class])).toBe(true);
    expect(r.notes).toContain('Class names from classes.json (10).');
    expect(r.notes).toContain('class_names.txt was not used for class names: it has 2, but the model has 10 outputs.');
  });
});

describe('explain errors: one clear line on stderr, exit 1 (usage errors exit 2)', () => {
  let onnx: protobuf.Type;
  beforeAll(() => {
    onnx = protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');
    mkdirSync(dirname(truncatedJson), { recursive: true });
    writeFileSync(truncatedJson, readFileSync(TINYVGG).subarray(0, 900));
    // Build the CLI bundle once, before the timed runs below.
    cli(['--help']);
  }, 120_000);

  const unsupportedOnnx = (): string => {
    const vi = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
    const msg = onnx.fromObject({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [
          { opType: 'Softplus', name: 'soft', input: ['x'], output: ['a'] },
          { opType: 'Softsign', name: 'sign1', input: ['a'], output: ['b'] },
          { opType: 'Softsign', name: 'sign2', input: ['b'], output: ['y'] },
        ],
        input: [vi('x', [1, 4])],
        output: [vi('y', [1, 4])],
      },
    });
    const path = join(tmp, 'unsupported.onnx');
    writeFileSync(path, onnx.encode(msg).finish());
    return path;
  };

  it('the --json output of a run, exit 0', () => {
    const r = cli(['explain', '--model', TINYVGG, '--image', join(samples, 'coffee.png'), '--json', '--backend', 'cpu', '--top', '2']);
    expect(r.status).toBe(0);
    const json = JSON.parse(r.stdout) as { top: { label: string }[]; explained: { label: string }; relevanceSum: number; notes: string[] };
    expect(json.top.map((t) => t.label)[0]).toBe('espresso');
    expect(json.top).toHaveLength(2);
    expect(json.explained.label).toBe('espresso');
    expect(Number.isFinite(json.relevanceSum)).toBe(true);
    expect(json.notes[0]).toMatch(/final softmax/);
  });

  const cases: [string, () => string[], number, RegExp][] = [
    ['a missing model file', () => ['--model', join(tmp, 'nope.onnx'), '--image', join(samples, 'coffee.png')], 1, /^lrp-lens: cannot read the model .*nope\.onnx: no such file$/],
    ['a broken PNG', () => ['--model', TINYVGG, '--image', join(fixtures, 'broken.png')], 1, /^lrp-lens: .*broken\.png: not a valid PNG image \(.+\)$/],
    ['a file that is no image', () => ['--model', TINYVGG, '--image', TINYVGG], 1, /^lrp-lens: .*model\.json: not a PNG or JPEG image$/],
    ['a .npy of the wrong size', () => ['--model', TINYVGG, '--input', join(goldens, 'darknet-tiny.sample.coffee.npy')], 1, /^lrp-lens: .*darknet-tiny\.sample\.coffee\.npy has shape \[1, 3, 224, 224\]; the model takes \[1, 3, 64, 64\]$/],
    ['an unknown rule', () => ['--model', TINYVGG, '--image', join(samples, 'coffee.png'), '--rule', 'conv_1_1=sharpen'], 1, /^lrp-lens: layer "conv_1_1": unknown rule "sharpen"$/],
    ['an unknown layer', () => ['--model', TINYVGG, '--image', join(samples, 'coffee.png'), '--rule', 'conv9=epsilon'], 1, /^lrp-lens: no layer named "conv9"/],
    ['an unknown composite', () => ['--model', TINYVGG, '--image', join(samples, 'coffee.png'), '--composite', 'Fancy'], 2, /^lrp-lens: --composite must be one of captum-default, .*EpsilonPlusFlat.* \(got "Fancy"\)$/],
    ['a target beyond the classes', () => ['--model', TINYVGG, '--image', join(samples, 'coffee.png'), '--target', '10'], 1, /^lrp-lens: --target 10 is not a class of this model \(0 to 9\)$/],
    ['a truncated model.json', () => ['--model', truncatedJson, '--image', join(samples, 'coffee.png')], 1, /^lrp-lens: model\.json: not a TF\.js model: the file is not valid JSON/],
    ['a missing weight shard', () => ['--model', join(fixtures, 'tfjs-missing-shard', 'model.json'), '--image', join(samples, 'coffee.png')], 1, /^lrp-lens: model\.json: needs the weight file group1-shard1of1\.bin, which is missing: open model\.json together with its weight files \(not found in .*tfjs-missing-shard\)$/],
    ['unsupported Keras layers', () => ['--model', join(fixtures, 'tfjs-unsupported', 'model.json'), '--image', join(samples, 'coffee.png')], 1, /^lrp-lens: model\.json: unsupported Keras layers: UpSampling2D \(layer "up"\), activation "selu" \(layer "conv_a"\), Maximum \(layers "concat_1", "concat_2"\)$/],
    ['unsupported ONNX operators', () => ['--model', unsupportedOnnx(), '--input', join(goldens, 'tinyvgg.sample.coffee.npy')], 1, /^lrp-lens: unsupported\.onnx: unsupported ONNX operators: Softplus \(node "soft"\), Softsign \(nodes "sign1", "sign2"\)$/],
    ['an absurd weight shape', () => ['--model', join(fixtures, 'tfjs-absurd', 'model.json'), '--image', join(samples, 'coffee.png')], 1, /^lrp-lens: model\.json: weight "conv\/kernel" declares shape \[1000000, 1000000\] \(1\.00e\+12 values\)/],
    ['wrong magic in an .onnx', () => {
      const p = join(tmp, 'zip.onnx');
      writeFileSync(p, 'PK\u0003\u0004 not a model at all');
      return ['--model', p, '--image', join(samples, 'coffee.png')];
    }, 1, /^lrp-lens: zip\.onnx: not an ONNX model, or the file is damaged/],
    ['a truncated .onnx', () => {
      const p = join(tmp, 'cut.onnx');
      writeFileSync(p, readFileSync(join(models, 'resnet20-cifar10', 'resnet20_cifar10.legacy.onnx')).subarray(0, 30_000));
      return ['--model', p, '--image', join(samples, 'coffee.png')];
    }, 1, /^lrp-lens: cut\.onnx: /],
    ['an ONNX model without its side file', () => {
      const p = join(tmp, 'resnet20_cifar10.onnx');
      writeFileSync(p, readFileSync(RESNET));
      return ['--model', p, '--image', join(samples, 'coffee.png')];
    }, 1, /^lrp-lens: resnet20_cifar10\.onnx keeps its weights in resnet20_cifar10\.onnx\.data, which is not beside it: pass it with --model-data$/],
    ['usage: no input', () => ['--model', TINYVGG], 2, /^lrp-lens: explain needs one of --image <png\|jpg> or --input <x\.npy>/],
  ];

  for (const [what, args, status, message] of cases) {
    it(`reports ${what}`, () => {
      const r = cli(['explain', '--backend', 'cpu', ...args()]);
      expect(r.status).toBe(status);
      expect(r.stdout).toBe('');
      const lines = r.stderr.split('\n');
      expect(lines[0]).toMatch(message);
      if (status === 1) expect(lines).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
});
