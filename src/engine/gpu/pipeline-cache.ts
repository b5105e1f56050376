import { shaderSource, type UniformParams } from '../kernels/uniforms';

/** What a pipeline is built from: a kernel spec's shader and the field list its `struct Params` is generated from. */
export interface PipelineSource {
  readonly shader: string;
  readonly params: UniformParams;
}

/**
 * Shader modules and compute pipelines per device, keyed by shader source and override constants (never by size).
 * The source is the spec's generated `struct Params` followed by its shader (`shaderSource`).
 */
export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();

  constructor(private readonly device: GPUDevice) {}

  get(spec: PipelineSource, overrides: Record<string, number>): Promise<GPUComputePipeline> {
    const shader = shaderSource(spec);
    const key = `${shader}\u0000${JSON.stringify(overrides)}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      let module = this.modules.get(shader);
      if (!module) {
        module = this.device.createShaderModule({ code: shader });
        this.modules.set(shader, module);
      }
      const compiled = module;
      pipeline = this.device
        .createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main', constants: overrides } })
        .catch(async (e: unknown) => {
          // Name the shader and its compiler messages: a bare "invalid ShaderModule" says nothing.
          const info = await compiled.getCompilationInfo();
          const messages = info.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ');
          const first = spec.shader.split('\n')[0] ?? '';
          throw new Error(`cannot build the compute pipeline for "${first.slice(3)}": ${messages || (e as Error).message}`);
        });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }
}
