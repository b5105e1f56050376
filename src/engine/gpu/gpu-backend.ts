/**
 * The WebGPU backend: a Program becomes GPU buffers, cached pipelines and one bind group per step, built once.
 * An explanation is then one queue submission (forward and relevance dispatches in one compute pass) and one
 * readback of the outputs; activations never leave the GPU.
 */
import type { Program, TensorRef } from '../program';
import type { Step } from '../kernels/steps';
import { gpuSpecFor } from '../kernels/registry';
import { packUniforms } from '../kernels/uniforms';
import { checkHookScales, runContext, seedCode, SharedForward, type ProgramRunner, type RunRequest, type RunResult } from '../runner';
import { PipelineCache } from './pipeline-cache';

const WORKGROUP = 64;
const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment's largest allowed value

interface Dispatch {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
}

export class GpuError extends Error {
  override name = 'GpuError';
}

/** Forward-state buffers shared by one model's programs, and the queue that serialises their runs. */
export interface GpuForwardStorage {
  buffers: GPUBuffer[];
  queue: Promise<unknown>;
}
export type GpuSharedForward = SharedForward<GpuForwardStorage>;

export function createGpuSharedForward(): GpuSharedForward {
  return new SharedForward<GpuForwardStorage>({ buffers: [], queue: Promise.resolve() });
}

/**
 * Refuses, before allocating anything, a program with a tensor larger than the device allows, naming the tensor
 * and both numbers (the CPU backend has no such limit).
 */
export function checkLimits(device: GPUDevice, program: Program): void {
  const limit = Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize);
  for (const t of program.tensors) {
    const bytes = t.size * 4;
    if (bytes > limit) {
      throw new GpuError(`"${t.label}" needs a ${bytes.toLocaleString('en-US')}-byte buffer, above this GPU's limit of ${limit.toLocaleString('en-US')} bytes; use the CPU backend for this model`);
    }
  }
}

function createTensorBuffer(device: GPUDevice, t: Program['tensors'][number]): GPUBuffer {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const buffer = device.createBuffer({ size: Math.max(16, Math.ceil((t.size * 4) / 16) * 16), usage, label: t.label });
  if (t.data) device.queue.writeBuffer(buffer, 0, t.data);
  return buffer;
}

function workgroups(invocations: number, limit: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(invocations / WORKGROUP));
  const x = Math.min(groups, limit);
  return [x, Math.ceil(groups / x), 1];
}

/** A spec's dispatch size: its explicit workgroup counts, or its invocations folded into x then y. */
function dispatchSize(spec: ReturnType<typeof gpuSpecFor>, step: Step, limit: number): readonly [number, number, number] {
  if (spec.workgroups) {
    const size = spec.workgroups(step);
    if (size.some((n) => n > limit)) throw new GpuError(`${step.kernel}: ${size.join(' x ')} workgroups exceed this GPU's limit of ${limit} per dimension`);
    return size;
  }
  if (!spec.invocations) throw new Error(`${step.kernel}: the GPU spec gives neither invocations nor workgroups`);
  return workgroups(spec.invocations(step), limit);
}

export class GpuProgramRunner implements ProgramRunner {
  private constructor(
    private readonly shared: GpuSharedForward,
    private readonly device: GPUDevice,
    readonly program: Program,
    private readonly buffers: GPUBuffer[],
    private readonly owned: GPUBuffer[],
    private readonly forward: Dispatch[],
    private readonly relevance: Dispatch[],
    private readonly staging: GPUBuffer,
    private readonly readout: { ref: TensorRef; offset: number }[],
    private readonly layersFrom: number,
  ) {}

