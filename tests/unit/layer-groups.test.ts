// The layer panel's grouping by module path and its filter (app/layer-groups.ts).
import { describe, expect, it } from 'vitest';
import { groupLayers, groupPaths, layerMatches } from '../../app/layer-groups';
import type { LayerInfo } from '../../app/protocol';

const layer = (name: string, op = 'conv2d', cls: LayerInfo['cls'] = 'weighted'): LayerInfo =>
  ({ name, op, cls, inputs: [], output: name, outputShape: [], params: 0 }) as LayerInfo;

const shown = (names: string[]) =>
  groupLayers(names.map((n) => layer(n))).map((e) => (e.kind === 'layer' ? e.layer.name : `${e.path}[${e.layers.length}]`));

describe('layer groups', () => {
  it('cuts the module tree where a module holds few enough layers', () => {
    // A ResNet-18: each stage is a group (its blocks' downsampling convolution included); the stem stays flat.
    const resnet = ['conv1', 'relu', 'maxpool'];
    for (let s = 1; s <= 4; s++)
      for (const b of [0, 1]) {
        resnet.push(...['conv1', 'relu', 'conv2', 'add', 'relu_1'].map((m) => `layer${s}.${b}.${m}`));
        if (s > 1 && b === 0) resnet.push(`layer${s}.0.downsample.0`);
      }
    resnet.push('avgpool', 'fc');
    expect(shown(resnet)).toEqual(['conv1', 'relu', 'maxpool', 'layer1[10]', 'layer2[11]', 'layer3[11]', 'layer4[11]', 'avgpool', 'fc']);
  });

  it('groups a DenseNet by its dense layers, with the layers directly in "features" as one group', () => {
    const names = ['features.conv0', 'features.relu0', 'features.pool0'];
    for (let b = 1; b <= 4; b++) {
      for (let l = 1; l <= 12; l++) for (const m of ['relu1', 'conv1', 'relu2', 'conv2', 'cat']) names.push(`features.denseblock${b}.denselayer${l}.${m}`);
      if (b < 4) for (const m of ['relu', 'conv', 'pool']) names.push(`features.transition${b}.${m}`);
    }
    names.push('features.norm5', 'classifier');
    const paths = groupPaths(names);
    expect(paths[names.indexOf('features.denseblock2.denselayer5.conv1')]).toBe('features.denseblock2.denselayer5');
    expect(paths[names.indexOf('features.transition2.conv')]).toBe('features.transition2');
    expect(paths[names.indexOf('features.conv0')]).toBe('features');
    expect(paths[names.indexOf('features.norm5')]).toBe('features');
    expect(paths[names.indexOf('classifier')]).toBe('');
    const entries = groupLayers(names.map((n) => layer(n)));
    expect(entries.flatMap((e) => (e.kind === 'group' ? e.layers : [e.layer]))).toHaveLength(names.length);
    expect(entries.filter((e) => e.kind === 'group')).toHaveLength(48 + 3 + 1);
  });

  it('shows groups of one layer flat, and layers without a dot flat', () => {
    expect(shown(['conv_1_1', 'relu_1_1', 'head.fc', 'output'])).toEqual(['conv_1_1', 'relu_1_1', 'head.fc', 'output']);
    // A VGG's "features.0" to "features.30": one group, however many.
    expect(shown([...Array.from({ length: 31 }, (_, i) => `features.${i}`), 'classifier.0', 'classifier.3'])).toEqual(['features[31]', 'classifier[2]']);
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
