/**
 * The benchmark's pieces without timing anything: the model builders give valid graphs of the right size, the
 * counts, the options, the formatting, and one tiny run on the CPU backend. No timing assertions.
 */
import { describe, expect, it } from 'vitest';
import { compileProgram, inferShapes } from '../../src/engine/compile';
import { createEngine } from '../../src/engine/index';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { benchInput, resnet50, TINY, vgg16, visionTransformer, VIT_B16, VIT_TINY, XorShift } from '../../src/bench/models';
import { graphCounts, assignmentCounts, formatPresetTable, SOFTMAX_FLOPS } from '../../src/bench/counts';
import { parseBenchArgs, resolveBackends, isSoftwareAdapter, BenchUsageError } from '../../src/bench/args';
import {
  CAPTUM_EPSILON,
  changedAssignment,
  EPSILON_PLUS_FLAT,
  formatReport,
  formatTable,
  formatValue,
  median,
  reexplainLayers,
  runBench,
  type BenchResult,
  type BenchRow,
} from '../../src/bench/run-bench';
import { selectModels, syntheticSources, builtinSources, modelFileSource } from '../../src/bench/sources';

describe('benchmark models', () => {
  it('VGG16 has torchvision VGG16 shapes: ~138M parameters, ~15.5 GMACs', () => {
    const g = vgg16(undefined, { random: false });
    const shapes = inferShapes(g);
    expect(shapes.get(g.output)).toEqual([1, 1000]);
    expect(shapes.get('features.30')).toEqual([1, 512, 7, 7]);
    const c = graphCounts(g);
    expect(c.params).toBe(138_357_544); // torchvision.models.vgg16: 138,357,544
    expect(c.forwardMacs / 1e9).toBeGreaterThan(15.3);
    expect(c.forwardMacs / 1e9).toBeLessThan(15.6);
    expect(c.weightedLayers).toBe(16);
  });

  it('ResNet-50 (v1.5, BatchNorm folded) has ~25.5M parameters and ~4.1 GMACs', () => {
    const g = resnet50(undefined, { random: false });
    const shapes = inferShapes(g);
    expect(shapes.get(g.output)).toEqual([1, 1000]);
    expect(shapes.get('maxpool')).toEqual([1, 64, 56, 56]);
    expect(shapes.get('layer2.0.conv1')).toEqual([1, 128, 56, 56]); // v1.5: the 1x1 keeps the resolution
    expect(shapes.get('layer2.0.conv2')).toEqual([1, 128, 28, 28]); // and the 3x3 strides
    expect(shapes.get('layer4.2.relu3')).toEqual([1, 2048, 7, 7]);
    const c = graphCounts(g);
    // torchvision's 25,557,032 counts BatchNorm weight and bias; folded, each BN channel leaves one conv bias.
    expect(c.params / 1e6).toBeGreaterThan(25.4);
    expect(c.params / 1e6).toBeLessThan(25.6);
    expect(c.forwardMacs / 1e9).toBeGreaterThan(4.0);
    expect(c.forwardMacs / 1e9).toBeLessThan(4.2);
    expect(c.weightedLayers).toBe(54); // 49 convs on the main path, 4 downsample convs, fc
    expect(g.nodes.filter((n) => n.op === 'add')).toHaveLength(16);
    expect(g.nodes.some((n) => n.op === 'batchnorm')).toBe(false);
  });

  it('ViT-B/16 has torchvision vit_b_16 shapes: 86.6M parameters, ~17.6 GMACs with attention, 12 x 12 heads', () => {
    const g = visionTransformer(VIT_B16, { random: false });
    const shapes = inferShapes(g);
    expect(shapes.get(g.output)).toEqual([1, 1000]);
    expect(shapes.get('conv_proj')).toEqual([1, 768, 14, 14]);
    expect(shapes.get('concat_0')).toEqual([1, 197, 768]); // 196 patches and the class token
    expect(shapes.get('encoder.layers.encoder_layer_0.self_attention.matmul')).toEqual([197, 1, 2304]); // Q, K, V
    expect(shapes.get('encoder.layers.encoder_layer_0.self_attention.matmul_1')).toEqual([12, 197, 197]); // Q K^T
    expect(shapes.get('encoder.layers.encoder_layer_11.self_attention.matmul_2')).toEqual([12, 197, 64]); // A V
    expect(shapes.get('encoder.layers.encoder_layer_11.mlp.1')).toEqual([1, 197, 3072]);
    expect(shapes.get('reshape_cls')).toEqual([1, 768]);
    const c = graphCounts(g);
    // torchvision.models.vit_b_16: 86,567,656 parameters (class token and position embedding included), and here
    // each block's scalar sqrt(64) by which the queries are divided.
    expect(c.params).toBe(86_567_656 + 12);
    expect(c.weightedLayers).toBe(1 + 12 * 4 + 1);
    // Attention: Q K^T and A V, 2 x 12 heads x 197 x 197 x 64 multiply-adds per block; softmax 12 x 197 x 197 values.
    expect(c.matmulMacs).toBe(12 * 2 * 12 * 197 * 197 * 64);
    expect(c.softmaxValues).toBe(12 * 12 * 197 * 197);
    // torchvision's table: 17.56 "GFLOPS" (multiply-adds); 2 FLOPs each here, plus the softmax.
    expect(c.forwardMacs / 1e9).toBeGreaterThan(17.5);
    expect(c.forwardMacs / 1e9).toBeLessThan(17.65);
    expect(c.forwardFlops).toBe(2 * c.forwardMacs + SOFTMAX_FLOPS * c.softmaxValues);
    for (const op of ['layernorm', 'gelu', 'softmax', 'matmul', 'concat', 'addconst', 'transpose', 'slice', 'scale'] as const) {
      expect(g.nodes.some((n) => n.op === op), op).toBe(true);
    }
    expect(g.nodes.filter((n) => n.op === 'layernorm')).toHaveLength(25);
    expect(g.nodes.filter((n) => n.op === 'add')).toHaveLength(24);
  });

  it('counts attention in the programs: matmuls in the forward and relevance phases, buffers within the GPU limits', () => {
    const g = visionTransformer(VIT_B16, { random: false });
    const graph = graphCounts(g);
    const captum = assignmentCounts(g, CAPTUM_EPSILON);
    expect(captum.forwardMacs).toBe(graph.forwardMacs);
    expect(captum.forwardFlops).toBe(graph.forwardFlops);
    // CP-LRP-style epsilon on the A V product: no relevance through Q K^T, so a little under the forward pass.
    expect(captum.relevanceMacs / graph.forwardMacs).toBeGreaterThan(0.9);
    expect(captum.relevanceMacs / graph.forwardMacs).toBeLessThan(1);
    // The gradient goes through Q K^T and the softmax as well.
    const gradient = assignmentCounts(g, { preset: 'gradient' });
    expect(gradient.relevanceFlops).toBeGreaterThan(captum.relevanceFlops);
    // What one explanation holds on the GPU: under 1 GiB in all, no buffer above WebGPU's default 128 MiB binding limit.
    for (const preset of ['EpsilonPlusFlat', 'cp-epsilon', 'cp-gamma']) {
      const p = assignmentCounts(g, { preset });
      expect(p.bufferBytes, preset).toBeLessThan(2 ** 30);
      expect(p.largestBufferBytes, preset).toBeLessThan(128 * 2 ** 20);
      expect(p.largestBufferBytes, preset).toBe(3072 * 768 * 4); // an MLP weight
    }
  });

  it('the tiny ViT keeps the layers of ViT-B/16 on 32x32 and explains with finite relevance', async () => {
    const g = visionTransformer(VIT_TINY);
    expect(inferShapes(g).get(g.output)).toEqual([1, 1000]);
    expect(g.input.shape).toEqual([1, 3, 32, 32]);
    const full = visionTransformer(VIT_B16, { random: false });
    const kinds = (x: typeof g) => x.nodes.map((n) => n.op);
    const block = (x: typeof g) => x.nodes.filter((n) => n.name.startsWith('encoder.layers.encoder_layer_0.')).map((n) => `${n.op} ${n.name}`);
    expect(block(g)).toEqual(block(full));
    expect(new Set(kinds(g))).toEqual(new Set(kinds(full)));
    for (const n of g.nodes) for (const p of Object.values(n.params)) expect(p.data.every(Number.isFinite)).toBe(true);
    const engine = await createEngine({ backend: 'cpu' });
    const model = await engine.load(g);
    for (const rules of [CAPTUM_EPSILON, EPSILON_PLUS_FLAT, { preset: 'cp-gamma' }]) {
      const e = await model.explain(benchInput(g.input.shape), { rules, layerRelevance: false });
      expect(e.logits.every(Number.isFinite)).toBe(true);
      expect(e.relevance.every(Number.isFinite)).toBe(true);
      expect(e.relevance.some((v) => v !== 0)).toBe(true);
    }
    model.dispose();
  });

  it('tiny presets keep the layers on 32x32 with widths / 8 and finite random weights', () => {
    for (const g of [vgg16(TINY), resnet50(TINY)]) {
      expect(inferShapes(g).get(g.output)).toEqual([1, 1000]);
      expect(g.input.shape).toEqual([1, 3, 32, 32]);
      for (const n of g.nodes) {
        for (const p of Object.values(n.params)) {
          expect(p.data.every(Number.isFinite)).toBe(true);
          expect(p.data.some((v) => v !== 0)).toBe(true);
        }
      }
    }
    expect(vgg16(TINY).nodes.map((n) => n.name)).toEqual(vgg16(undefined, { random: false }).nodes.map((n) => n.name));
    expect(resnet50(TINY).nodes.map((n) => n.name)).toEqual(resnet50(undefined, { random: false }).nodes.map((n) => n.name));
  });

  it('weights are deterministic per seed', () => {
    const a = vgg16(TINY, { seed: 3 }).nodes[0]!.params.weight!.data;
    const b = vgg16(TINY, { seed: 3 }).nodes[0]!.params.weight!.data;
    const c = vgg16(TINY, { seed: 4 }).nodes[0]!.params.weight!.data;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    const u = new XorShift(9).fill(new Float32Array(10_000), 0.5);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.max(...u)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length)).toBeLessThan(0.02);
    expect(benchInput([1, 3, 4, 4])).toHaveLength(48);
  });

  it('compiles under both presets and under the changed assignments of the re-explanation', () => {
    for (const g of [vgg16(TINY), resnet50(TINY), visionTransformer(VIT_TINY)]) {
      const { top, first } = reexplainLayers(g);
      expect(g.nodes.find((n) => n.name === top)!.op).toBe('linear');
      expect(g.nodes.find((n) => n.name === first)!.op).toBe('conv2d');
      for (const rules of [CAPTUM_EPSILON, EPSILON_PLUS_FLAT, changedAssignment(g, top, 0), changedAssignment(g, [top, first], 1)]) {
        expect(compileProgram(g, resolveAssignment(g, rules)).relevanceSteps.length).toBeGreaterThan(0);
      }
      expect(JSON.stringify(changedAssignment(g, top, 0))).not.toBe(JSON.stringify(changedAssignment(g, top, 1)));
    }
  });

  it('counts the relevance pass from the program: epsilon ~1x the forward MACs, EpsilonPlusFlat ~2x (x- terms left out after ReLUs)', () => {
    const g = vgg16(undefined, { random: false });
    const forward = graphCounts(g).forwardMacs;
    const captum = assignmentCounts(g, CAPTUM_EPSILON);
    const epf = assignmentCounts(g, EPSILON_PLUS_FLAT);
    expect(captum.forwardMacs).toBe(forward); // max pools are not convolutions; no average pool in VGG16
    expect(captum.relevanceMacs / forward).toBeCloseTo(1, 2);
    // ZPlus on a ReLU's output: one convolution for z and one for the relevance (its x- terms are zero and left out,
    // else four); the first layer's Flat the same; the Linear layers' Epsilon reuses the forward output as z.
    expect(epf.relevanceMacs / forward).toBeGreaterThan(1.9);
    expect(epf.relevanceMacs / forward).toBeLessThan(2);
    expect(epf.bufferBytes).toBeGreaterThan(4 * 138_357_544);
    const table = formatPresetTable([{ name: 'vgg16', graph: g }]).split('\n');
    expect(table[2]).toBe('| forward only | 30.9 (1.00) |');
    expect(table.find((l) => l.startsWith('| captum-default |'))).toBe('| captum-default | 61.9 (2.00) |');
    const vit = formatPresetTable([{ name: 'vit-b16', graph: visionTransformer(VIT_B16, { random: false }) }]).split('\n');
    expect(vit[2]).toBe('| forward only | 35.2 (1.00) |');
    expect(vit.find((l) => l.startsWith('| cp-epsilon |'))).toMatch(/^\| cp-epsilon \| 69\.\d \(1\.9\d\) \|$/);
  });

  it('runs tiny models on the CPU backend with finite results', async () => {
    const engine = await createEngine({ backend: 'cpu' });
    for (const g of [vgg16(TINY), resnet50(TINY)]) {
      const model = await engine.load(g);
      const e = await model.explain(benchInput(g.input.shape), { rules: EPSILON_PLUS_FLAT, layerRelevance: false });
      expect(e.logits.every(Number.isFinite)).toBe(true);
      expect(e.relevance.every(Number.isFinite)).toBe(true);
      model.dispose();
    }
  });
});

