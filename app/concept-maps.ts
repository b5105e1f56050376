/**
 * The Channels tab's concept maps (CRP, src/engine/concepts.ts), as the engine worker computes them: the channels
 * of a layer's output ranked by relevance (rankConcepts, one explanation), then, for each of the top channels and
 * the extra ones asked for, the input relevance conditioned on that channel alone (explainConcept with
 * channels = [c]) summed over the input's channels: the map the app draws. Framework-free and worker-free, so
 * that a unit test can run it on the CPU backend (tests/unit/concept-maps.test.ts).
 */
import { explainConcept, rankConcepts } from '../src/engine/concepts';
import type { LoadedModel } from '../src/engine/api';
import type { RuleAssignment } from '../src/rules/assignment';
import { sumChannels } from '../src/models/colormap';
import type { ConceptMap, ConceptRankingInfo } from './protocol';

export interface ConceptMapsOptions {
  readonly layer: string;
  readonly axis: number;
  readonly top: number;
  readonly extra?: readonly number[];
  readonly rules: RuleAssignment;
  readonly target?: number;
  readonly contrastTarget?: number;
  readonly signal?: AbortSignal;
  /** Awaited before each explanation (the worker lets a cancel in there: CPU work does not yield by itself). */
  readonly pause?: () => Promise<void>;
  readonly onRanking?: (ranking: ConceptRankingInfo, maps: number) => void;
  readonly onMap?: (map: ConceptMap, done: number, total: number) => void;
}

const aborted = () => new DOMException('the concept maps were cancelled', 'AbortError');

/** The channels that get a map: the top `top` by rank, then each extra one that is a channel and not among them. */
export function conceptChannels(ranking: Pick<ConceptRankingInfo, 'channels'>, top: number, extra: readonly number[] = []): number[] {
  const chosen = ranking.channels.slice(0, Math.max(0, top)).map((c) => c.channel);
  const count = ranking.channels.length;
  for (const c of extra) if (Number.isInteger(c) && c >= 0 && c < count && !chosen.includes(c)) chosen.push(c);
  return chosen;
}

export async function conceptMaps(model: LoadedModel, input: Float32Array, options: ConceptMapsOptions): Promise<{ ranking: ConceptRankingInfo; maps: ConceptMap[] }> {
  const { layer, axis, rules, signal, pause } = options;
  const explain = {
    rules,
    ...(options.contrastTarget !== undefined ? { contrastTarget: options.contrastTarget } : {}),
    ...(signal ? { signal } : {}),
  };
  await pause?.();
  if (signal?.aborted) throw aborted();
  const ranked = await rankConcepts(model, input, { layer, axis, ...explain, ...(options.target !== undefined ? { target: options.target } : {}) });
  const channels = ranked.channels.map((c) => ({ channel: c.channel, relevance: c.relevance }));
  const ranking: ConceptRankingInfo = {
    layer,
    axis: ranked.axis,
    target: ranked.target,
    channels,
    total: channels.reduce((s, c) => s + c.relevance, 0),
  };
  const chosen = conceptChannels(ranking, options.top, options.extra);
  const relevanceOf = new Map(channels.map((c) => [c.channel, c.relevance]));
  options.onRanking?.(ranking, chosen.length);
  const maps: ConceptMap[] = [];
  for (const channel of chosen) {
    await pause?.();
    if (signal?.aborted) throw aborted();
    // Every map explains the ranking's class, the top class included when none was asked for.
    const e = await explainConcept(model, input, { layer, axis: ranked.axis, channels: [channel], target: ranked.target, layerRelevance: false, ...explain });
    const map: ConceptMap = {
      channel,
      relevance: relevanceOf.get(channel)!,
      map: sumChannels(e.relevance, e.inputShape),
      nonFinite: e.nonFinite,
    };
    maps.push(map);
    options.onMap?.(map, maps.length, chosen.length);
  }
  return { ranking, maps };
}
