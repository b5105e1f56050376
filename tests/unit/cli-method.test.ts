/**
 * `lrp-lens explain --method` (gradient baselines) and `--concept` (CRP): the CLI's outputs equal the engine
 * functions' (src/engine/attribution-methods.ts, concepts.ts) for the same model and input, and the option
 * combinations that make no sense get clear errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseArgs, parseConcept, UsageError, type ExplainCommand } from '../../src/cli/args';
import { ExplainError, formatReport, runExplain } from '../../src/cli/explain';
import { encodePng } from '../../src/cli/image-io';
import { foldBatchNorm } from '../../src/engine/canonicalize';
import { inferShapes } from '../../src/engine/compile';
import type { Graph } from '../../src/engine/graph';
import { explainConcept, gradientTimesInput, inputGradient, integratedGradients, smoothGrad, type LoadedModel } from '../../src/engine/index';
import { encodeNpy, parseNpy, toFloat32 } from '../../src/engine/io/npy';
import { openModelFiles } from '../../src/models/builtin';
import { heatmapImage } from '../../src/models/colormap';
import { cpuEngine } from './helpers/engines';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const goldens = resolve(repoRoot, '..', 'shared', 'goldens');
const CNN = join(goldens, 'cnn.onnx');
const INPUT = join(goldens, 'cnn.input.npy');
const tmp = mkdtempSync(join(tmpdir(), 'lrp-method-'));

const explain = (args: string[]): ExplainCommand => {
  const cmd = parseArgs(['explain', '--backend', 'cpu', ...args]);
  if (cmd.kind !== 'explain') throw new Error('not explain');
  return cmd;
};
const one = ['--model', 'm.onnx', '--input', 'x.npy'];
const readNpy = (file: string): Float32Array => toFloat32(parseNpy(new Uint8Array(readFileSync(file))));

describe('explain --method and --concept arguments', () => {
  it('parses the method, its options and the concept; LRP stays the default', () => {
    expect(explain(one).method).toBeUndefined();
    expect(explain(one).concept).toBeUndefined();
    expect(explain([...one, '--method', 'lrp'])).toMatchObject({ method: 'lrp' });
    expect(explain([...one, '--method', 'smoothgrad', '--samples', '8', '--noise-level', '0.3'])).toMatchObject({
      method: 'smoothgrad',
      methodOptions: { samples: 8, noiseLevel: 0.3 },
    });
    expect(explain([...one, '--method', 'integrated-gradients', '--steps', '300', '--baseline', 'b.npy'])).toMatchObject({
      method: 'integrated-gradients',
      methodOptions: { steps: 300, baseline: 'b.npy' },
    });
    expect(explain([...one, '--method', 'integrated-gradients', '--baseline', 'zeros']).methodOptions).toEqual({ baseline: 'zeros' });
    expect(explain([...one, '--method', 'smoothgrad', '--seed', '4294967295']).methodOptions).toEqual({ seed: 4294967295 });
    expect(explain([...one, '--method', 'integrated-gradients', '--integration', 'trapezoid']).methodOptions).toEqual({ integration: 'trapezoid' });
    expect(explain([...one, '--concept', 'conv2:5,12,5'])).toMatchObject({ concept: { layer: 'conv2', channels: [5, 12] } });
    // The layer is split off at the last colon: ONNX names may hold colons.
    expect(parseConcept('model/block:1/conv:3')).toEqual({ layer: 'model/block:1/conv', channels: [3] });
    // --steps and --baseline keep their pixel-flipping meaning with --images.
    expect(explain(['--model', 'm', '--images', 'd', '--out', 'o', '--steps', '4', '--baseline', 'mean'])).toMatchObject({ evaluation: { steps: 4, baseline: 'mean' } });
  });

  it.each([
    [[...one, '--method', 'saliency'], /--method must be one of lrp, gradient, gradient-x-input, smoothgrad or integrated-gradients \(got "saliency"\)/],
    [[...one, '--method', 'gradient', '--rule', 'conv1=flat'], /--rule is an LRP option: --method gradient explains with the model's gradient, which has no rules/],
    [[...one, '--method', 'smoothgrad', '--composite', 'EpsilonGammaBox'], /--composite is an LRP option: --method smoothgrad/],
    [[...one, '--method', 'gradient-x-input', '--batchnorm', 'keep'], /--batchnorm is an LRP option/],
    [[...one, '--method', 'gradient', '--rule-def', 'my-rules.json'], /--rule-def is an LRP option/],
    [[...one, '--method', 'gradient', '--layer', 'a', '--layer-out', 'l.npy'], /--layer is an LRP option/],
    [[...one, '--method', 'integrated-gradients', '--concept', 'c:1'], /--concept is Concept Relevance Propagation, an LRP explanation: it cannot be used with --method integrated-gradients/],
    [[...one, '--samples', '4'], /--samples is for --method smoothgrad \(the method is lrp\)/],
    [[...one, '--method', 'integrated-gradients', '--noise-level', '0.2'], /--noise-level is for --method smoothgrad \(the method is integrated-gradients\)/],
    [[...one, '--method', 'smoothgrad', '--steps', '10'], /--steps is for --method integrated-gradients \(the method is smoothgrad\), or pixel flipping/],
    [[...one, '--baseline', 'zeros'], /--baseline is for --method integrated-gradients \(the method is lrp\)/],
    [[...one, '--method', 'integrated-gradients', '--baseline', 'blur'], /--baseline for integrated-gradients must be zeros or a \.npy file of the input's shape, got "blur"/],
    [[...one, '--method', 'smoothgrad', '--samples', '0'], /--samples must be a whole number from 1 to 100000, got "0"/],
    [[...one, '--method', 'smoothgrad', '--noise-level', '-1'], /--noise-level must be a number of 0 or more/],
    [[...one, '--method', 'smoothgrad', '--seed', '-3'], /--seed must be a whole number from 0 to 4294967295, got "-3"/],
    [[...one, '--method', 'gradient', '--seed', '3'], /--seed is for --method smoothgrad \(the method is gradient\)/],
    [[...one, '--method', 'integrated-gradients', '--integration', 'simpson'], /--integration must be midpoint or trapezoid \(got "simpson"\)/],
    [[...one, '--method', 'smoothgrad', '--integration', 'midpoint'], /--integration is for --method integrated-gradients \(the method is smoothgrad\)/],
    [['--model', 'm', '--images', 'd', '--out', 'o', '--seed', '2'], /--seed is for --method smoothgrad, which --images does not run/],
    [[...one, '--concept', 'conv2'], /--concept must be LAYER:CHANNEL\[,CHANNEL\.\.\.\]/],
    [[...one, '--concept', 'conv2:a'], /--concept must be LAYER:CHANNEL/],
    [['--model', 'm', '--images', 'd', '--out', 'o', '--method', 'gradient'], /--method gradient is for one input \(--image or --input\): --images explains with LRP/],
    [['--model', 'm', '--images', 'd', '--out', 'o', '--concept', 'c:0'], /--concept is for one input/],
    [['--model', 'm', '--images', 'd', '--out', 'o', '--baseline', 'zeros'], /--baseline must be blur, mean, noise or zero \(got "zeros"\)/],
    [['--model', 'm', '--images', 'd', '--out', 'o', '--steps', '1000'], /--steps must be a whole number from 1 to 256, got "1000"/],
  ])('%j is refused', (args, why) => {
    expect(() => explain(args)).toThrow(UsageError);
    expect(() => explain(args)).toThrow(why);
  });

  it('--link takes none of them', () => {
    expect(() => parseArgs(['explain', '--link', 'x', '--method', 'gradient'])).toThrow(/--method cannot be used with --link/);
  });
});

describe('explain --method and --concept against the engine (cpu)', () => {
  let graph: Graph;
  let model: LoadedModel;
  let x: Float32Array;

  beforeAll(async () => {
    const files = ['cnn.onnx', 'cnn.onnx.data'].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(goldens, name))) }));
    // As the CLI explains it: BatchNorm merged by default (a no-op for this model, which has none).
    graph = foldBatchNorm(openModelFiles(files).graph);
    model = await (await cpuEngine()).load(graph);
    x = readNpy(INPUT);
  });

  const png = (attribution: Float32Array) => encodePng(heatmapImage(attribution, graph.input.shape, 'bwr', null));

  it.each([
    ['gradient', [], (m: LoadedModel, input: Float32Array) => inputGradient(m, input, { target: 3 })],
    ['gradient-x-input', [], (m: LoadedModel, input: Float32Array) => gradientTimesInput(m, input, { target: 3 })],
    ['smoothgrad', ['--samples', '3', '--noise-level', '0.2'], (m: LoadedModel, input: Float32Array) => smoothGrad(m, input, { target: 3, samples: 3, noiseLevel: 0.2, seed: 0 })],
    ['integrated-gradients', ['--steps', '4'], (m: LoadedModel, input: Float32Array) => integratedGradients(m, input, { target: 3, steps: 4 })],
    ['smoothgrad', ['--samples', '2', '--seed', '77'], (m: LoadedModel, input: Float32Array) => smoothGrad(m, input, { target: 3, samples: 2, seed: 77 })],
    ['integrated-gradients', ['--steps', '3', '--integration', 'trapezoid'], (m: LoadedModel, input: Float32Array) => integratedGradients(m, input, { target: 3, steps: 3, rule: 'trapezoid' })],
  ] as const)('--method %s writes the engine function\'s attribution (npy and heatmap)', async (method, extra, reference) => {
    const rel = join(tmp, `${method}.npy`);
    const out = join(tmp, `${method}.png`);
    const r = await runExplain(explain(['--model', CNN, '--input', INPUT, '--target', '3', '--method', method, ...extra, '--relevance-out', rel, '--out', out]));
    const a = await reference(model, x);
    const written = parseNpy(new Uint8Array(readFileSync(rel)));
    expect(written.shape).toEqual(graph.input.shape);
    expect(Array.from(toFloat32(written))).toEqual(Array.from(a.attribution));
    expect(new Uint8Array(readFileSync(out))).toEqual(png(a.attribution));
    expect(r.method).toMatchObject({ name: method, gradients: a.gradients });
    expect(r.composite).toBe('gradient');
    expect(r.rules).toEqual([]);
    expect(r.explained.class).toBe(3);
    expect(r.relevanceSum).toBeCloseTo(a.attribution.reduce((s, v) => s + v, 0), 4);
    if (method === 'integrated-gradients') expect(r.method!.completeness).toEqual(a.completeness);
    const text = formatReport(r).join('\n');
    expect(text).toContain('Attribution sum:');
    if (method === 'smoothgrad') expect(text).toContain((extra as readonly string[]).includes('--seed') ? 'with SmoothGrad (2 samples, noise level 0.15, seed 77)' : 'with SmoothGrad (3 samples, noise level 0.2, seed 0)');
    if (method === 'integrated-gradients') {
      expect(text).toMatch((extra as readonly string[]).includes('trapezoid') ? /with Integrated Gradients \(3 steps, trapezoid rule, baseline zeros\)\nCompleteness: / : /with Integrated Gradients \(4 steps, midpoint rule, baseline zeros\)\nCompleteness: /);
    }
  });

  it('--method integrated-gradients --baseline FILE.npy integrates from that baseline; a wrong shape is refused', async () => {
    const baseline = x.map((v, i) => (i % 7) * 0.05 - v * 0.25);
    const file = join(tmp, 'baseline.npy');
    writeFileSync(file, encodeNpy(baseline, graph.input.shape));
    const rel = join(tmp, 'ig-baseline.npy');
    const r = await runExplain(explain(['--model', CNN, '--input', INPUT, '--method', 'integrated-gradients', '--steps', '3', '--baseline', file, '--relevance-out', rel]));
    const a = await integratedGradients(model, x, { steps: 3, baseline });
    expect(Array.from(readNpy(rel))).toEqual(Array.from(a.attribution));
    expect(r.method).toMatchObject({ name: 'integrated-gradients', steps: 3, baseline: file, completeness: a.completeness });

    const wrong = join(tmp, 'wrong.npy');
    writeFileSync(wrong, encodeNpy(new Float32Array(5), [5]));
    const bad = runExplain(explain(['--model', CNN, '--input', INPUT, '--method', 'integrated-gradients', '--baseline', wrong]));
    await expect(bad).rejects.toThrow(ExplainError);
    await expect(runExplain(explain(['--model', CNN, '--input', INPUT, '--method', 'integrated-gradients', '--baseline', wrong]))).rejects.toThrow(
      `the baseline ${wrong} has shape [5]; the model takes [${graph.input.shape.join(', ')}]`,
    );
    await expect(runExplain(explain(['--model', CNN, '--input', INPUT, '--method', 'integrated-gradients', '--baseline', join(tmp, 'none.npy')]))).rejects.toThrow(
      /cannot read the baseline .*none\.npy: no such file/,
    );
  });

  it('--concept writes explainConcept\'s relevance and reports the concept\'s share', async () => {
    const conv = graph.nodes.find((n) => n.op === 'conv2d')!;
    const channels = inferShapes(graph).get(conv.output)![1]!;
    const rel = join(tmp, 'concept.npy');
    const out = join(tmp, 'concept.png');
    const r = await runExplain(explain(['--model', CNN, '--input', INPUT, '--concept', `${conv.name}:1,${channels - 1}`, '--relevance-out', rel, '--out', out]));
    const c = await explainConcept(model, x, { layer: conv.name, channels: [1, channels - 1], rules: { preset: 'EpsilonPlusFlat' }, layerRelevance: false });
    expect(Array.from(readNpy(rel))).toEqual(Array.from(c.relevance));
    expect(new Uint8Array(readFileSync(out))).toEqual(png(c.relevance));
    expect(r.concept).toEqual({
      layer: conv.name,
      channels: [1, channels - 1],
      layerChannels: channels,
      relevance: c.concept.relevance,
      layerRelevance: c.concept.channelRelevance.reduce((s, v) => s + v, 0),
    });
    expect(r.composite).toBe('EpsilonPlusFlat');
    expect(formatReport(r).join('\n')).toContain(`Concept: ${conv.name} channels 1, ${channels - 1} of ${channels}: relevance`);
    // Conditioning changes the relevance (it is not the plain explanation).
    const plain = await model.explain(x, { rules: { preset: 'EpsilonPlusFlat' }, layerRelevance: false });
    expect(Array.from(c.relevance)).not.toEqual(Array.from(plain.relevance));
  });

  it('--concept: an unknown layer lists the layers; a channel out of range says how many there are', async () => {
    const conv = graph.nodes.find((n) => n.op === 'conv2d')!;
    const channels = inferShapes(graph).get(conv.output)![1]!;
    const unknown = runExplain(explain(['--model', CNN, '--input', INPUT, '--concept', 'nope:0']));
    await expect(unknown).rejects.toThrow(ExplainError);
    await expect(runExplain(explain(['--model', CNN, '--input', INPUT, '--concept', 'nope:0']))).rejects.toThrow(
      new RegExp(`^--concept: layer "nope" is not a layer of this model\\. The layers: .*${conv.name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
    );
    await expect(runExplain(explain(['--model', CNN, '--input', INPUT, '--concept', `${conv.name}:0,${channels}`]))).rejects.toThrow(
      `--concept: channel ${channels} is not a channel of "${conv.name}": its output [${inferShapes(graph).get(conv.output)!.join(', ')}] has ${channels} channels along axis 1 (0 to ${channels - 1})`,
    );
  });
});

describe('the real command line', () => {
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'lrp-lens.mjs'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l && !/building the CLI/.test(l)) };
  };

  it('--method gradient --json reports the method; a conflict exits 2 with one line naming both options', () => {
    const ok = cli(['explain', '--model', CNN, '--input', INPUT, '--backend', 'cpu', '--method', 'gradient', '--json']);
    expect(ok.status).toBe(0);
    const report = JSON.parse(ok.stdout) as { method: { name: string; gradients: number }; composite: string; rules: unknown[] };
    expect(report.method).toEqual({ name: 'gradient', gradients: 1 });
    expect(report.composite).toBe('gradient');
    const bad = cli(['explain', '--model', CNN, '--input', INPUT, '--method', 'smoothgrad', '--rule', 'conv1=flat']);
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr[0]).toBe(
      "lrp-lens: --rule is an LRP option: --method smoothgrad explains with the model's gradient, which has no rules (drop --rule, or use --method lrp)",
    );
    const range = cli(['explain', '--model', CNN, '--input', INPUT, '--backend', 'cpu', '--concept', 'conv1:8']);
    expect(range.status).toBe(1);
    expect(range.stderr).toEqual(['lrp-lens: --concept: channel 8 is not a channel of "conv1": its output [1, 8, 16, 16] has 8 channels along axis 1 (0 to 7)']);
  });
});
