// The bare WebGPU check behind the browser tests: if this fails, the browser has no usable WebGPU and nothing
// engine-specific is to blame.
export interface SmokeResult {
  readonly adapter: string;
  readonly output: number[];
}

export function describeAdapter(adapter: GPUAdapter): string {
  const { vendor, architecture, device, description } = adapter.info;
  return [vendor, architecture, device, description].filter(Boolean).join(' / ') || 'unknown adapter';
}

async function webgpuSmoke(): Promise<SmokeResult> {
  if (!navigator.gpu) throw new Error('navigator.gpu is missing: this browser does not expose WebGPU');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned null: no WebGPU adapter');
  const device = await adapter.requestDevice();
  try {
    const module = device.createShaderModule({
      code: /* wgsl */ `
        @group(0) @binding(0) var<storage, read_write> data: array<f32>;
        @compute @workgroup_size(4)
        fn main(@builtin(global_invocation_id) id: vec3u) {
          data[id.x] = data[id.x] * 2.0;
        }`,
    });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const input = new Float32Array([1, 2, 3, 4]);
    const storage = device.createBuffer({
      size: input.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(storage, 0, input);
    const readback = device.createBuffer({ size: input.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: storage } }],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(1);
    pass.end();
    encoder.copyBufferToBuffer(storage, 0, readback, 0, input.byteLength);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const output = Array.from(new Float32Array(readback.getMappedRange()));
    readback.unmap();
    return { adapter: describeAdapter(adapter), output };
  } finally {
    device.destroy();
  }
}

declare global {
  interface Window {
    webgpuSmoke: typeof webgpuSmoke;
  }
}

window.webgpuSmoke = webgpuSmoke;
