/**
 * One kernel step at a time: the float64 CPU reference, and the GPU spec dispatched on Dawn as the WebGPU backend
 * does (uniforms, override constants, bindings, dispatch size), for kernel-by-kernel comparisons.
 */
import type { TensorRef } from '../../../src/engine/program';
import type { Shape } from '../../../src/engine/graph';
import type { Step } from '../../../src/engine/kernels/steps';
import { gpuSpecFor, kernelFor } from '../../../src/engine/kernels/registry';
import { PipelineCache } from '../../../src/engine/gpu/pipeline-cache';
import { packUniforms } from '../../../src/engine/kernels/uniforms';
import { createNodeGpu } from '../../../src/node/node-gpu';

/** Tensors of one step: ids, shapes and contents (the written one holds its initial contents, for accumulate). */
export class Tensors {
  readonly data: Float32Array[] = [];
  add(values: Float32Array, shape: Shape = [values.length]): TensorRef {
    this.data.push(values);
    return { id: this.data.length - 1, shape, size: values.length };
  }
}

export function cpuRun(step: Step, tensors: Tensors, written: TensorRef): Float64Array {
  const mem = tensors.data.map((d) => Float64Array.from(d));
  kernelFor(step).cpu(step, { get: (ref) => mem[ref.id]! });
  return mem[written.id]!;
}

export class StepGpu {
  private constructor(
    /** Held so that Dawn's instance outlives the device (it is torn down when collected). */
    readonly gpu: GPU,
    private readonly device: GPUDevice,
    private readonly cache: PipelineCache,
  ) {}

  /** `limits`: device limits to require, from the adapter's (e.g. large storage bindings). */
  static async create(limits?: (adapter: GPUAdapter) => Record<string, number>): Promise<StepGpu> {
    const gpu = await createNodeGpu();
    const adapter = (await gpu.requestAdapter())!;
    const device = await adapter.requestDevice(limits ? { requiredLimits: limits(adapter) } : undefined);
    return new StepGpu(gpu, device, new PipelineCache(device));
  }

  destroy(): void {
    this.device.destroy();
  }

  async run(step: Step, tensors: Tensors, written: TensorRef): Promise<Float32Array> {
    const { device } = this;
    const spec = gpuSpecFor(step);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buffers = tensors.data.map((d) => {
      const b = device.createBuffer({ size: Math.max(16, Math.ceil((d.length * 4) / 16) * 16), usage });
      device.queue.writeBuffer(b, 0, d);
      return b;
    });
    const placeholder = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    const uniformData = new DataView(new ArrayBuffer(256));
    new Uint8Array(uniformData.buffer).set(new Uint8Array(packUniforms(spec, step, step.kernel)));
    const uniforms = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(uniforms, 0, uniformData.buffer);
    const pipeline = await this.cache.get(spec, spec.overrides(step));
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms } }];
    spec.bindings(step).forEach((ref, k) => entries.push({ binding: k + 1, resource: { buffer: ref ? buffers[ref.id]! : placeholder } }));
    device.pushErrorScope('validation');
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const size = spec.workgroups ? spec.workgroups(step) : [Math.ceil(spec.invocations!(step) / 64), 1, 1];
    const read = device.createBuffer({ size: written.size * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(size[0]!, size[1]!, size[2]!);
    pass.end();
    encoder.copyBufferToBuffer(buffers[written.id]!, 0, read, 0, written.size * 4);
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new Error(error.message);
    await read.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    for (const b of [...buffers, placeholder, uniforms, read]) b.destroy();
    return out;
  }
}
