/**
 * Structural ops and pools (issue: torchvision's CNN families): the strided-copy kernel against its float64
 * reference on the GPU; concat, transpose, slice (rank up to 6, steps of either sign), max pools with ceil mode,
 * global max pool and average pools whose divisor varies by window, each checked on the CPU backend against an
 * independent naive float64 computation written here (forward and relevance), for conservation where the op routes,
 * and on WebGPU against the CPU backend; then their ONNX mappings (Concat, Transpose, Slice, Split, MaxPool,
 * GlobalMaxPool, AveragePool).
 */
import * as protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Graph, GraphNode } from '../../src/engine/graph';
import type { TensorRef } from '../../src/engine/program';
import type { StridedCopyStep } from '../../src/engine/kernels/steps';
import type { RuleAssignment } from '../../src/rules/assignment';
import { gpuSpecFor, kernelFor } from '../../src/engine/kernels/registry';
import { PipelineCache } from '../../src/engine/gpu/pipeline-cache';
import { packUniforms } from '../../src/engine/kernels/uniforms';
import { createNodeGpu } from '../../src/node/node-gpu';
import { importOnnx } from '../../src/engine/onnx/import-onnx';
import { onnxProto } from '../../src/engine/onnx/onnx-schema';
import { cpuEngine, gpuEngine, randomArray, relL2, rng, sum } from './helpers/engines';

// ---------------------------------------------------------------------------------------------------------------
// Naive nd-array helpers (independent of the engine).

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function unravel(i: number, shape: readonly number[]): number[] {
  const o = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    o[a] = i % shape[a]!;
    i = Math.floor(i / shape[a]!);
  }
  return o;
}
function ravel(o: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let a = 0; a < shape.length; a++) i = i * shape[a]! + o[a]!;
  return i;
}

/** A copy op described by where each output element comes from: [input number, flat index in that input]. */
interface Routing {
  readonly outShape: number[];
  readonly src: (o: number[]) => [number, number];
}
function forwardCopy(r: Routing, inputs: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(size(r.outShape));
  for (let i = 0; i < out.length; i++) {
    const [k, j] = r.src(unravel(i, r.outShape));
    out[i] = inputs[k]![j]!;
  }
  return out;
}
/** The adjoint: each output element's relevance returns to the element it copied. */
function routeBack(r: Routing, rel: Float64Array, inSizes: readonly number[]): Float64Array[] {
  const res = inSizes.map((n) => new Float64Array(n));
  for (let i = 0; i < rel.length; i++) {
    const [k, j] = r.src(unravel(i, r.outShape));
    res[k]![j]! += rel[i]!;
  }
  return res;
}

const transposeRouting = (inShape: number[], perm: number[]): Routing => ({
  outShape: perm.map((a) => inShape[a]!),
  src: (o) => {
    const i = new Array<number>(inShape.length);
    perm.forEach((a, j) => (i[a] = o[j]!));
    return [0, ravel(i, inShape)];
  },
});
const sliceRouting = (inShape: number[], start: number[], step: number[], count: number[]): Routing => ({
  outShape: count,
  src: (o) => [0, ravel(o.map((v, a) => start[a]! + v * step[a]!), inShape)],
});
const concatRouting = (shapes: number[][], axis: number): Routing => {
  const outShape = [...shapes[0]!];
  outShape[axis] = shapes.reduce((a, s) => a + s[axis]!, 0);
  return {
    outShape,
    src: (o) => {
      let v = o[axis]!;
      let k = 0;
      while (v >= shapes[k]![axis]!) v -= shapes[k++]![axis]!;
      const i = [...o];
      i[axis] = v;
      return [k, ravel(i, shapes[k]!)];
    },
  };
};

const node = (name: string, op: GraphNode['op'], inputs: string[], output: string, attrs: GraphNode['attrs'] = {}, params: GraphNode['params'] = {}): GraphNode => ({
  name,
  op,
  inputs,
  output,
  attrs,
  params,
});

/** Appends flatten + Linear "fc" (features -> 3) to a graph body; returns the graph and fc's weights. */
function withHead(name: string, inShape: number[], body: GraphNode[], last: string, features: number, seed: number): { graph: Graph; w: Float32Array; b: Float32Array } {
  const random = rng(seed);
  const w = randomArray(3 * features, random);
  const b = randomArray(3, random, 0.3);
  const graph: Graph = {
    name,
    input: { name: 'x', shape: inShape },
    output: 'logits',
    nodes: [
      ...body,
      node('flatten', 'reshape', [last], 'flat', { shape: [1, features] }),
      node('fc', 'linear', ['flat'], 'logits', {}, { weight: { shape: [3, features], data: w }, bias: { shape: [3], data: b } }),
    ],
  };
  return { graph, w, b };
}