  static async create(device: GPUDevice, cache: PipelineCache, program: Program, shared: GpuSharedForward): Promise<GpuProgramRunner> {
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const forward = shared.storage.buffers;
    if (forward.length === 0) forward.push(...program.tensors.slice(0, program.forwardTensors).map((t) => createTensorBuffer(device, t)));
    // Cached denominators and modified parameters live in shared caches (one buffer per key, across programs).
    const cached = shared.denominators.acquire(program, (t) => createTensorBuffer(device, t), 4);
    const modified = shared.modified.acquire(program, (t) => createTensorBuffer(device, t), 4);
    const own = program.tensors.slice(program.forwardTensors).map((t) => cached.get(t.id) ?? modified.get(t.id) ?? createTensorBuffer(device, t));
    const buffers = [...forward, ...own];
    const owned = own.filter((_, k) => !cached.has(program.forwardTensors + k) && !modified.has(program.forwardTensors + k));
    const releaseShared = () => {
      shared.denominators.release<GPUBuffer>(program, (b) => b.destroy());
      shared.modified.release<GPUBuffer>(program, (b) => b.destroy());
    };
    // Only the modified parameters no other program of the model has computed are computed (ModifiedParamCache).
    const paramSteps = shared.modified.pending(program).map((i) => program.paramSteps[i]!);
    const placeholder = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'placeholder' });
    owned.push(placeholder);

    const all: Step[] = [...paramSteps, ...program.forwardSteps, ...program.relevanceSteps];
    const uniformBuffer = device.createBuffer({ size: Math.max(1, all.length) * UNIFORM_SLOT, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniforms' });
    owned.push(uniformBuffer);
    const uniformData = new Uint8Array(all.length * UNIFORM_SLOT);
    const limit = device.limits.maxComputeWorkgroupsPerDimension;

    const dispatches = await Promise.all(
      all.map(async (step, i): Promise<Dispatch> => {
        const spec = gpuSpecFor(step);
        const packed = packUniforms(spec, step, step.kernel);
        if (packed.byteLength > UNIFORM_SLOT) throw new Error(`${step.kernel}: its Params take ${packed.byteLength} bytes, above the ${UNIFORM_SLOT}-byte uniform slot`);
        uniformData.set(new Uint8Array(packed), i * UNIFORM_SLOT);
        const pipeline = await cache.get(spec, spec.overrides(step));
        const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniformBuffer, offset: i * UNIFORM_SLOT, size: UNIFORM_SLOT } }];
        spec.bindings(step).forEach((ref, k) => entries.push({ binding: k + 1, resource: { buffer: ref ? buffers[ref.id]! : placeholder } }));
        const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label: step.kernel });
        return { pipeline, bindGroup, workgroups: dispatchSize(spec, step, limit) };
      }),
    ).catch((e: unknown) => {
      // No runner will release the cached denominators and modified parameters this program acquired.
      releaseShared();
      throw e;
    });
    device.queue.writeBuffer(uniformBuffer, 0, uniformData);

    // Outputs land in one staging buffer: logits, input relevance, chosen target, each hook's activation and
    // relevance, then per-layer relevance.
    const { outputs } = program;
    const readout: { ref: TensorRef; offset: number }[] = [];
    let offset = 0;
    const hookRefs = (outputs.hooks ?? []).flatMap((h) => [h.activation, h.relevance]);
    for (const ref of [outputs.logits, outputs.relevance, outputs.target, ...hookRefs, ...outputs.layers.map((l) => l.ref)]) {
      readout.push({ ref, offset });
      offset += Math.ceil((ref.size * 4) / 8) * 8;
    }
    const staging = device.createBuffer({ size: Math.max(8, offset), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
    owned.push(staging);

    const nParam = paramSteps.length;
    const nForward = program.forwardSteps.length;
    const runner = new GpuProgramRunner(
      shared,
      device,
      program,
      buffers,
      owned,
      dispatches.slice(nParam, nParam + nForward),
      dispatches.slice(nParam + nForward),
      staging,
      readout,
      3 + hookRefs.length,
    );
    if (device.features.has('timestamp-query')) {
      const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
      const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'timestamps' });
      const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'timestamps readback' });
      owned.push(resolve, read);
      runner.timestamps = { querySet, resolve, read };
    }
    runner.submit(dispatches.slice(0, nParam));
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (oom) {
      runner.dispose();
      throw new GpuError(`the GPU ran out of memory preparing this model: ${oom.message}`);
    }
    if (validation) {
      runner.dispose();
      throw new GpuError(`WebGPU rejected the prepared model: ${validation.message}`);
    }
    shared.modified.computed(program);
    runner.paramStepsPending = nParam;
    return runner;
  }

  /** The param steps submitted when the runner was created, reported by its first run (RunResult.work). */
  private paramStepsPending = 0;

  /** GPU time of the explanation's compute pass, where the adapter has timestamp queries. */
  private timestamps: { querySet: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer } | null = null;

  private submit(dispatches: readonly Dispatch[], after?: (encoder: GPUCommandEncoder) => void, timed = false): void {
    const encoder = this.device.createCommandEncoder();
    const ts = timed ? this.timestamps : null;
    if (dispatches.length) {
      const pass = encoder.beginComputePass(ts ? { timestampWrites: { querySet: ts.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
      for (const d of dispatches) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      }
      pass.end();
      if (ts) {
        encoder.resolveQuerySet(ts.querySet, 0, 2, ts.resolve, 0);
        encoder.copyBufferToBuffer(ts.resolve, 0, ts.read, 0, 16);
      }
    }
    after?.(encoder);
    this.device.queue.submit([encoder.finish()]);
  }

  run(request: RunRequest): Promise<RunResult> {
    const storage = this.shared.storage;
    const result = storage.queue.then(() => this.runNow(request));
    storage.queue = result.catch(() => undefined);
    return result;
  }

  private async runNow(request: RunRequest): Promise<RunResult> {
    const p = this.program;
    if (request.input.length !== p.input.size) throw new RangeError(`input has ${request.input.length} values, the model takes ${p.input.size}`);
    this.device.queue.writeBuffer(this.buffers[p.control.id]!, 0, new Int32Array([request.target, request.contrastTarget, seedCode(request)]));
    if (!request.forwardOnly) {
      checkHookScales(p, request);
      (p.hookScales ?? []).forEach((ref, i) => this.device.queue.writeBuffer(this.buffers[ref.id]!, 0, request.hookScales![i]!));
    }
    const cached = this.shared.holds(request.input);
    if (!cached) this.device.queue.writeBuffer(this.buffers[p.input.id]!, 0, request.input);
    const count = request.forwardOnly ? 1 : request.layerRelevance ? this.readout.length : this.layersFrom;
    const last = this.readout[count - 1]!;
    const bytes = last.offset + last.ref.size * 4;
    this.device.pushErrorScope('validation');
    const forward = cached ? [] : this.forward;
    const context = runContext(request);
    if (!cached) this.shared.remember(request.input);
    // Segments of the relevance pass that the last run already computed identically are skipped.
    const skip = request.forwardOnly ? 0 : this.shared.reusableSegments(p, request.input, context);
    const from = skip < p.segments.length ? p.segments[skip]!.start : p.relevanceSteps.length;
    // Denominator steps whose values the cache holds for this input are skipped (Program.denominators).
    const plan = request.forwardOnly ? null : this.shared.denominators.plan(p, from);
    if (!request.forwardOnly) this.shared.invalidateRelevance();
    const relevance = plan ? this.relevance.filter((_, i) => i >= from && !plan.skip[i]) : [];
    this.submit([...forward, ...relevance], (encoder) => {
      for (const { ref, offset } of this.readout.slice(0, count)) {
        encoder.copyBufferToBuffer(this.buffers[ref.id]!, 0, this.staging, offset, ref.size * 4);
      }
    }, true);
    const paramSteps = this.paramStepsPending;
    this.paramStepsPending = 0;
    const error = await this.device.popErrorScope();
    if (error) {
      this.shared.forget();
      throw new GpuError(`WebGPU rejected the explanation: ${error.message}`);
    }
    if (plan) {
      this.shared.denominators.computed(p, plan.parts);
      this.shared.ran(p, context);
    }
    const timed = this.timestamps;
    const [gpuMs] = await Promise.all([
      timed
        ? timed.read.mapAsync(GPUMapMode.READ).then(() => {
            const [begin, end] = new BigUint64Array(timed.read.getMappedRange());
            timed.read.unmap();
            return end! > begin! ? Number(end! - begin!) / 1e6 : null;
          })
        : Promise.resolve(null),
      this.staging.mapAsync(GPUMapMode.READ, 0, Math.ceil(bytes / 8) * 8),
    ]);
    try {
      const mapped = this.staging.getMappedRange(0, Math.ceil(bytes / 8) * 8);
      const f32 = (i: number) => new Float32Array(mapped, this.readout[i]!.offset, this.readout[i]!.ref.size).slice();
      const work = {
        forward: !cached,
        relevanceSteps: request.forwardOnly ? 0 : p.relevanceSteps.length - from,
        ...(plan ? { denominatorSteps: plan.denominatorSteps, cachedSteps: plan.cachedSteps } : {}),
        paramSteps,
        gpuMs,
      };
      if (request.forwardOnly) return { logits: f32(0), relevance: new Float32Array(0), target: -1, layers: [], work };
      const layers: Float32Array[] = [];
      for (let i = this.layersFrom; i < count; i++) layers.push(f32(i));
      const hooks = (p.outputs.hooks ?? []).map((_, k) => ({ activation: f32(3 + 2 * k), relevance: f32(4 + 2 * k) }));
      return {
        logits: f32(0),
        relevance: f32(1),
        target: new Int32Array(mapped, this.readout[2]!.offset, 1)[0]!,
        layers,
        ...(p.outputs.hooks ? { hooks } : {}),
        work,
      };
    } finally {
      this.staging.unmap();
    }
  }

  /**
   * Several explanations in ONE queue submission and one readback (src/engine/batch.ts): for each request in turn, one
   * command encoder copies its input, control and hook factors from an upload buffer into the program's buffers,
   * dispatches the forward pass and the whole relevance pass, and copies the outputs to a staging buffer at that run's
   * offset; the staging buffer is mapped once. The results equal run() on each request in turn. The forward pass is
   * skipped for a request whose input equals the one before it (or, for the first, the input the buffers hold), as
   * run() skips it; every relevance step runs (no segment reuse, no cached denominators: they are left holding the
   * last input's). Forward-only requests are refused. Requests whose staging would pass the device's buffer limit are
   * split into several such submissions.
   */
  runMany(requests: readonly RunRequest[]): Promise<RunResult[]> {
    const storage = this.shared.storage;
    const result = storage.queue.then(() => this.runManyNow(requests));
    storage.queue = result.catch(() => undefined);
    return result;
  }

  private async runManyNow(requests: readonly RunRequest[]): Promise<RunResult[]> {
    const p = this.program;
    if (requests.length === 0) return [];
    for (const r of requests) {
      if (r.input.length !== p.input.size) throw new RangeError(`input has ${r.input.length} values, the model takes ${p.input.size}`);
      if (r.forwardOnly) throw new RangeError('runMany runs explanations, not forward-only requests');
      checkHookScales(p, r);
    }
    const align = (bytes: number): number => Math.ceil(bytes / 256) * 256;
    const last = this.readout[this.readout.length - 1]!;
    const runBytes = align(last.offset + last.ref.size * 4);
    const limit = this.device.limits.maxBufferSize;
    if (requests.length > 1 && requests.length * runBytes > limit) {
      const half = Math.ceil(requests.length / 2);
      return [...(await this.runManyNow(requests.slice(0, half))), ...(await this.runManyNow(requests.slice(half)))];
    }
    const hookRefs = p.hookScales ?? [];
    // One run's upload: its input, its control (3 ints), each hook's factors; each at a 256-byte boundary.
    const parts = [p.input.size * 4, 12, ...hookRefs.map((ref) => ref.size * 4)];
    const offsets = parts.map((_, k) => parts.slice(0, k).reduce((sum, b) => sum + align(b), 0));
    const uploadBytes = parts.reduce((sum, b) => sum + align(b), 0);
    const upload = this.device.createBuffer({ size: requests.length * uploadBytes, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: 'batch upload' });
    const staging = this.device.createBuffer({ size: requests.length * runBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'batch readback' });
    const counts = requests.map((r) => (r.layerRelevance ? this.readout.length : this.layersFrom));
    const same = (a: Float32Array, b: Float32Array): boolean => a === b || (a.length === b.length && a.every((v, k) => v === b[k] || (Number.isNaN(v) && Number.isNaN(b[k]!))));
    const forward = requests.map((r, i) => (i === 0 ? !this.shared.holds(r.input) : !same(r.input, requests[i - 1]!.input)));
    const paramSteps = this.paramStepsPending;
    this.paramStepsPending = 0;
    try {
      this.device.pushErrorScope('validation');
      requests.forEach((r, i) => {
        const base = i * uploadBytes;
        this.device.queue.writeBuffer(upload, base + offsets[0]!, r.input);
        this.device.queue.writeBuffer(upload, base + offsets[1]!, new Int32Array([r.target, r.contrastTarget, seedCode(r)]));
        hookRefs.forEach((_, k) => this.device.queue.writeBuffer(upload, base + offsets[2 + k]!, r.hookScales![k]!));
      });
      // The buffers will hold the last request's forward pass; nothing held is valid if the submission fails.
      this.shared.forget();
      const encoder = this.device.createCommandEncoder();
      const targets = [p.input, p.control, ...hookRefs];
      requests.forEach((_, i) => {
        targets.forEach((ref, k) => {
          if (k > 0 || forward[i]) encoder.copyBufferToBuffer(upload, i * uploadBytes + offsets[k]!, this.buffers[ref.id]!, 0, parts[k]!);
        });
        const pass = encoder.beginComputePass();
        for (const d of forward[i] ? [...this.forward, ...this.relevance] : this.relevance) {
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.bindGroup);
          pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
        }
        pass.end();
        for (const { ref, offset } of this.readout.slice(0, counts[i])) encoder.copyBufferToBuffer(this.buffers[ref.id]!, 0, staging, i * runBytes + offset, ref.size * 4);
      });
      this.device.queue.submit([encoder.finish()]);
      const error = await this.device.popErrorScope();
      if (error) throw new GpuError(`WebGPU rejected the batch: ${error.message}`);
      await staging.mapAsync(GPUMapMode.READ);
      const mapped = staging.getMappedRange();
      const results = requests.map((_, i): RunResult => {
        const f32 = (k: number) => new Float32Array(mapped, i * runBytes + this.readout[k]!.offset, this.readout[k]!.ref.size).slice();
        const layers: Float32Array[] = [];
        for (let k = this.layersFrom; k < counts[i]!; k++) layers.push(f32(k));
        const hooks = (p.outputs.hooks ?? []).map((_, k) => ({ activation: f32(3 + 2 * k), relevance: f32(4 + 2 * k) }));
        return {
          logits: f32(0),
          relevance: f32(1),
          target: new Int32Array(mapped, i * runBytes + this.readout[2]!.offset, 1)[0]!,
          layers,
          ...(p.outputs.hooks ? { hooks } : {}),
          work: { forward: forward[i]!, relevanceSteps: p.relevanceSteps.length, denominatorSteps: (p.denominators ?? []).reduce((n, d) => n + d.steps.length, 0), cachedSteps: 0, paramSteps: i === 0 ? paramSteps : 0, gpuMs: null },
        };
      });
      staging.unmap();
      const lastRequest = requests[requests.length - 1]!;
      this.shared.remember(lastRequest.input);
      // Every step ran for every request: the cached denominators hold the last input's.
      this.shared.denominators.computed(p, (p.denominators ?? []).map((_, k) => k));
      this.shared.ran(p, runContext(lastRequest));
      return results;
    } finally {
      upload.destroy();
      staging.destroy();
    }
  }

  private disposed = false;

  dispose(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
    if (!this.disposed) {
      this.shared.denominators.release<GPUBuffer>(this.program, (b) => b.destroy());
      this.shared.modified.release<GPUBuffer>(this.program, (b) => b.destroy());
    }
    this.disposed = true;
  }
}
