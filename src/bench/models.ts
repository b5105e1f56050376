/**
 * Benchmark models built in code: VGG16, ResNet-50 and ViT-B/16 with torchvision's architecture (224x224 RGB, 1000
 * classes) and deterministic random weights, so the benchmark needs no download. BatchNorm is folded into the preceding
 * convolution (as Zennit's canonizers do before an explanation): every conv carries a bias and no batchnorm node
 * remains. Weights are He-scaled (uniform, variance 2 / fan_in) so activations stay finite through the depth; the
 * last convolution of each ResNet bottleneck branch is scaled down (like torchvision's zero_init_residual, but not
 * zero) so the residual sum does not double its variance per block.
 *
 * `tiny` presets keep the layer structure (same layers, same names, same kernel sizes and strides) on a 32x32 input
 * with every channel width divided by 8: seconds instead of hours on a CPU-emulated GPU.
 */
import type { Graph, GraphNode, Shape, Tensor } from '../engine/graph';

/**
 * Fast deterministic numbers (xorshift32); `fill` writes uniform values in [-scale, scale). The state stays a
 * signed 32-bit integer so that V8 keeps the loop in integer registers (about 1 ns per value).
 */
export class XorShift {
  private s: number;

  constructor(seed: number) {
    this.s = seed | 0 || 0x2545f491;
  }

  /** The next value as an unsigned 32-bit integer. */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x | 0;
    return this.s >>> 0;
  }

  fill(out: Float32Array, scale: number): Float32Array {
    let x = this.s;
    const k = scale / 2147483648;
    for (let i = 0; i < out.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x * k;
    }
    this.s = x | 0 || 0x2545f491;
    return out;
  }
}

export interface BuildOptions {
  /** Seed of the weights (default 1). */
  readonly seed?: number;
  /**
   * false: parameters are allocated but left at zero (shape checks and FLOP counts only: no time spent on random
   * numbers, and untouched zero pages cost no memory until written).
   */
  readonly random?: boolean;
}

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  private readonly rng: XorShift;
  private readonly random: boolean;

  constructor(options: BuildOptions) {
    this.rng = new XorShift(options.seed ?? 1);
    this.random = options.random ?? true;
  }

  private param(shape: Shape, scale: number): Tensor {
    let n = 1;
    for (const d of shape) n *= d;
    const data = new Float32Array(n);
    if (this.random && scale > 0) this.rng.fill(data, scale);
    return { shape, data };
  }

  private add(node: GraphNode): string {
    this.nodes.push(node);
    return node.output;
  }

  /** Conv2d (square kernel, symmetric padding) with a bias: a convolution with its BatchNorm folded in. */
  conv(name: string, x: string, cin: number, cout: number, k: number, stride: number, pad: number, gain = 1): string {
    const fanIn = cin * k * k;
    return this.add({
      name,
      op: 'conv2d',
      inputs: [x],
      output: name,
      attrs: { stride: [stride, stride], pads: [pad, pad, pad, pad], dilation: [1, 1], groups: 1 },
      params: {
        weight: this.param([cout, cin, k, k], gain * Math.sqrt(6 / fanIn)),
        bias: this.param([cout], 0.05),
      },
    });
  }

  linear(name: string, x: string, cin: number, cout: number): string {
    return this.add({
      name,
      op: 'linear',
      inputs: [x],
      output: name,
      attrs: {},
      params: { weight: this.param([cout, cin], Math.sqrt(6 / cin)), bias: this.param([cout], 0.05) },
    });
  }

  relu(name: string, x: string): string {
    return this.add({ name, op: 'relu', inputs: [x], output: name, attrs: {}, params: {} });
  }

  maxpool(name: string, x: string, k: number, stride: number, pad: number): string {
    return this.add({
      name,
      op: 'maxpool2d',
      inputs: [x],
      output: name,
      attrs: { kernel: [k, k], stride: [stride, stride], pads: [pad, pad, pad, pad] },
      params: {},
    });
  }

  globalAvgPool(name: string, x: string): string {
    return this.add({ name, op: 'globalavgpool', inputs: [x], output: name, attrs: {}, params: {} });
  }

  flatten(name: string, x: string, features: number): string {
    return this.add({ name, op: 'reshape', inputs: [x], output: name, attrs: { shape: [1, features] }, params: {} });
  }

  sum(name: string, a: string, b: string): string {
    return this.add({ name, op: 'add', inputs: [a, b], output: name, attrs: {}, params: {} });
  }

  /** A layer without parameters (reshape, transpose, slice, softmax, GELU, matmul of two computed values). */
  plain(name: string, op: GraphNode['op'], inputs: readonly string[], attrs: GraphNode['attrs'] = {}): string {
    return this.add({ name, op, inputs, output: name, attrs, params: {} });
  }

  /** LayerNorm over the last axis (eps 1e-6, as torchvision's ViT), gamma in [0.5, 1.5), beta in [-0.1, 0.1). */
  layernorm(name: string, x: string, axis: number, width: number): string {
    const gamma = this.param([width], 0.5);
    if (this.random) for (let i = 0; i < width; i++) gamma.data[i] = gamma.data[i]! + 1;
    return this.add({ name, op: 'layernorm', inputs: [x], output: name, attrs: { axis, epsilon: 1e-6 }, params: { gamma, beta: this.param([width], 0.1) } });
  }

  /** x / c for a scalar c (attention's 1 / sqrt(head width) on the queries). */
  divide(name: string, x: string, c: number): string {
    const constant = { shape: [], data: new Float32Array([c]) };
    return this.add({ name, op: 'scale', inputs: [x], output: name, attrs: { mode: 'div' }, params: { constant } });
  }

  /** A constant [1, 1, width] placed before x along axis 1 (a ViT's class token). */
  prependToken(name: string, x: string, width: number): string {
    return this.add({ name, op: 'concat', inputs: [x], output: name, attrs: { axis: 1, layout: [-1, 0] }, params: { constant0: this.param([1, 1, width], 0.2) } });
  }

  /** x + c for a constant c of x's shape (a position embedding). */
  addConstant(name: string, x: string, shape: Shape, scale: number): string {
    return this.add({ name, op: 'addconst', inputs: [x], output: name, attrs: {}, params: { constant: this.param(shape, scale) } });
  }
}

