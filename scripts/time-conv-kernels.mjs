#!/usr/bin/env node
// Times the conv-shaped kernels one step at a time: the direct kernels (conv2d.wgsl, conv2d-relevance.wgsl) against
// the variant ops/conv-shaped.ts selects (implicit GEMM, GEMV), on a few layer shapes. Not a test and not the
// benchmark (npm run bench): a kernel developer's stopwatch, whose numbers go to docs/performance-kernels.md.
//
//   node scripts/time-conv-kernels.mjs [--reps N] [--only NAME,...] [--variants direct,selected] [--json]
//                                      [--alt PASS/VARIANT=FILE.wgsl ...]
//
// --variants: direct (the default kernel), selected (what conv-shaped.ts picks), gemm, gemv. --alt times FILE in
// place of the shader of VARIANT in PASS (forward or relevance) as well (same spec: bindings, uniforms, dispatch), interleaved with it: A/B tests of
// a shader edit on one busy machine. FILE declares no struct Params: the spec's generated one is prepended, as for
// the engine's shaders (src/engine/kernels/uniforms.ts).
// Each measurement: build the pipeline (timed apart: the first use of a shader compiles it), one warm-up submission,
// then N submissions of one dispatch each, every one awaited with onSubmittedWorkDone; the median is reported with
// GFLOP/s = 2 * multiply-adds / time (the multiply-adds of the layer, not of the tile padding), and the median CPU
// time the process used per dispatch (process.cpuUsage: SwiftShader's worker threads included), which a busy
// machine distorts less than wall-clock time. Buffers hold random
// data; results are not read back. On a machine without a GPU this runs on SwiftShader (CPU Vulkan): those
// numbers say nothing about a GPU.
//
// The engine is TypeScript with `?raw` shader imports, so the modules are loaded through Vite's SSR loader.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAWN_NODE_FLAGS, softwareVulkanEnv } from './dawn-env.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const MARK = 'LRP_LENS_TIME_KERNELS';

if (!process.env[MARK]) {
  // Dawn reads the Vulkan driver environment at process start, and needs V8 flags on the command line.
  const env = { ...process.env, ...(softwareVulkanEnv() ?? {}), [MARK]: '1' };
  const child = spawn(process.execPath, [...DAWN_NODE_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env });
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
} else {
  await main();
}

function parseArgs(argv) {
  const opts = { reps: 5, only: null, variants: ['direct', 'selected'], json: false, alt: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--reps') opts.reps = Number(argv[++i]);
    else if (a === '--only') opts.only = argv[++i].split(',');
    else if (a === '--variants') opts.variants = argv[++i].split(',');
    else if (a === '--json') opts.json = true;
    else if (a === '--alt') {
      const [key, file] = argv[++i].split('=');
      const [pass, variant] = key.split('/');
      // As the engine's specs do: weight_at() (src/shaders/term-modifiers.wgsl) comes before the shader.
      opts.alt.push({ pass, variant, file, shader: `${readFileSync(new URL('../src/shaders/term-modifiers.wgsl', import.meta.url), 'utf8')}\n${readFileSync(file, 'utf8')}` });
    }
    else if (a === '--help') {
      console.log('usage: node scripts/time-conv-kernels.mjs [--reps N] [--only NAME,...] [--variants direct,selected,gemm,gemv] [--json]');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

/** Layer shapes: [name, geometry overrides, passes]. */
function cases() {
  const conv = (n, c, o, h, w, k, stride, pad, groups = 1) => {
    const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
    return { n, c, h, w, o, oh, ow, kh: k, kw: k, strideH: stride, strideW: stride, padTop: pad, padLeft: pad, dilH: 1, dilW: 1, groups };
  };
  const dense = (c, o) => conv(1, c, o, 1, 1, 1, 1, 0);
  return [
    ['vgg-conv3x3-64-56', conv(1, 64, 64, 56, 56, 3, 1, 1)],
    ['vgg-conv1-3-224', conv(1, 3, 64, 224, 224, 3, 1, 1)],
    ['resnet-conv3x3-128-28-s2', conv(1, 128, 128, 56, 56, 3, 2, 1)],
    ['resnet-conv1x1-256-56', conv(1, 64, 256, 56, 56, 1, 1, 0)],
    ['dense-4096x4096', dense(4096, 4096)],
    ['dense-25088x4096', dense(25088, 4096)],
    ['dense-4096x1000', dense(4096, 1000)],
  ];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { createServer } = await import('vite');
  const server = await createServer({ root, logLevel: 'warn', server: { middlewareMode: true, hmr: false }, appType: 'custom', optimizeDeps: { noDiscovery: true } });
  try {
    const { gpuSpecFor } = await server.ssrLoadModule('/src/engine/kernels/registry.ts');
    const { PipelineCache } = await server.ssrLoadModule('/src/engine/gpu/pipeline-cache.ts');
    const { packUniforms } = await server.ssrLoadModule('/src/engine/kernels/uniforms.ts');
    const { selectConvVariant } = await server.ssrLoadModule('/src/engine/ops/conv-shaped.ts');
    const { createNodeGpu } = await server.ssrLoadModule('/src/node/node-gpu.ts');
    const gpu = await createNodeGpu();
    const adapter = await gpu.requestAdapter();
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: Math.min(adapter.limits.maxStorageBufferBindingSize, 1 << 30),
        maxBufferSize: Math.min(adapter.limits.maxBufferSize, 1 << 30),
      },
    });
    const info = adapter.info ?? {};
    const adapterName = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
    const cache = new PipelineCache(device);
    const rows = [];
    if (!opts.json) console.log(`adapter: ${adapterName}\n`);
    for (const [name, geom] of cases()) {
      if (opts.only && !opts.only.includes(name)) continue;
      const dense = geom.h === 1 && geom.w === 1 && geom.kh === 1 && geom.kw === 1 && geom.groups === 1;
      for (const pass of ['forward', 'relevance']) {
        const macs = geom.n * geom.o * geom.oh * geom.ow * (geom.c / geom.groups) * geom.kh * geom.kw;
        // The kernels to compare on this layer and pass: [label, variant, shader or null for the spec's own].
        const kernels = [];
        for (const which of opts.variants) {
          const variant = which === 'direct' ? undefined : which === 'selected' ? selectConvVariant(geom, pass) : which;
          if (variant === 'gemv' && !dense) continue;
          const label = variant ?? 'direct';
          if (kernels.some(([l]) => l === label)) continue;
          kernels.push([label, variant, null]);
          for (const a of opts.alt) if (a.pass === pass && a.variant === label) kernels.push([`${label}:${a.file.split('/').pop()}`, variant, a.shader]);
        }
        const measured = await timeSteps(device, cache, gpuSpecFor, packUniforms, geom, pass, kernels, opts.reps);
        for (const [kernel, row] of measured) {
          const result = { layer: name, pass, kernel, macs, ...row, gflops: (2 * macs) / (row.medianMs * 1e6) };
          rows.push(result);
          if (!opts.json) {
            console.log(
              `${name.padEnd(26)} ${pass.padEnd(9)} ${result.kernel.padEnd(6)} median ${result.medianMs.toFixed(2).padStart(9)} ms  ` +
                `(min ${result.minMs.toFixed(2)}, ${opts.reps} runs)  ${result.gflops.toFixed(3).padStart(7)} GFLOP/s  ` +
                `CPU ${result.cpuMs.toFixed(0).padStart(6)} ms (min ${result.minCpuMs.toFixed(0)})  pipeline ${result.pipelineMs.toFixed(0)} ms`,
            );
          }
        }
      }
    }
    if (opts.json) console.log(JSON.stringify({ adapter: adapterName, reps: opts.reps, rows }, null, 2));
    device.destroy();
  } finally {
    await server.close();
  }
}