describe('benchmark options', () => {
  it('parses flags', () => {
    expect(parseBenchArgs(['--quick'])).toMatchObject({ quick: true, runs: 3, warmup: 2 });
    expect(parseBenchArgs([])).toMatchObject({ quick: false, counts: false, runs: 10 });
    expect(parseBenchArgs(['--counts'])).toMatchObject({ counts: true });
    expect(parseBenchArgs(['--model', 'vgg16,resnet50', '--backend=cpu', '--runs', '20', '--json', 'a.json'])).toMatchObject({
      models: ['vgg16', 'resnet50'],
      backend: 'cpu',
      runs: 20,
      json: 'a.json',
    });
    expect(() => parseBenchArgs(['--runs', '0'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--backend', 'metal'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--json'])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['--fast'])).toThrow(/unknown option/);
  });

  it('runs both backends in quick mode on a software adapter, else WebGPU', () => {
    const swiftshader = 'google swiftshader swiftshader-device-subzero- SwiftShader driver 5.0.0';
    expect(isSoftwareAdapter(swiftshader)).toBe(true);
    expect(isSoftwareAdapter('nvidia hopper NVIDIA H100 80GB HBM3')).toBe(false);
    expect(resolveBackends(undefined, true, { available: true, description: swiftshader })).toEqual(['webgpu', 'cpu']);
    expect(resolveBackends(undefined, false, { available: true, description: swiftshader })).toEqual(['webgpu']);
    expect(resolveBackends(undefined, true, { available: true, description: 'nvidia hopper' })).toEqual(['webgpu']);
    expect(resolveBackends(undefined, true, { available: false, description: '' })).toEqual(['cpu']);
    expect(resolveBackends('both', false, { available: true, description: '' })).toEqual(['webgpu', 'cpu']);
  });

  it('selects models', () => {
    const all = [...syntheticSources(), ...builtinSources(async () => null, 'nowhere')];
    expect(selectModels(all, undefined, true).map((m) => m.name)).toEqual(['vgg16-tiny', 'resnet50-tiny', 'vit-tiny']);
    expect(selectModels(all, undefined, false).map((m) => m.name)).toEqual(['vgg16', 'resnet50', 'vit-b16', 'tinyvgg', 'darknet-tiny', 'resnet20-cifar10']);
    expect(selectModels(all, ['vit-b16'], false).map((m) => m.name)).toEqual(['vit-b16']);
    expect(selectModels(all, ['resnet20-cifar10', 'vgg16-tiny'], true).map((m) => m.name)).toEqual(['resnet20-cifar10', 'vgg16-tiny']);
    expect(() => selectModels(all, ['alexnet'], false)).toThrow(/unknown model "alexnet"/);
  });

  it('takes any ONNX file or model.json as a model, with the files beside it', async () => {
    const { readFile } = await import('node:fs/promises');
    const reads: string[] = [];
    const fromDir = (dir: string) => async (file: string) => {
      reads.push(file);
      try {
        return new Uint8Array(await readFile(`${dir}/${file}`));
      } catch {
        return null;
      }
    };
    const picked = selectModels([], ['public/models/resnet20-cifar10/resnet20_cifar10.onnx'], true, (path) =>
      modelFileSource(path, fromDir('public/models/resnet20-cifar10')),
    );
    expect(picked.map((m) => m.name)).toEqual(['resnet20_cifar10.onnx']);
    const graph = await picked[0]!.load();
    expect(reads).toEqual(['resnet20_cifar10.onnx', 'resnet20_cifar10.onnx.data']); // its external data, found by name
    expect(graph.nodes.some((n) => n.op === 'batchnorm')).toBe(false); // merged
    const tfjs = modelFileSource('public/models/tinyvgg/model.json', fromDir('public/models/tinyvgg'));
    expect((await tfjs.load()).nodes.length).toBeGreaterThan(3);
    await expect(modelFileSource('nowhere/x.onnx', fromDir('nowhere')).load()).rejects.toThrow(/model files not found \(x\.onnx under nowhere\/x\.onnx\)/);
  });

  it('says which files are missing for a built-in model', async () => {
    const resnet20 = builtinSources(async () => null, 'public/models').find((m) => m.name === 'resnet20-cifar10')!;
    await expect(resnet20.load()).rejects.toThrow(/resnet20-cifar10\/resnet20_cifar10\.onnx under public\/models/);
  });

  it('imports the built-in models from public/models when they are there', async () => {
    const { readFile } = await import('node:fs/promises');
    const read = async (path: string) => {
      try {
        return new Uint8Array(await readFile(`public/models/${path}`));
      } catch {
        return null;
      }
    };
    for (const source of builtinSources(read, 'public/models')) {
      if (!(await read(`${source.name}/LICENSE`))) continue; // not installed in this checkout
      const graph = await source.load();
      expect(inferShapes(graph).get(graph.output)![0]).toBe(1);
      expect(reexplainLayers(graph).first).toBeTruthy();
    }
  });
});