const EPS = 0.1;
/** Gradient everywhere except fc (epsilon 0.1): structural ops route, pools take their gradient. */
const RULES: RuleAssignment = { preset: 'gradient', layers: [{ layer: 'fc', rule: 'epsilon', epsilon: EPS }] };
const TARGET = 1;
const stab = (z: number, eps: number) => z + (z >= 0 ? eps : -eps);

/** Naive logits and the relevance fc sends to its input (epsilon rule, seeded with the target logit). */
function naiveHead(a: Float64Array, w: Float32Array, b: Float32Array): { logits: number[]; r: Float64Array } {
  const f = a.length;
  const logits = [0, 1, 2].map((k) => {
    let z = b[k]!;
    for (let j = 0; j < f; j++) z += w[k * f + j]! * a[j]!;
    return z;
  });
  const z = logits[TARGET]!;
  const r = new Float64Array(f);
  for (let j = 0; j < f; j++) r[j] = (a[j]! * w[TARGET * f + j]! * z) / stab(z, EPS);
  return { logits, r };
}

async function explainBoth(graph: Graph, input: Float32Array, rules: RuleAssignment = RULES) {
  const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
  const [mc, mg] = await Promise.all([cpu.load(graph), gpu.load(graph)]);
  const c = await mc.explain(input, { rules, target: TARGET });
  const g = await mg.explain(input, { rules, target: TARGET });
  mc.dispose();
  mg.dispose();
  return { c, g };
}

function expectGpuMatches(c: { logits: Float32Array; relevance: Float32Array; layers: readonly { layer: string; data: Float32Array }[] }, g: typeof c): void {
  expect(relL2(g.logits, c.logits), 'webgpu logits').toBeLessThan(1e-5);
  expect(relL2(g.relevance, c.relevance), 'webgpu input relevance').toBeLessThan(1e-5);
  c.layers.forEach((l, i) => expect(relL2(g.layers[i]!.data, l.data), `webgpu ${l.layer}`).toBeLessThan(1e-5));
}

// ---------------------------------------------------------------------------------------------------------------

describe('strided-copy kernel: WebGPU matches the float64 reference', () => {
  let gpu: GPU; // kept referenced: Dawn's instance must outlive the device
  let device: GPUDevice;
  let cache: PipelineCache;
  beforeAll(async () => {
    gpu = await createNodeGpu();
    device = await (await gpu.requestAdapter())!.requestDevice();
    cache = new PipelineCache(device);
  });
  afterAll(() => device?.destroy());

  async function gpuRun(step: StridedCopyStep, data: Float32Array[]): Promise<Float32Array> {
    const spec = gpuSpecFor(step);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buffers = data.map((d) => {
      const b = device.createBuffer({ size: Math.max(16, Math.ceil((d.length * 4) / 16) * 16), usage });
      device.queue.writeBuffer(b, 0, d);
      return b;
    });
    const view = new DataView(new ArrayBuffer(256));
    new Uint8Array(view.buffer).set(new Uint8Array(packUniforms(spec, step, step.kernel)));
    const uniforms = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(uniforms, 0, view.buffer);
    const pipeline = await cache.get(spec, spec.overrides(step));
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms } }];
    spec.bindings(step).forEach((ref, k) => entries.push({ binding: k + 1, resource: { buffer: buffers[ref!.id]! } }));
    device.pushErrorScope('validation');
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const read = device.createBuffer({ size: step.out.size * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(spec.invocations!(step) / 64));
    pass.end();
    encoder.copyBufferToBuffer(buffers[step.out.id]!, 0, read, 0, step.out.size * 4);
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new Error(error.message);
    await read.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    return out;
  }

  it('random regions of rank 1 to 6: offsets, strides (negative too), windows with steps, accumulate', async () => {
    const random = rng(7);
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    let changed = 0;
    for (let trial = 0; trial < 24; trial++) {
      const rank = 1 + (trial % 6);
      // Destination: a region of a larger tensor; source window: start, step, count per axis, read at strides.
      const shape = Array.from({ length: rank }, () => int(1, rank > 4 ? 3 : 5));
      const step = shape.map(() => int(1, 3));
      const start = shape.map(() => int(-1, 2));
      const count = shape.map((d) => int(1, d + 1));
      const srcShape = count.map((c) => c + int(0, 2));
      const srcStrides = srcShape.map((_, a) => size(srcShape.slice(a + 1)) * (random() < 0.2 ? -1 : 1));
      const srcOffset = srcShape.reduce((acc, d, a) => acc + (srcStrides[a]! < 0 ? (d - 1) * -srcStrides[a]! : 0), 0);
      const dstShape = shape.map((d) => d + int(0, 2));
      const dstStrides = dstShape.map((_, a) => size(dstShape.slice(a + 1)));
      const dstOffset = dstShape.reduce((acc, d, a) => acc + (d - shape[a]!) * (random() < 0.5 ? 1 : 0) * dstStrides[a]!, 0);
      const x = randomArray(size(srcShape), random);
      const out = randomArray(size(dstShape), random);
      const ref = (id: number, n: number): TensorRef => ({ id, shape: [n], size: n });
      const step6: StridedCopyStep = {
        kernel: 'strided-copy',
        x: ref(0, x.length),
        out: ref(1, out.length),
        shape,
        dstOffset,
        dstStrides,
        srcOffset,
        srcStrides,
        start,
        step,
        count,
        accumulate: trial % 2 === 1,
      };
      const mem = [Float64Array.from(x), Float64Array.from(out)];
      kernelFor(step6).cpu(step6, { get: (r) => mem[r.id]! });
      const got = await gpuRun(step6, [x, out]);
      expect(relL2(got, mem[1]!), `trial ${trial}`).toBeLessThan(1e-7);
      if (relL2(mem[1]!, out) > 0) changed++;
    }
    // Most trials copy something (a window may miss the region entirely, and then an accumulating copy adds nothing).
    expect(changed).toBeGreaterThan(12); // the 12 overwriting trials, and accumulating ones too
  }, 60_000);
});