function random(n, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Times one layer's step with each of `kernels` ([label, variant, WGSL or null for the variant's own shader]) on the
 * same buffers, their runs interleaved (a busy machine then slows them alike).
 */
async function timeSteps(device, cache, gpuSpecFor, packUniforms, g, pass, kernels, reps) {
  const ref = (id, size) => ({ id, shape: [size], size });
  const sizes = [g.n * g.c * g.h * g.w, g.o * (g.c / g.groups) * g.kh * g.kw, g.o, g.n * g.o * g.oh * g.ow, g.n * g.c * g.h * g.w];
  const [x, weight, bias, outOrS, rin] = sizes.map((s, i) => ref(i, s));
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const buffers = sizes.map((s, i) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil((s * 4) / 16) * 16), usage });
    device.queue.writeBuffer(b, 0, random(s, 17 + i));
    return b;
  });
  const placeholder = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  const prepared = [];
  for (const [label, variant, shader] of kernels) {
    const weightMod = { kind: 'affine', plain: 1, pos: 0, neg: 0 };
    const common = { geom: g, x, weight, weightMod, bounds: null, inputMod: 'identity', accumulate: false, ...(variant ? { variant } : {}) };
    const step = pass === 'forward' ? { kernel: 'conv2d', ...common, bias, out: outOrS } : { kernel: 'conv2d-relevance', ...common, s: outOrS, rin };
    const spec = gpuSpecFor(step);
    const view = new DataView(new ArrayBuffer(256));
    new Uint8Array(view.buffer).set(new Uint8Array(packUniforms(spec, step, step.kernel)));
    const uniforms = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(uniforms, 0, view.buffer);
    let size;
    if (spec.workgroups) size = spec.workgroups(step);
    else {
      const groups = Math.ceil(spec.invocations(step) / 64);
      const gx = Math.min(groups, limit);
      size = [gx, Math.ceil(groups / gx), 1];
    }
    const t0 = performance.now();
    const pipeline = await cache.get(shader ? { ...spec, shader } : spec, spec.overrides(step));
    const pipelineMs = performance.now() - t0;
    const entries = [{ binding: 0, resource: { buffer: uniforms } }];
    spec.bindings(step).forEach((r, k) => entries.push({ binding: k + 1, resource: { buffer: r ? buffers[r.id] : placeholder } }));
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    prepared.push({ label, pipeline, pipelineMs, bindGroup, uniforms, size, runs: [] });
  }
  const once = async (k) => {
    const encoder = device.createCommandEncoder();
    const p = encoder.beginComputePass();
    p.setPipeline(k.pipeline);
    p.setBindGroup(0, k.bindGroup);
    p.dispatchWorkgroups(k.size[0], k.size[1], k.size[2]);
    p.end();
    const start = performance.now();
    const cpu = process.cpuUsage();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const used = process.cpuUsage(cpu);
    return { ms: performance.now() - start, cpuMs: (used.user + used.system) / 1000 };
  };
  await device.queue.onSubmittedWorkDone();
  for (const k of prepared) await once(k); // warm-up (SwiftShader may finish compiling on first use)
  for (let i = 0; i < reps; i++) for (const k of prepared) k.runs.push(await once(k));
  for (const b of [...buffers, placeholder, ...prepared.map((k) => k.uniforms)]) b.destroy();
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  return prepared.map((k) => {
    const times = k.runs.map((r) => r.ms);
    const cpu = k.runs.map((r) => r.cpuMs);
    return [k.label, { medianMs: median(times), minMs: Math.min(...times), cpuMs: median(cpu), minCpuMs: Math.min(...cpu), pipelineMs: k.pipelineMs, workgroups: k.size }];
  });
}