describe('benchmark report', () => {
  const row = (over: Partial<BenchRow>): BenchRow => ({
    model: 'vgg16',
    backend: 'webgpu',
    measurement: 'explain-epf',
    unit: 'ms',
    median: 12.345,
    min: 11.9,
    max: 130.2,
    samples: [11.9, 12.345, 130.2],
    gpuMedian: null,
    note: '2.5 TFLOP/s',
    ...over,
  });
  const fake: BenchResult = {
    tool: 'lrp-lens-bench',
    version: 1,
    startedAt: '2030-01-01T00:00:00.000Z',
    environment: 'test machine',
    quick: true,
    runs: 3,
    warmup: 2,
    adapters: { webgpu: 'nvidia hopper', cpu: 'CPU' },
    models: [],
    rows: [
      row({}),
      row({ measurement: 'forward', median: null, min: null, max: null, samples: [], note: 'n/a: LoadedModel has no forward()' }),
      row({ measurement: 'memory', unit: 'MiB', median: 1234.56, min: 1234.56, max: 1234.56, samples: [1234.56], note: 'a|b' }),
      row({ backend: 'cpu', measurement: 'reexplain-top', median: 0.4567, min: 0.4, max: 0.5, gpuMedian: 0.25 }),
    ],
    skipped: [
      { model: 'resnet20-cifar10', reason: 'model files not found', failed: false },
      { model: 'vgg16', backend: 'cpu', reason: 'out of memory', failed: true },
    ],
    wallMs: 4321,
  };

  it('formats values and medians', () => {
    expect(formatValue(null)).toBe('n/a');
    expect(formatValue(1234.56)).toBe('1235');
    expect(formatValue(12.345)).toBe('12.3');
    expect(formatValue(1.2345)).toBe('1.23');
    expect(formatValue(0.01234)).toBe('0.012');
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNull();
  });

  it('prints one Markdown row per model x backend x measurement', () => {
    const lines = formatTable(fake.rows).split('\n');
    expect(lines[0]).toBe('| model | backend | measurement | median | min | max | runs | notes |');
    expect(lines).toHaveLength(2 + fake.rows.length);
    expect(lines[2]).toBe('| vgg16 | webgpu | explain: EpsilonPlusFlat | 12.3 ms | 11.9 | 130 | 3 | 2.5 TFLOP/s |');
    expect(lines[3]).toBe('| vgg16 | webgpu | forward | n/a | n/a | n/a | 0 | n/a: LoadedModel has no forward() |');
    expect(lines[4]).toContain('| 1235 MiB |');
    expect(lines[4]).toContain('a\\|b');
    expect(lines[5]).toContain('GPU 0.250 ms (timestamps)');
  });

  it('reports the machine, adapters, skipped models and wall time', () => {
    const text = formatReport(fake);
    expect(text).toContain('(quick)');
    expect(text).toContain('medians of 3 runs after 2 warm-up runs');
    expect(text).toContain('Machine: test machine');
    expect(text).toContain('- webgpu: nvidia hopper');
    expect(text).toContain('Skipped resnet20-cifar10: model files not found');
    expect(text).toContain('FAILED vgg16 on cpu: out of memory');
    expect(text).toContain('Benchmark wall time: 4.3 s');
  });

  it('runs the whole benchmark on the CPU backend (one run, no warm-up)', async () => {
    const lines: string[] = [];
    const result = await runBench({
      models: [...syntheticSources().filter((m) => m.name === 'resnet50-tiny'), ...builtinSources(async () => null, 'nowhere').slice(0, 1)],
      backends: ['cpu'],
      runs: 1,
      warmup: 0,
      quick: true,
      environment: 'vitest',
      engine: () => createEngine({ backend: 'cpu' }),
      log: (l) => lines.push(l),
    });
    expect(result.skipped).toEqual([{ model: 'tinyvgg', reason: expect.stringMatching(/not found/), failed: false }]);
    expect(result.rows.map((r) => r.measurement)).toEqual(['forward', 'explain-captum', 'explain-epf', 'reexplain-top', 'reexplain-first', 'cold', 'memory']);
    for (const r of result.rows) {
      if (r.measurement === 'memory' || r.measurement === 'forward') continue; // n/a with an engine that lacks them
      expect(r.samples).toHaveLength(1);
      expect(r.median).toBeGreaterThan(0);
    }
    expect(result.models[0]!.name).toBe('resnet50-tiny');
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(result))).toMatchObject({ tool: 'lrp-lens-bench', adapters: { cpu: expect.any(String) } });
  });
});
