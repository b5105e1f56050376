/**
 * Which of a link's per-layer rules apply to the model it is opened with: the same judgement in the app (app/share.ts)
 * and in `lrp-lens explain --link` (src/cli/link.ts). A rule for a layer the model lacks, or one that does not fit
 * its layer (a rule for another layer class, bad parameters), is left out and named; the rest of the link applies.
 */
import type { ShareState } from './share-state';

type LinkOverride = ShareState['overrides'][string];

export interface LinkOverridesFit {
  /** The overrides that apply, in the link's order. */
  readonly kept: readonly (readonly [string, LinkOverride])[];
  /** Layers the link names that the model does not have. */
  readonly missing: readonly string[];
  /** Overrides whose rule does not fit the layer, with the reason. */
  readonly misfit: readonly { readonly layer: string; readonly rule: string; readonly problem: string }[];
}

/**
 * Sorts a link's overrides by whether they apply. `problemOf(layer, override)`: why the override alone (over the
 * link's preset) does not fit the model, or null.
 */
export function fitLinkOverrides(
  overrides: ShareState['overrides'],
  layers: ReadonlySet<string>,
  problemOf: (layer: string, override: LinkOverride) => string | null,
): LinkOverridesFit {
  const kept: [string, LinkOverride][] = [];
  const missing: string[] = [];
  const misfit: { layer: string; rule: string; problem: string }[] = [];
  for (const [layer, o] of Object.entries(overrides)) {
    if (!layers.has(layer)) {
      missing.push(layer);
      continue;
    }
    const problem = problemOf(layer, o);
    if (problem !== null) misfit.push({ layer, rule: o.rule, problem });
    else kept.push([layer, o]);
  }
  return { kept, missing, misfit };
}