export type BenchModelKind = 'vgg16' | 'resnet50';

export interface ModelSize {
  /** Input height and width. */
  readonly size: number;
  /** Channel widths are divided by this. */
  readonly widthDivisor: number;
  readonly classes: number;
}

export const FULL: ModelSize = { size: 224, widthDivisor: 1, classes: 1000 };
export const TINY: ModelSize = { size: 32, widthDivisor: 8, classes: 1000 };

const VGG16_CFG: readonly (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

/**
 * torchvision.models.vgg16 with torchvision's module names (features.0, ..., classifier.6). The adaptive average
 * pool to 7x7 is the identity at 224x224 and is left out; dropout is the identity at inference. The tiny preset
 * flattens its 1x1 feature map (no 7x7 replication) into a classifier of width 4096/8.
 */
export function vgg16(size: ModelSize = FULL, options: BuildOptions = {}): Graph {
  const g = new GraphBuilder(options);
  const d = size.widthDivisor;
  let x = 'input';
  let c = 3;
  let hw = size.size;
  let i = 0;
  for (const v of VGG16_CFG) {
    if (v === 'M') {
      x = g.maxpool(`features.${i}`, x, 2, 2, 0);
      hw = Math.floor(hw / 2);
      i += 1;
    } else {
      const out = v / d;
      x = g.conv(`features.${i}`, x, c, out, 3, 1, 1);
      x = g.relu(`features.${i + 1}`, x);
      c = out;
      i += 2;
    }
  }
  const features = c * hw * hw;
  const hidden = 4096 / d;
  x = g.flatten('flatten', x, features);
  x = g.linear('classifier.0', x, features, hidden);
  x = g.relu('classifier.1', x);
  x = g.linear('classifier.3', x, hidden, hidden);
  x = g.relu('classifier.4', x);
  x = g.linear('classifier.6', x, hidden, size.classes);
  return {
    name: d === 1 ? 'vgg16' : 'vgg16-tiny',
    input: { name: 'input', shape: [1, 3, size.size, size.size] },
    output: x,
    nodes: g.nodes,
    notes: ['random weights (benchmark)'],
  };
}

/** How much the last convolution of a residual branch is scaled relative to He (keeps the residual sum finite). */
const RESIDUAL_GAIN = 0.2;

/**
 * torchvision.models.resnet50 (v1.5: the stride sits on the 3x3 conv of a bottleneck) with BatchNorm folded:
 * conv1 7x7/2, maxpool 3x3/2 pad 1, four stages of bottlenecks [3, 4, 6, 3] (1x1, 3x3, 1x1 with expansion 4),
 * a 1x1 strided downsample conv on the shortcut of each stage's first block, global average pool, fc.
 * Node names follow torchvision (layer2.0.conv2, layer2.0.downsample.0, fc); the shared relu module becomes
 * relu1/relu2/relu3 per block and the residual sum "add".
 */
export function resnet50(size: ModelSize = FULL, options: BuildOptions = {}): Graph {
  const g = new GraphBuilder(options);
  const d = size.widthDivisor;
  const stem = 64 / d;
  let x = g.conv('conv1', 'input', 3, stem, 7, 2, 3);
  x = g.relu('relu', x);
  x = g.maxpool('maxpool', x, 3, 2, 1);
  let c = stem;
  const stages: readonly [number, number, number][] = [
    [64, 3, 1],
    [128, 4, 2],
    [256, 6, 2],
    [512, 3, 2],
  ];
  stages.forEach(([width0, blocks, stride0], s) => {
    const width = width0 / d;
    const out = width * 4;
    for (let b = 0; b < blocks; b++) {
      const p = `layer${s + 1}.${b}`;
      const stride = b === 0 ? stride0 : 1;
      let y = g.conv(`${p}.conv1`, x, c, width, 1, 1, 0);
      y = g.relu(`${p}.relu1`, y);
      y = g.conv(`${p}.conv2`, y, width, width, 3, stride, 1);
      y = g.relu(`${p}.relu2`, y);
      y = g.conv(`${p}.conv3`, y, width, out, 1, 1, 0, RESIDUAL_GAIN);
      const shortcut = b === 0 ? g.conv(`${p}.downsample.0`, x, c, out, 1, stride, 0) : x;
      x = g.relu(`${p}.relu3`, g.sum(`${p}.add`, y, shortcut));
      c = out;
    }
  });
  x = g.globalAvgPool('avgpool', x);
  x = g.flatten('flatten', x, c);
  x = g.linear('fc', x, c, size.classes);
  return {
    name: d === 1 ? 'resnet50' : 'resnet50-tiny',
    input: { name: 'input', shape: [1, 3, size.size, size.size] },
    output: x,
    nodes: g.nodes,
    notes: ['random weights (benchmark)'],
  };
}

/**
 * torchvision.models.resnet18 with BatchNorm folded: conv1 7x7/2, maxpool 3x3/2 pad 1, four stages of two basic
 * blocks (3x3, 3x3; stride 2 and a 1x1 strided downsample conv on the shortcut of the first block of stages 2-4),
 * global average pool, fc. Names as torchvision's (layer2.0.conv1, layer2.0.downsample.0, fc).
 */
export function resnet18(size: ModelSize = FULL, options: BuildOptions = {}): Graph {
  const g = new GraphBuilder(options);
  const d = size.widthDivisor;
  const stem = 64 / d;
  let x = g.conv('conv1', 'input', 3, stem, 7, 2, 3);
  x = g.relu('relu', x);
  x = g.maxpool('maxpool', x, 3, 2, 1);
  let c = stem;
  [64, 128, 256, 512].forEach((width0, s) => {
    const width = width0 / d;
    for (let b = 0; b < 2; b++) {
      const p = `layer${s + 1}.${b}`;
      const stride = b === 0 && s > 0 ? 2 : 1;
      let y = g.conv(`${p}.conv1`, x, c, width, 3, stride, 1);
      y = g.relu(`${p}.relu1`, y);
      y = g.conv(`${p}.conv2`, y, width, width, 3, 1, 1, RESIDUAL_GAIN);
      const shortcut = stride !== 1 || c !== width ? g.conv(`${p}.downsample.0`, x, c, width, 1, stride, 0) : x;
      x = g.relu(`${p}.relu2`, g.sum(`${p}.add`, y, shortcut));
      c = width;
    }
  });
  x = g.globalAvgPool('avgpool', x);
  x = g.flatten('flatten', x, c);
  x = g.linear('fc', x, c, size.classes);
  return {
    name: `resnet18${size.size === 224 ? '' : `-${size.size}`}`,
    input: { name: 'input', shape: [1, 3, size.size, size.size] },
    output: x,
    nodes: g.nodes,
    notes: ['random weights (benchmark)'],
  };
}

/** 112x112 inputs, full widths: the CPU comparison with PyTorch (issue 16). */
export const HALF: ModelSize = { size: 112, widthDivisor: 1, classes: 1000 };

export interface VitConfig {
  readonly name: string;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly layers: number;
  readonly heads: number;
  readonly hidden: number;
  readonly mlp: number;
  readonly classes: number;
}

/** torchvision.models.vit_b_16: 224x224, patches 16x16, 12 blocks of 12 heads, width 768, MLP 3072, 1000 classes. */
export const VIT_B16: VitConfig = { name: 'vit-b16', imageSize: 224, patchSize: 16, layers: 12, heads: 12, hidden: 768, mlp: 3072, classes: 1000 };
/** The same layers on a 32x32 input: patches 8x8 (17 tokens), 4 blocks of 4 heads, width 64, MLP 256. */
export const VIT_TINY: VitConfig = { name: 'vit-tiny', imageSize: 32, patchSize: 8, layers: 4, heads: 4, hidden: 64, mlp: 256, classes: 1000 };

/**
 * torchvision's VisionTransformer as torch.onnx exports it and the ONNX importer maps it (same layer kinds, shapes,
 * attributes and names as an imported `vit_b_16`; tests/fixtures/zoo/vit.onnx is the same graph, smaller):
 * the patch embedding `conv_proj` (Conv2d k x k / k), Reshape to [1, D, T] and Transpose to tokens [1, T, D], the
 * class token (a constant Concat), the position embedding (a constant Add), per block: `ln_1`, the multi-head
 * attention of `nn.MultiheadAttention` (sequence-first Transpose, the in-projection Linear to Q, K, V, three
 * Slices, Reshape/Transpose into heads, Q / sqrt(d), K transposed, the Q K^T matmul, Softmax, the A V matmul with the
 * attention weights as gate, merge heads, `out_proj`, back to batch-first), the residual Add, `ln_2`, MLP (Linear,
 * GELU, Linear), the residual Add; then `encoder.ln`, the class token (Slice, Reshape) into `heads.head`.
 * Random weights: Linear/Conv He-scaled as above, LayerNorm gamma around 1; the activations stay of order 1
 * (every branch starts with a LayerNorm).
 */
export function visionTransformer(cfg: VitConfig, options: BuildOptions = {}): Graph {
  const g = new GraphBuilder(options);
  const { patchSize: p, hidden: d, heads: h } = cfg;
  const grid = cfg.imageSize / p;
  if (!Number.isInteger(grid) || d % h !== 0) throw new RangeError(`${cfg.name}: image size / patch size and width / heads must be integers`);
  const patches = grid * grid;
  const t = patches + 1;
  const dh = d / h;
  let x = g.conv('conv_proj', 'input', 3, d, p, p, 0);
  x = g.plain('reshape_0', 'reshape', [x], { shape: [1, d, patches] });
  x = g.plain('transpose_0', 'transpose', [x], { perm: [0, 2, 1] });
  x = g.prependToken('concat_0', x, d);
  x = g.addConstant('encoder.add', x, [1, t, d], 0.02);
  for (let i = 0; i < cfg.layers; i++) {
    const b = `encoder.layers.encoder_layer_${i}`;
    const a = `${b}.self_attention`;
    const residual = x;
    let y = g.layernorm(`${b}.ln_1`, x, 2, d);
    y = g.plain(`${a}.transpose`, 'transpose', [y], { perm: [1, 0, 2] }); // [T, 1, D]
    const qkv = g.linear(`${a}.matmul`, y, d, 3 * d); // [T, 1, 3D]
    const heads = (k: number): string => {
      const s = g.plain(`${a}.slice${k ? `_${k}` : ''}`, 'slice', [qkv], { starts: [k * d], ends: [(k + 1) * d], axes: [2], steps: [1] });
      return g.plain(`${a}.reshape${k ? `_${k}` : ''}`, 'reshape', [s], { shape: [t, h, dh] }); // [T, H, dh]
    };
    const q = g.divide(`${a}.div_1`, g.plain(`${a}.transpose_1`, 'transpose', [heads(0)], { perm: [1, 0, 2] }), Math.sqrt(dh)); // [H, T, dh]
    const kT = g.plain(`${a}.transpose_3`, 'transpose', [heads(1)], { perm: [1, 2, 0] }); // [H, dh, T]
    const v = g.plain(`${a}.transpose_2`, 'transpose', [heads(2)], { perm: [1, 0, 2] }); // [H, T, dh]
    const scores = g.plain(`${a}.matmul_1`, 'matmul', [q, kT], { gate: -1 }); // [H, T, T]
    const weights = g.plain(`${a}.softmax`, 'softmax', [scores]);
    let o = g.plain(`${a}.matmul_2`, 'matmul', [weights, v], { gate: 0 }); // [H, T, dh]
    o = g.plain(`${a}.transpose_4`, 'transpose', [o], { perm: [1, 0, 2] }); // [T, H, dh]
    o = g.plain(`${a}.reshape_3`, 'reshape', [o], { shape: [t, d] });
    o = g.linear(`${a}.out_proj`, o, d, d);
    o = g.plain(`${a}.reshape_4`, 'reshape', [o], { shape: [t, 1, d] });
    o = g.plain(`${a}.transpose_5`, 'transpose', [o], { perm: [1, 0, 2] }); // [1, T, D]
    x = g.sum(`${b}.add`, o, residual);
    let m = g.layernorm(`${b}.ln_2`, x, 2, d);
    m = g.linear(`${b}.mlp.0`, m, d, cfg.mlp);
    m = g.plain(`${b}.mlp.1`, 'gelu', [m]);
    m = g.linear(`${b}.mlp.3`, m, cfg.mlp, d);
    x = g.sum(`${b}.add_1`, x, m);
  }
  x = g.layernorm('encoder.ln', x, 2, d);
  x = g.plain('slice_cls', 'slice', [x], { starts: [0], ends: [1], axes: [1], steps: [1] });
  x = g.plain('reshape_cls', 'reshape', [x], { shape: [1, d] });
  x = g.linear('heads.head', x, d, cfg.classes);
  return {
    name: cfg.name,
    input: { name: 'input', shape: [1, 3, cfg.imageSize, cfg.imageSize] },
    output: x,
    nodes: g.nodes,
    notes: ['random weights (benchmark)'],
  };
}

export interface SyntheticModel {
  readonly name: string;
  readonly description: string;
  /** Small enough for the quick benchmark on a CPU-emulated GPU. */
  readonly quick: boolean;
  /** In the default set of the full benchmark; default: not quick. */
  readonly full?: boolean;
  build(options?: BuildOptions): Graph;
}

export const SYNTHETIC_MODELS: readonly SyntheticModel[] = [
  { name: 'vgg16', description: 'VGG16, 224x224, random weights', quick: false, build: (o) => vgg16(FULL, o) },
  { name: 'resnet50', description: 'ResNet-50 (v1.5, BN folded), 224x224, random weights', quick: false, build: (o) => resnet50(FULL, o) },
  { name: 'resnet18-112', description: 'ResNet-18 (BN folded), 112x112, random weights', quick: false, full: false, build: (o) => resnet18(HALF, o) },
  { name: 'resnet50-112', description: 'ResNet-50 (v1.5, BN folded), 112x112, random weights', quick: false, full: false, build: (o) => ({ ...resnet50(HALF, o), name: 'resnet50-112' }) },
  { name: 'vgg16-tiny', description: 'VGG16 layers, 32x32, widths / 8, random weights', quick: true, build: (o) => vgg16(TINY, o) },
  { name: 'resnet50-tiny', description: 'ResNet-50 layers, 32x32, widths / 8, random weights', quick: true, build: (o) => resnet50(TINY, o) },
  { name: 'vit-b16', description: 'ViT-B/16 (torchvision vit_b_16 layers), 224x224, random weights', quick: false, build: (o) => visionTransformer(VIT_B16, o) },
  { name: 'vit-tiny', description: 'ViT layers, 32x32, patches 8x8, 4 blocks of 4 heads, width 64, random weights', quick: true, build: (o) => visionTransformer(VIT_TINY, o) },
];

/** A deterministic input image in the usual normalised range (about -2 to 2). */
export function benchInput(shape: Shape, seed = 7): Float32Array {
  let n = 1;
  for (const v of shape) n *= v;
  return new XorShift(seed).fill(new Float32Array(n), 2);
}
