// The layer panel's grouping by module path and its filter (app/layer-groups.ts).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { groupLayers, groupPaths, layerMatches } from '../../app/layer-groups';
import { importOnnx } from '../../src/engine/onnx/import-onnx';
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

  it("nests a torchvision ViT's groups: encoder, blocks, attention and MLP (../shared/goldens/vit/vit-tiny.onnx)", () => {
    const file = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'goldens', 'vit', 'vit-tiny.onnx');
    const graph = importOnnx({ name: 'vit-tiny.onnx', bytes: readFileSync(file) });
    const names = graph.nodes.map((n) => n.name);
    // The exporter merges the LayerNorms' equal weights into one initializer: each LayerNorm keeps its own module name.
    for (const ln of ['encoder.layers.encoder_layer_0.ln_1', 'encoder.layers.encoder_layer_0.ln_2', 'encoder.layers.encoder_layer_1.ln_1', 'encoder.layers.encoder_layer_1.ln_2', 'encoder.ln'])
      expect(names).toContain(ln);
    const entries = groupLayers(names.map((n) => layer(n)));
    const tree = entries.map((e) => `${'  '.repeat(e.ancestors.length)}${e.kind === 'layer' ? e.layer.name : `${e.path} [${e.layers.length}/${e.all.length}]`}`);
    const block = (b: number) => [
      `  encoder.layers.encoder_layer_${b} [4/28]`,
      `    encoder.layers.encoder_layer_${b}.self_attention [21/21]`,
      `    encoder.layers.encoder_layer_${b}.mlp [3/3]`,
    ];
    expect(tree).toEqual(['conv_proj', 'reshape_0', 'transpose_0', 'concat_0', 'encoder [2/58]', ...block(0), ...block(1), 'slice_0', 'reshape_11', 'heads.head']);
    const b1 = entries.find((e) => e.kind === 'group' && e.path === 'encoder.layers.encoder_layer_1');
    expect(b1?.kind === 'group' && b1.layers.map((l) => l.name.split('.').pop())).toEqual(['ln_1', 'add', 'ln_2', 'add_1']);
    // A rule for a block reaches its attention and MLP layers.
    expect(b1?.kind === 'group' && b1.all.some((l) => l.name === 'encoder.layers.encoder_layer_1.self_attention.out_proj')).toBe(true);
  });

  it('nests a group in the nearest group whose path is a prefix of its own', () => {
    const names = ['a.x', 'a.b.c1', 'a.b.c2', 'a.b.d.e1', 'a.b.d.e2', 'a.y', 'z'];
    expect(groupLayers(names.map((n) => layer(n))).map((e) => (e.kind === 'layer' ? e.layer.name : `${e.path}<${e.ancestors.join(',')}>`))).toEqual([
      'a<>',
      'z',
    ]);
    // Larger than GROUP_MAX: "a" is cut, its layers "a.x" and "a.y" form the group "a", holding "a.b" (cut too) and "a.b.d".
    const big = ['a.x', ...Array.from({ length: 10 }, (_, i) => `a.b.c${i}`), ...Array.from({ length: 10 }, (_, i) => `a.b.d.e${i}`), 'a.y'];
    const shownTree = groupLayers(big.map((n) => layer(n))).map((e) => (e.kind === 'layer' ? e.layer.name : `${e.path}<${e.ancestors.join(',')}>[${e.layers.length}/${e.all.length}]`));
    expect(shownTree).toEqual(['a<>[2/22]', 'a.b<a>[10/20]', 'a.b.d<a,a.b>[10/10]']);
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
