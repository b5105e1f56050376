/**
 * Several explanations with one loaded model: several inputs, or one input with several targets.
 *
 * explainBatch calls the model's `explainMany` (index.ts): on WebGPU, GpuProgramRunner.runMany (gpu/gpu-backend.ts)
 * encodes the N runs one after the other into ONE command encoder and submission (copy input i, its control and hook
 * factors into the program's buffers, the forward and relevance dispatches, copy the outputs into a staging buffer at
 * offset i) and maps that buffer once (several submissions only where the staging buffer would pass the device's
 * limit); the CPU backends run each request in turn. A model without explainMany is explained in sequence, one
 * explain each. Either way the program is compiled once (the model's program cache), an input equal to the one before
 * it (several targets of one photo) skips the forward pass, and the results equal model.explain on each input with
 * the same options, value for value (tests/unit/batch.test.ts; batch-submission.test.ts checks the single submission).
 *
 * Why not compile the relevance pass for batch N, as `forwardBatch` does the forward pass (compile.ts withBatch):
 * the seed kernel (kernels/seed-relevance.ts) picks one target over the whole logits tensor and writes one chosen
 * class, the control tensor holds one target / contrast / seed mode, the hook scales assume one sample, and the
 * readback slices one input's worth.
 */
import type { Explanation, ExplainOptions, LoadedModel } from './api';

/** A model that explains several inputs in one go (equal to explain() on each; see the file comment). */
interface ManyCapable {
  explainMany?(inputs: readonly Float32Array[], options?: ExplainOptions & { readonly targets?: readonly (number | undefined)[] }): Promise<Explanation[]>;
}

export interface BatchOptions extends ExplainOptions {
  /**
   * A target per input (undefined entries: the input's top class); overrides `target`. Its length must be the
   * number of inputs.
   */
  readonly targets?: readonly (number | undefined)[];
  /** Told after each explanation (after all of them, when the model explains them in one go): how many are done of how many. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Explains each input in turn (see the file comment); the explanations in the order of the inputs. */
export async function explainBatch(model: LoadedModel, inputs: readonly Float32Array[], options: BatchOptions = {}): Promise<Explanation[]> {
  const { targets, onProgress, target: shared, ...common } = options;
  if (targets !== undefined && targets.length !== inputs.length) throw new RangeError(`explainBatch: ${targets.length} targets for ${inputs.length} inputs`);
  const many = (model as LoadedModel & ManyCapable).explainMany;
  if (many) {
    const all = await many.call(model, inputs, targets !== undefined ? { ...common, targets } : shared !== undefined ? { ...common, target: shared } : common);
    onProgress?.(all.length, inputs.length);
    return all;
  }
  const out: Explanation[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const target = targets ? targets[i] : shared;
    out.push(await model.explain(inputs[i]!, target !== undefined ? { ...common, target } : common));
    onProgress?.(i + 1, inputs.length);
  }
  return out;
}

/** One input explained for each of `targets` (the forward pass runs once): explainBatch with the input repeated. */
export function explainTargets(model: LoadedModel, input: Float32Array, targets: readonly number[], options: Omit<BatchOptions, 'targets' | 'target'> = {}): Promise<Explanation[]> {
  return explainBatch(model, targets.map(() => input), { ...options, targets });
}
