// The layer panel's grouping by module path and its filter (app/layer-groups.ts).
import { describe, expect, it } from 'vitest';
import { groupLayers, layerMatches, modulePath } from '../../app/layer-groups';
import type { LayerInfo } from '../../app/protocol';

const layer = (name: string, op = 'conv2d', cls: LayerInfo['cls'] = 'weighted'): LayerInfo =>
  ({ name, op, cls, inputs: [], output: name, outputShape: [], params: 0 }) as LayerInfo;

describe('layer groups', () => {
  it('groups by module path, at most three levels deep', () => {
    expect(modulePath('conv1')).toBe('');
    expect(modulePath('layer1.0.conv1')).toBe('layer1.0');
    expect(modulePath('features.denseblock2.denselayer5.conv1')).toBe('features.denseblock2.denselayer5');
    expect(modulePath('features.1.0.block.0.0')).toBe('features.1.0');
  });

  it('shows groups of one layer flat, and folds a lone submodule into its enclosing group', () => {
    const entries = groupLayers([
      layer('conv1'),
      layer('relu', 'relu', 'activation'),
      layer('layer1.0.conv1'),
      layer('layer1.0.relu', 'relu', 'activation'),
      layer('layer1.0.downsample.0'),
      layer('layer1.0.add', 'add', 'add'),
      layer('head.fc'),
    ]);
    expect(entries.map((e) => (e.kind === 'layer' ? e.layer.name : `${e.path}[${e.layers.map((l) => l.name).join(',')}]`))).toEqual([
      'conv1',
      'relu',
      'layer1.0[layer1.0.conv1,layer1.0.relu,layer1.0.downsample.0,layer1.0.add]',
      'head.fc',
    ]);
  });

  it('keeps every layer of a DenseNet-sized model, in groups of its dense layers', () => {
    const layers: LayerInfo[] = [layer('features.conv0')];
    for (let b = 1; b <= 4; b++)
      for (let l = 1; l <= 16; l++) for (const m of ['norm1', 'relu1', 'conv1', 'norm2', 'relu2', 'conv2']) layers.push(layer(`features.denseblock${b}.denselayer${l}.${m}`));
    const entries = groupLayers(layers);
    const inGroups = entries.flatMap((e) => (e.kind === 'group' ? e.layers : [e.layer]));
    expect(inGroups).toHaveLength(layers.length);
    expect(entries.filter((e) => e.kind === 'group')).toHaveLength(64);
    expect(entries.find((e) => e.kind === 'group' && e.path === 'features.denseblock2.denselayer5')).toBeTruthy();
  });

  it('filters by name, type or rule', () => {
    const l = layer('layer1.0.conv1');
    expect(layerMatches(l, undefined, '')).toBe(true);
    expect(layerMatches(l, undefined, 'CONV1')).toBe(true);
    expect(layerMatches(l, undefined, 'conv2d')).toBe(true);
    expect(layerMatches(l, { id: 'gamma', label: 'Gamma' } as never, 'gam')).toBe(true);
    expect(layerMatches(l, { id: 'gamma', label: 'Gamma' } as never, 'flat')).toBe(false);
  });
});
