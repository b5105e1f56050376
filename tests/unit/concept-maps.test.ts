/**
 * The Channels tab's concept maps (app/concept-maps.ts, what the engine worker runs for a 'concepts' request) on
 * the CPU backend with the built-in TinyVGG: the ranking is rankConcepts', each map is explainConcept's input
 * relevance for that one channel summed over the input's channels, and the layer the app asks about for a channel
 * view layer (conceptSource) is the one whose output that layer reads.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { conceptChannels, conceptMaps } from '../../app/concept-maps';
import { CONCEPT_TOP, conceptReader, conceptSource } from '../../app/evaluation';
import { importModelFiles } from '../../src/session/open-model';
import type { ConceptMap, ModelInfo } from '../../app/protocol';
import { inferShapes } from '../../src/engine/compile';
import { explainConcept, rankConcepts, type LoadedModel } from '../../src/engine/index';
import { parseNpy, toFloat32 } from '../../src/engine/io/npy';
import { layerClassOf } from '../../src/engine/ops/registry';
import { sumChannels } from '../../src/models/colormap';
import type { RuleAssignment } from '../../src/rules/assignment';
import { cpuEngine } from './helpers/engines';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(repoRoot, 'public', 'models', 'tinyvgg');
const files = ['model.json', 'group1-shard1of1.bin'].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
const input = toFloat32(parseNpy(new Uint8Array(readFileSync(resolve(repoRoot, '..', 'shared', 'goldens', 'tfjs', 'tinyvgg.sample.coffee.npy')))));
const rules: RuleAssignment = { preset: 'EpsilonPlusFlat' };

/** The layers as the worker describes them to the page (app/engine-worker.ts describe(), NCHW models). */
function modelInfo(): ModelInfo {
  const { graph } = importModelFiles(files);
  const shapes = inferShapes(graph);
  const layers = graph.nodes.map((n) => ({
    name: n.name,
    op: n.op,
    cls: layerClassOf(n.op),
    inputs: n.inputs,
    output: n.output,
    outputShape: shapes.get(n.output) ?? [],
    params: 0,
  }));
  return { layers } as unknown as ModelInfo;
}

describe('concept maps (CPU backend, TinyVGG)', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await (await cpuEngine()).load(importModelFiles(files).graph);
  });

  it('the channel view layer relu_2_1 reads conv_2_1\'s output: its concepts are conv_2_1\'s 10 channels', () => {
    const info = modelInfo();
    expect(conceptSource(info, 'relu_2_1')).toEqual({ reader: 'relu_2_1', layer: 'conv_2_1', axis: 1, channels: 10 });
    expect(conceptSource(info, 'conv_2_1')).toEqual({ reader: 'conv_2_1', layer: 'max_pool_1', axis: 1, channels: 10 });
    expect(conceptSource(info, 'conv_1_1')).toMatchObject({ error: expect.stringMatching(/model's input/) });
    // A link's concept layer: the first layer reading its output; the last pool feeds only the flatten.
    expect(conceptReader(info, 'conv_2_1')).toEqual({ reader: 'relu_2_1', layer: 'conv_2_1', axis: 1, channels: 10 });
    expect(conceptReader(info, 'max_pool_2')).toEqual({ error: 'no channels' });
    expect(conceptReader(info, 'nope')).toEqual({ error: 'no layer' });
  });

  it('ranks as rankConcepts and draws each map as explainConcept with channels = [c], summed over the input channels', async () => {
    const source = conceptSource(modelInfo(), 'conv_2_2');
    if (!('layer' in source)) throw new Error(source.error);
    expect(source.layer).toBe('relu_2_1');
    const updates: string[] = [];
    const { ranking, maps } = await conceptMaps(model, input, {
      layer: source.layer,
      axis: source.axis,
      top: CONCEPT_TOP,
      extra: [],
      rules,
      onRanking: (r, n) => updates.push(`ranking ${r.channels.length} ${n}`),
      onMap: (m, done, total) => updates.push(`map ${m.channel} ${done}/${total}`),
    });
    const reference = await rankConcepts(model, input, { layer: source.layer, axis: source.axis, rules });
    expect(ranking.target).toBe(reference.target);
    expect(ranking.channels).toEqual(reference.channels.map((c) => ({ channel: c.channel, relevance: c.relevance })));
    expect(ranking.total).toBeCloseTo(reference.channels.reduce((s, c) => s + c.relevance, 0), 10);
    const top = reference.channels.slice(0, CONCEPT_TOP).map((c) => c.channel);
    expect(maps.map((m) => m.channel)).toEqual(top);
    expect(updates).toEqual(['ranking 10 6', ...top.map((c, i) => `map ${c} ${i + 1}/6`)]);
    for (const m of maps) {
      const e = await explainConcept(model, input, { layer: source.layer, axis: source.axis, channels: [m.channel], target: reference.target, rules });
      const expected = sumChannels(e.relevance, e.inputShape);
      expect([m.map.width, m.map.height]).toEqual([64, 64]);
      expect(Array.from(m.map.data)).toEqual(Array.from(expected.data));
      expect(m.relevance).toBe(e.concept.relevance);
      expect(m.nonFinite).toBeNull();
    }
    // Different channels look at different things.
    expect(Array.from(maps[0]!.map.data)).not.toEqual(Array.from(maps[1]!.map.data));
  });

  it('adds the extra channels asked for after the top ones, explains the class asked for, and stops when cancelled', async () => {
    const ranking = await rankConcepts(model, input, { layer: 'relu_1_2', rules, target: 3 });
    const last = ranking.channels.at(-1)!.channel;
    expect(conceptChannels(ranking, 2, [last, 99, -1, ranking.channels[0]!.channel])).toEqual([ranking.channels[0]!.channel, ranking.channels[1]!.channel, last]);
    const { maps } = await conceptMaps(model, input, { layer: 'relu_1_2', axis: 1, top: 0, extra: [last], rules, target: 3 });
    expect(maps.map((m: ConceptMap) => m.channel)).toEqual([last]);
    const e = await explainConcept(model, input, { layer: 'relu_1_2', channels: last, target: 3, rules });
    expect(e.target).toBe(3);
    expect(Array.from(maps[0]!.map.data)).toEqual(Array.from(sumChannels(e.relevance, e.inputShape).data));

    const controller = new AbortController();
    let seen = 0;
    const run = conceptMaps(model, input, {
      layer: 'relu_1_2',
      axis: 1,
      top: 6,
      rules,
      signal: controller.signal,
      onMap: () => {
        seen++;
        controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toBe(1);
  });
});
