/**
 * A Compare side's gradient baseline as the engine worker computes it (app/compare-methods.ts names the methods):
 * the engine function's attribution (src/engine/attribution-methods.ts) summed over the input's channels, the map
 * the app draws. Framework-free and worker-free, so that a unit test can run it on the CPU backend
 * (tests/unit/baseline-maps.test.ts).
 */
import { gradientTimesInput, inputGradient, integratedGradients, smoothGrad, type Attribution } from '../src/engine/attribution-methods';
import type { LoadedModel } from '../src/engine/api';
import { sumChannels } from '../src/models/colormap';
import type { BaselineMethod } from './compare-methods';

export interface BaselineOptions {
  readonly target?: number;
  readonly signal?: AbortSignal;
  /** Awaited before each forward pass and explanation (the worker lets a cancel in there: CPU work does not yield). */
  readonly pause?: () => Promise<void>;
  /** Told after each gradient: how many are done of how many. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** The model with `pause` awaited before each explanation and forward pass. */
function pausing(model: LoadedModel, pause: () => Promise<void>): LoadedModel {
  return new Proxy(model, {
    get(target, key, receiver) {
      if (key === 'explain' || key === 'forward') {
        const f = Reflect.get(target, key, receiver) as (...args: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          await pause();
          return f.apply(target, args);
        };
      }
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

/** The engine function's attribution for a baseline side. */
export function baselineAttribution(model: LoadedModel, input: Float32Array, b: BaselineMethod, options: BaselineOptions = {}): Promise<Attribution> {
  const m = options.pause ? pausing(model, options.pause) : model;
  const common = {
    ...(options.target !== undefined ? { target: options.target } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  switch (b.method) {
    case 'gradient':
      return inputGradient(m, input, common);
    case 'gradient-x-input':
      return gradientTimesInput(m, input, common);
    case 'smoothgrad':
      return smoothGrad(m, input, { ...common, samples: b.samples, noiseLevel: b.noiseLevel });
    case 'integrated-gradients':
      return integratedGradients(m, input, { ...common, steps: b.steps });
  }
}

/**
 * A baseline side's map: the attribution summed over the input's channels (width x height), and the attribution
 * itself (pixel flipping orders the patches by it).
 */
export async function baselineMap(
  model: LoadedModel,
  input: Float32Array,
  inputShape: readonly number[],
  b: BaselineMethod,
  options: BaselineOptions = {},
): Promise<{ map: { width: number; height: number; data: Float32Array }; attribution: Attribution }> {
  const attribution = await baselineAttribution(model, input, b, options);
  return { map: sumChannels(attribution.attribution, inputShape), attribution };
}