describe('routing ops: forward and relevance against a naive float64 computation, conservation, WebGPU', () => {
  /** Runs a graph whose body is one routing (possibly of several inputs computed from x by routings too). */
  async function check(name: string, inShape: number[], body: GraphNode[], last: string, route: (x: Float64Array) => { out: Float64Array; back: (r: Float64Array) => Float64Array }, seed: number) {
    const input = randomArray(size(inShape), rng(seed), 2);
    const x = Float64Array.from(input);
    const { out, back } = route(x);
    const { graph, w, b } = withHead(name, inShape, body, last, out.length, seed + 1);
    const { c, g } = await explainBoth(graph, input);
    const head = naiveHead(out, w, b);
    expect(relL2(c.logits, head.logits), 'logits').toBeLessThan(1e-6);
    const fcIn = c.layers.find((l) => l.layer === 'fc')!;
    expect(relL2(fcIn.data, head.r), 'relevance at fc input').toBeLessThan(1e-6);
    const expected = back(head.r);
    expect(relL2(c.relevance, expected), 'input relevance').toBeLessThan(1e-6);
    // Routing conserves: what reaches the input is what fc sent down.
    expect(sum(c.relevance)).toBeCloseTo(sum(head.r), 4);
    expect(sum(expected)).not.toBe(0);
    expectGpuMatches(c, g);
  }

  it('transpose: ShuffleNet channel shuffle (reshape, perm 0 2 1 3 4, reshape)', async () => {
    const inShape = [1, 6, 3, 4];
    const five = [1, 2, 3, 3, 4];
    const r = transposeRouting(five, [0, 2, 1, 3, 4]);
    await check(
      'shuffle',
      inShape,
      [node('split', 'reshape', ['x'], 'x5', { shape: five }), node('shuffle', 'transpose', ['x5'], 't', { perm: [0, 2, 1, 3, 4] }), node('merge', 'reshape', ['t'], 'y', { shape: inShape })],
      'y',
      (x) => ({ out: forwardCopy(r, [x]), back: (rel) => routeBack(r, rel, [x.length])[0]! }),
      11,
    );
  }, 60_000);

  it('transpose of rank 6 with a scrambled permutation, and NCHW -> NHWC (negative axes)', async () => {
    const six = [1, 2, 3, 2, 2, 3];
    const perm = [5, 3, 1, 0, 4, 2];
    const r6 = transposeRouting(six, perm);
    await check('rank6', [1, 24, 3], [node('to6', 'reshape', ['x'], 'x6', { shape: six }), node('perm', 'transpose', ['x6'], 'y', { perm })], 'y', (x) => ({
      out: forwardCopy(r6, [x]),
      back: (rel) => routeBack(r6, rel, [x.length])[0]!,
    }), 12);
    const r4 = transposeRouting([1, 3, 4, 5], [0, 2, 3, 1]);
    await check('nhwc', [1, 3, 4, 5], [node('nhwc', 'transpose', ['x'], 'y', { perm: [0, -2, -1, 1] })], 'y', (x) => ({
      out: forwardCopy(r4, [x]),
      back: (rel) => routeBack(r4, rel, [x.length])[0]!,
    }), 13);
  }, 60_000);

  it('slice: rank 5, steps of either sign, clamped and negative bounds', async () => {
    const five = [1, 2, 4, 3, 5];
    // Axis 1 reversed, axis 2 every 2nd from 1, axis 3 walked backwards by 2 from the end, axis 4 [1, 4).
    const attrs = { starts: [1, 0, 1, -1, 1], ends: [-9, 1, 100, -10, 4], axes: [1, 0, 2, 3, 4], steps: [-1, 1, 2, -2, 1] };
    const start = [0, 1, 1, 2, 1];
    const step = [1, -1, 2, -2, 1];
    const count = [1, 2, 2, 2, 3];
    const r = sliceRouting(five, start, step, count);
    await check('slice5', [1, 8, 3, 5], [node('to5', 'reshape', ['x'], 'x5', { shape: five }), node('cut', 'slice', ['x5'], 'y', attrs)], 'y', (x) => ({
      out: forwardCopy(r, [x]),
      back: (rel) => routeBack(r, rel, [x.length])[0]!,
    }), 14);
  }, 60_000);

  it('concat: three inputs (one of them twice, one a slice) along a negative axis; and along the last axis', async () => {
    const xs = [1, 4, 3, 5];
    const sl = sliceRouting(xs, [0, 1, 0, 0], [1, 1, 1, 1], [1, 3, 3, 5]);
    const cat = concatRouting([xs, [1, 3, 3, 5], xs], 1);
    await check(
      'concat-c',
      xs,
      [node('part', 'slice', ['x'], 's', { starts: [1], ends: [4], axes: [1] }), node('cat', 'concat', ['x', 's', 'x'], 'y', { axis: -3 })],
      'y',
      (x) => {
        const s = forwardCopy(sl, [x]);
        return {
          out: forwardCopy(cat, [x, s, x]),
          back: (rel) => {
            const [r0, r1, r2] = routeBack(cat, rel, [x.length, s.length, x.length]);
            const viaSlice = routeBack(sl, r1!, [x.length])[0]!;
            return r0!.map((v, i) => v + viaSlice[i]! + r2![i]!);
          },
        };
      },
      15,
    );
    const catW = concatRouting([xs, xs], 3);
    await check('concat-w', xs, [node('cat', 'concat', ['x', 'x'], 'y', { axis: 3 })], 'y', (x) => ({
      out: forwardCopy(catW, [x, x]),
      back: (rel) => {
        const [a, b] = routeBack(catW, rel, [x.length, x.length]);
        return a!.map((v, i) => v + b![i]!);
      },
    }), 16);
  }, 60_000);

  it('rejects what it cannot compute, naming the layer', async () => {
    const cpu = await cpuEngine();
    const bad = (body: GraphNode[]) => cpu.load(withHead('bad', [1, 2, 3, 4], body, 'y', 24, 1).graph);
    await expect(bad([node('t', 'transpose', ['x'], 'y', { perm: [0, 1, 1, 3] })])).rejects.toThrow(/layer "t".*not a permutation/);
    await expect(bad([node('c', 'concat', ['x', 'x'], 'y', { axis: 4 })])).rejects.toThrow(/layer "c".*out of range/);
    await expect(bad([node('s', 'slice', ['x'], 'y', { starts: [3], ends: [1], axes: [2] })])).rejects.toThrow(/layer "s".*selects nothing/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Pools.

interface PoolCase {
  shape: [number, number, number, number];
  kernel: [number, number];
  stride: [number, number];
  pads: [number, number, number, number];
  ceil: boolean;
}

/** PyTorch's output size (ceil mode: the last window starts inside the input or its leading padding). */
function outSize(n: number, k: number, s: number, p0: number, p1: number, ceil: boolean): number {
  const span = n + p0 + p1 - k;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (o - 1) * s >= n + p0) o--;
  return o;
}

/** Every output window: its input positions (flat, within one plane) and, for average pools, PyTorch's divisor. */
function windows(k: PoolCase, includePad: boolean): { oh: number; ow: number; cells: { taps: number[]; count: number }[] } {
  const [, , h, w] = k.shape;
  const oh = outSize(h, k.kernel[0], k.stride[0], k.pads[0], k.pads[2], k.ceil);
  const ow = outSize(w, k.kernel[1], k.stride[1], k.pads[1], k.pads[3], k.ceil);
  const cells: { taps: number[]; count: number }[] = [];
  for (let oy = 0; oy < oh; oy++)
    for (let ox = 0; ox < ow; ox++) {
      const y0 = oy * k.stride[0] - k.pads[0];
      const x0 = ox * k.stride[1] - k.pads[1];
      const taps: number[] = [];
      for (let y = y0; y < y0 + k.kernel[0]; y++) for (let x = x0; x < x0 + k.kernel[1]; x++) if (y >= 0 && y < h && x >= 0 && x < w) taps.push(y * w + x);
      const padded = (Math.min(y0 + k.kernel[0], h + k.pads[2]) - y0) * (Math.min(x0 + k.kernel[1], w + k.pads[3]) - x0);
      cells.push({ taps, count: includePad ? padded : taps.length });
    }
  return { oh, ow, cells };
}

describe('pools with ceil mode and varying divisors: naive float64, WebGPU', () => {
  const cases: PoolCase[] = [
    // GoogLeNet / SqueezeNet: MaxPool2d(3, 2, ceil_mode=True) where ceil adds a row and a column.
    { shape: [1, 2, 7, 8], kernel: [3, 3], stride: [2, 2], pads: [0, 0, 0, 0], ceil: true },
    // Padding with ceil: the last window reaches one real element only.
    { shape: [1, 3, 6, 5], kernel: [3, 2], stride: [2, 2], pads: [1, 1, 1, 0], ceil: true },
    { shape: [1, 2, 5, 6], kernel: [2, 3], stride: [1, 2], pads: [0, 1, 1, 1], ceil: false },
  ];

  it('max pool (gradient to the first maximum) and global max pool', async () => {
    for (const [i, k] of cases.entries()) {
      const input = randomArray(size(k.shape), rng(30 + i), 2);
      const { oh, ow, cells } = windows(k, true);
      const [, c, h, w] = k.shape;
      const attrs = { kernel: k.kernel, stride: k.stride, pads: k.pads, dilation: [1, 1], ...(k.ceil ? { ceilMode: 1 } : {}) };
      const { graph, w: fw, b: fb } = withHead('maxpool', k.shape, [node('pool', 'maxpool2d', ['x'], 'y', attrs)], 'y', c * oh * ow, 40 + i);
      const pooled = new Float64Array(c * oh * ow);
      const arg = new Int32Array(c * oh * ow);
      for (let ch = 0; ch < c; ch++)
        cells.forEach((cell, o) => {
          let best = -Infinity;
          for (const t of cell.taps) if (input[ch * h * w + t]! > best) [best, arg[ch * oh * ow + o]] = [input[ch * h * w + t]!, ch * h * w + t];
          pooled[ch * oh * ow + o] = best;
        });
      const head = naiveHead(pooled, fw, fb);
      const expected = new Float64Array(input.length);
      head.r.forEach((r, o) => (expected[arg[o]!]! += r));
      const { c: rc, g } = await explainBoth(graph, input);
      expect(rc.layers.find((l) => l.layer === 'fc')!.data.length).toBe(c * oh * ow);
      expect(relL2(rc.logits, head.logits), `case ${i} logits`).toBeLessThan(1e-6);
      expect(relL2(rc.relevance, expected), `case ${i} relevance`).toBeLessThan(1e-6);
      expect(sum(rc.relevance)).toBeCloseTo(sum(head.r), 4);
      expectGpuMatches(rc, g);
    }
    // Global max pool: one window over the whole plane.
    const input = randomArray(2 * 5 * 3, rng(50), 2);
    const { graph, w, b } = withHead('gmp', [1, 2, 5, 3], [node('pool', 'maxpool2d', ['x'], 'y', { kernel: [5, 3], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1] })], 'y', 2, 51);
    const arg = [0, 1].map((ch) => ch * 15 + Array.from(input.slice(ch * 15, ch * 15 + 15)).reduce((bi, v, j, a) => (v > a[bi]! ? j : bi), 0));
    const head = naiveHead(Float64Array.from(arg.map((j) => input[j]!)), w, b);
    const expected = new Float64Array(input.length);
    arg.forEach((j, ch) => (expected[j] = head.r[ch]!));
    const { c: rc, g } = await explainBoth(graph, input);
    expect(relL2(rc.relevance, expected)).toBeLessThan(1e-6);
    expectGpuMatches(rc, g);
  }, 120_000);

  it('average pool: count_include_pad either way with ceil mode; Norm splits by x_i / count_o, the gradient by 1 / count_o', async () => {
    const NORM = 0.05;
    for (const [i, k] of cases.entries()) {
      for (const includePad of [false, true]) {
        const input = randomArray(size(k.shape), rng(60 + i), 2);
        const { oh, ow, cells } = windows(k, includePad);
        const [, c, h, w] = k.shape;
        const attrs = { kernel: k.kernel, stride: k.stride, pads: k.pads, countIncludePad: includePad ? 1 : 0, ...(k.ceil ? { ceilMode: 1 } : {}) };
        const { graph, w: fw, b: fb } = withHead('avgpool', k.shape, [node('pool', 'avgpool2d', ['x'], 'y', attrs)], 'y', c * oh * ow, 70 + i);
        const pooled = new Float64Array(c * oh * ow);
        for (let ch = 0; ch < c; ch++)
          cells.forEach((cell, o) => (pooled[ch * oh * ow + o] = cell.taps.reduce((a, t) => a + input[ch * h * w + t]!, 0) / cell.count));
        const head = naiveHead(pooled, fw, fb);
        const gradient = new Float64Array(input.length);
        const norm = new Float64Array(input.length);
        for (let ch = 0; ch < c; ch++)
          cells.forEach((cell, o) => {
            const r = head.r[ch * oh * ow + o]!;
            const z = pooled[ch * oh * ow + o]!;
            for (const t of cell.taps) {
              gradient[ch * h * w + t]! += r / cell.count;
              norm[ch * h * w + t]! += ((input[ch * h * w + t]! / cell.count) * r) / stab(z, NORM);
            }
          });
        const label = `case ${i} count_include_pad=${includePad ? 1 : 0}`;
        const grad = await explainBoth(graph, input);
        expect(relL2(grad.c.logits, head.logits), `${label}: logits`).toBeLessThan(1e-6);
        expect(relL2(grad.c.relevance, gradient), `${label}: gradient`).toBeLessThan(1e-6);
        expectGpuMatches(grad.c, grad.g);
        const rules: RuleAssignment = { preset: 'gradient', layers: [{ layer: 'fc', rule: 'epsilon', epsilon: EPS }, { layer: 'pool', rule: 'norm', epsilon: NORM }] };
        const byNorm = await explainBoth(graph, input, rules);
        expect(relL2(byNorm.c.relevance, norm), `${label}: norm`).toBeLessThan(1e-6);
        expectGpuMatches(byNorm.c, byNorm.g);
      }
    }
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------------------------
// ONNX mappings.

const ModelProto = protobuf.parse(onnxProto).root.lookupType('onnx.ModelProto');
interface Attr {
  name: string;
  type: number;
  i?: number;
  ints?: number[];
}
const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: 2, i: v });
function model(dims: number[], nodes: { op: string; inputs: string[]; outputs: string[]; attrs?: Attr[] }[], inits: Record<string, unknown>[] = [], opset = 13, output?: string): Uint8Array {
  return ModelProto.encode(
    ModelProto.fromObject({
      irVersion: 8,
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: 'g',
        node: nodes.map((n, i) => ({ opType: n.op, name: `/n${i}/${n.op}`, input: n.inputs, output: n.outputs, attribute: n.attrs ?? [] })),
        initializer: inits,
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } }],
        output: [{ name: output ?? nodes.at(-1)!.outputs[0]! }],
      },
    }),
  ).finish();
}
const i64 = (name: string, v: number[]) => ({ name, dims: [v.length], dataType: 7, int64Data: v });
const f32 = (name: string, dims: number[], v: number[]) => ({ name, dims, dataType: 1, floatData: v });
/** A flatten + Gemm head so the model ends in [1, classes]. */
const head = (from: string, features: number) => ({
  nodes: [
    { op: 'Flatten', inputs: [from], outputs: ['flat'] },
    { op: 'Gemm', inputs: ['flat', 'W'], outputs: ['out'], attrs: [int('transB', 1)] },
  ],
  inits: [f32('W', [2, features], Array.from({ length: 2 * features }, (_, i) => Math.sin(i + 1)))],
});
const load = (bytes: Uint8Array) => importOnnx({ name: 'm.onnx', bytes });
const ops = (g: Graph) => g.nodes.map((n) => n.op);

describe('ONNX mappings', () => {
  it('Gather of a computed value with constant indices: a slice (a scalar index drops the axis), checked against the gather written out', async () => {
    // x [1, 3, 4]: a scalar index on axis 1 (Inception's transform_input, a class token), evenly spaced indices on
    // axis 2, and a scalar index on an axis of size 1 (the slice takes everything: the view reads x itself).
    const cases: { dims: number[]; axis: number; idx: number[]; scalar: boolean; pick: (x: Float32Array) => number[] }[] = [
      { dims: [1, 3, 4], axis: 1, idx: [-2], scalar: true, pick: (x) => [...x.subarray(4, 8)] },
      { dims: [1, 3, 4], axis: 2, idx: [0, 2], scalar: false, pick: (x) => [0, 1, 2].flatMap((r) => [x[r * 4]!, x[r * 4 + 2]!]) },
      { dims: [1, 1, 5], axis: 1, idx: [0], scalar: true, pick: (x) => [...x] },
    ];
    for (const k of cases) {
      const out = k.pick(new Float32Array(size(k.dims))).length;
      const g = load(
        model(
          k.dims,
          [
            { op: 'Gather', inputs: ['x', 'i'], outputs: ['t'], attrs: [int('axis', k.axis)] },
            { op: 'Flatten', inputs: ['t'], outputs: ['flat'] },
            { op: 'Gemm', inputs: ['flat', 'W'], outputs: ['out'], attrs: [int('transB', 1)] },
          ],
          [k.scalar ? { name: 'i', dims: [], dataType: 7, int64Data: k.idx } : i64('i', k.idx), f32('W', [1, out], Array.from({ length: out }, (_, i) => i + 1))],
        ),
      );
      const x = randomArray(size(k.dims), rng(7));
      const m = await (await cpuEngine()).load(g);
      const y = await m.forward(x);
      m.dispose();
      const expected = k.pick(x).reduce((acc, v, i) => acc + v * (i + 1), 0);
      expect(Math.abs(y[0]! - expected)).toBeLessThan(1e-5);
    }
    const bad = model([1, 3, 4], [{ op: 'Gather', inputs: ['x', 'i'], outputs: ['t'], attrs: [int('axis', 2)] }, ...head('t', 6).nodes], [i64('i', [0, 3]), ...head('t', 6).inits]);
    expect(() => load(bad)).not.toThrow(); // evenly spaced
    const uneven = model([1, 3, 4], [{ op: 'Gather', inputs: ['x', 'i'], outputs: ['t'], attrs: [int('axis', 2)] }, ...head('t', 9).nodes], [i64('i', [0, 1, 3]), ...head('t', 9).inits]);
    expect(() => load(uneven)).toThrow(/only a single index or evenly spaced indices/);
  });

  it('Split: opset 13 sizes input, older attribute, equal parts, opset 18 num_outputs; one slice per used output', async () => {
    const cases: { opset: number; inputs: string[]; attrs: Attr[]; inits: Record<string, unknown>[]; sizes: number[] }[] = [
      { opset: 13, inputs: ['x', 'sp'], attrs: [int('axis', 1)], inits: [i64('sp', [2, 4])], sizes: [2, 4] },
      { opset: 11, inputs: ['x'], attrs: [int('axis', -3), ints('split', [1, 5])], inits: [], sizes: [1, 5] },
      { opset: 13, inputs: ['x'], attrs: [int('axis', 1)], inits: [], sizes: [3, 3] },
      { opset: 18, inputs: ['x'], attrs: [int('axis', 1), int('num_outputs', 2)], inits: [], sizes: [3, 3] },
    ];
    for (const k of cases) {
      const h = head('c', 6 * 2 * 2);
      const g = load(
        model([1, 6, 2, 2], [{ op: 'Split', inputs: k.inputs, outputs: ['a', 'b'], attrs: k.attrs }, { op: 'Concat', inputs: ['b', 'a'], outputs: ['c'], attrs: [int('axis', 1)] }, ...h.nodes], [...k.inits, ...h.inits], k.opset),
      );
      expect(ops(g)).toEqual(['slice', 'slice', 'concat', 'reshape', 'linear']);
      // Only the cut axis: the batch axis stays whole whatever the batch.
      expect(g.nodes[0]!.attrs).toEqual({ starts: [0], ends: [k.sizes[0]], axes: [1], steps: [1] });
      expect(g.nodes[1]!.attrs).toEqual({ starts: [k.sizes[0]], ends: [6], axes: [1], steps: [1] });
      expect(g.nodes[2]!.inputs).toEqual([g.nodes[1]!.output, g.nodes[0]!.output]);
    }
    // Opset 18 with a remainder: chunks of ceil(7 / 3) = 3, 3, 1; an unused output gets no layer.
    const h = head('c', 4 * 2);
    const g = load(
      model([1, 7, 2], [{ op: 'Split', inputs: ['x'], outputs: ['a', 'b', 'c'], attrs: [int('axis', 1), int('num_outputs', 3)] }, { op: 'Concat', inputs: ['c', 'a'], outputs: ['cc'], attrs: [int('axis', 1)] }, ...head('cc', 8).nodes], h.inits, 18),
    );
    expect(ops(g)).toEqual(['slice', 'slice', 'concat', 'reshape', 'linear']);
    expect(g.nodes.slice(0, 2).map((n) => n.attrs.starts)).toEqual([[0], [6]]);
    // A batch of inputs (perturbation curves) runs the same slices on every row.
    const m = await (await cpuEngine()).load(g);
    const rows = [randomArray(14, rng(90)), randomArray(14, rng(91))];
    const both = await m.forwardBatch(Float32Array.from([...rows[0]!, ...rows[1]!]), 2);
    const one = [...(await m.forward(rows[0]!)), ...(await m.forward(rows[1]!))];
    m.dispose();
    expect(relL2(both, one)).toBeLessThan(1e-7);
    expect(one.some((v) => v !== 0)).toBe(true);
    expect(() => load(model([1, 7], [{ op: 'Split', inputs: ['x'], outputs: ['a', 'b'], attrs: [int('axis', 1)] }, ...head('a', 3).nodes], head('a', 3).inits))).toThrow(/cannot split 7 evenly into 2/);
  });

  it('Transpose (default perm reverses), Slice with a negative step, Concat with a constant part', () => {
    const h = head('t', 6);
    const g = load(model([1, 2, 3, 1], [{ op: 'Transpose', inputs: ['x'], outputs: ['t'] }, ...h.nodes], h.inits));
    expect(g.nodes[0]).toMatchObject({ op: 'transpose', attrs: { perm: [3, 2, 1, 0] } });
    const hs = head('s', 2 * 3 * 2);
    const s = load(model([1, 2, 3, 4], [{ op: 'Slice', inputs: ['x', 'st', 'en', 'ax', 'sp'], outputs: ['s'] }, ...hs.nodes], [i64('st', [-1]), i64('en', [-100]), i64('ax', [3]), i64('sp', [-2]), ...hs.inits]));
    expect(s.nodes[0]).toMatchObject({ op: 'slice', attrs: { starts: [3], ends: [-5], axes: [3], steps: [-2] } });
    const hc = head('c', 1 * 3 * 3 * 4);
    // A constant part (a class token) becomes a parameter placed by `layout` (tests/unit/attention.test.ts).
    const c = load(model([1, 2, 3, 4], [{ op: 'Concat', inputs: ['x', 'k'], outputs: ['c'], attrs: [int('axis', 1)] }, ...hc.nodes], [f32('k', [1, 1, 3, 4], new Array<number>(12).fill(1)), ...hc.inits]));
    expect(c.nodes[0]).toMatchObject({ op: 'concat', inputs: ['x'], attrs: { axis: 1, layout: [0, -1] }, params: { constant0: { shape: [1, 1, 3, 4] } } });
  });

  it('MaxPool ceil_mode that changes the size, GlobalMaxPool, AveragePool count_include_pad=0 with ceil; imported graphs explain like the naive pools', async () => {
    const h = head('p', 2 * 4 * 4);
    const g = load(model([1, 2, 8, 8], [{ op: 'MaxPool', inputs: ['x'], outputs: ['p'], attrs: [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), int('ceil_mode', 1)] }, ...h.nodes], h.inits));
    expect(g.nodes[0]).toMatchObject({ op: 'maxpool2d', attrs: { ceilMode: 1 } });
    // Ceil mode that changes nothing is dropped.
    const h3 = head('p', 2 * 4 * 4);
    const same = load(model([1, 2, 7, 7], [{ op: 'MaxPool', inputs: ['x'], outputs: ['p'], attrs: [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1]), int('ceil_mode', 1)] }, ...h3.nodes], h3.inits));
    expect(same.nodes[0]!.attrs.ceilMode).toBeUndefined();
    const hg = head('p', 2);
    const gmp = load(model([1, 2, 5, 3], [{ op: 'GlobalMaxPool', inputs: ['x'], outputs: ['p'] }, ...hg.nodes], hg.inits));
    expect(gmp.nodes[0]).toMatchObject({ op: 'maxpool2d', attrs: { kernel: [5, 3] } });
    const ha = head('p', 2 * 4 * 4);
    const avg = load(model([1, 2, 7, 7], [{ op: 'AveragePool', inputs: ['x'], outputs: ['p'], attrs: [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 0, 0]), int('ceil_mode', 1)] }, ...ha.nodes], ha.inits));
    expect(avg.nodes[0]).toMatchObject({ op: 'avgpool2d', attrs: { countIncludePad: 0, ceilMode: 1 } });
    // The imported average pool computes PyTorch's: windows cut by the input count only their input elements.
    const cpu = await cpuEngine();
    const input = randomArray(2 * 49, rng(80), 2);
    const m = await cpu.load(avg);
    const logits = await m.forward(input);
    m.dispose();
    const k: PoolCase = { shape: [1, 2, 7, 7], kernel: [3, 3], stride: [2, 2], pads: [1, 1, 0, 0], ceil: true };
    const { cells } = windows(k, false);
    const pooled = [0, 1].flatMap((ch) => cells.map((cell) => cell.taps.reduce((a, t) => a + input[ch * 49 + t]!, 0) / cell.count));
    const wts = ha.inits[0]!.floatData as number[];
    const expected = [0, 1].map((o) => pooled.reduce((a, v, j) => a + v * wts[o * 32 + j]!, 0));
    expect(relL2(logits, expected)).toBeLessThan(1e-6);
  });
});
