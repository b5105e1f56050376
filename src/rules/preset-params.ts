/**
 * The parameters a preset takes from the model card: EpsilonGammaBox's ZBox bounds, the lowest and highest value
 * a preprocessed input can take. Shared by the app's rule state, share links and the CLI's link reader.
 */
import type { ModelCard } from '../models/model-card';
import { findComposite } from './composites';
import type { RuleParams } from './rules';
import type { LayerRuleEntry, RuleAssignment } from './assignment';
import type { CustomRuleSpec } from './custom-rules';

/**
 * The lowest and highest value a preprocessed input can take, per channel: ZBox's bounds. Scalars when all
 * channels agree.
 */
export function inputBounds(card: ModelCard): { low: number | number[]; high: number | number[] } {
  // As src/models/model-card.ts's inputBounds, collapsed to scalars (not imported: model-card.ts brings the
  // engine's compiler, and the page's rule state must not load it).
  const { scale, mean, std } = card.preprocessing;
  const at = (v: readonly number[], c: number) => (v.length === 1 ? v[0]! : v[c]!);
  const low: number[] = [];
  const high: number[] = [];
  for (let c = 0; c < card.input.channels; c++) {
    low.push((0 * scale - at(mean, c)) / at(std, c));
    high.push((255 * scale - at(mean, c)) / at(std, c));
  }
  const same = (v: number[]) => v.every((x) => Math.abs(x - v[0]!) < 1e-12);
  return { low: same(low) ? low[0]! : low, high: same(high) ? high[0]! : high };
}

export function presetParams(preset: string, card: ModelCard): RuleParams {
  const composite = findComposite(preset);
  if (!composite?.params.includes('low')) return {};
  return inputBounds(card);
}

/**
 * The rule assignment of a preset with the card's parameters (ZBox bounds), per-layer entries over it, and the
 * definitions of the custom rules used: what the app's rule state, share links and the CLI all explain with.
 */
export function presetAssignment(
  preset: string,
  card: ModelCard,
  layers: readonly LayerRuleEntry[] = [],
  ruleDefs: readonly CustomRuleSpec[] = [],
): RuleAssignment {
  const params = presetParams(preset, card);
  return {
    preset,
    ...(Object.keys(params).length ? { presetParams: params } : {}),
    ...(layers.length ? { layers: [...layers] } : {}),
    ...(ruleDefs.length ? { ruleDefs: [...ruleDefs] } : {}),
  };
}

/** A per-layer ZBox entry without bounds gets the card's (an explicit bound is kept). */
export function withCardBounds(entry: LayerRuleEntry, card: ModelCard): LayerRuleEntry {
  if (entry.rule !== 'zbox') return entry;
  const { low, high } = inputBounds(card);
  return { ...entry, low: entry.low ?? low, high: entry.high ?? high };
}
