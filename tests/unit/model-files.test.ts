/** Which files of a model folder are used (src/models/model-files.ts), and the class names found beside a model. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModelFiles, type ModelFile } from '../../src/models/builtin';
import { defaultCard, graphClasses, parseModelCard } from '../../src/models/model-card';
import {
  ambiguousMessage,
  chooseClassNames,
  chooseModelFiles,
  classListCandidates,
  parseClassList,
  preferredOnnx,
  skippedMessage,
} from '../../src/models/model-files';
import { cardForFiles, importModelFiles } from '../../src/session/open-model';
import { initialState } from '../../app/store';
import { DEFAULT_PRESET } from '../../src/rules/assignment';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { decodeShareState, encodeShareState } from '../../src/share/share-codec';
import type { ShareState } from '../../src/share/share-state';

const shared = resolve(__dirname, '../../../shared/models');
const text = (name: string, s: string): ModelFile => ({ name, bytes: new TextEncoder().encode(s) });
const folder = (dir: string): ModelFile[] => readdirSync(dir).map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));

describe('chooseModelFiles: the model of a folder', () => {
  it('opens X.onnx of X.onnx and X.legacy.onnx, and leaves out the variant and the license, saying why', () => {
    const c = chooseModelFiles(['LICENSE', 'classes.json', 'resnet20_cifar10.legacy.onnx', 'resnet20_cifar10.onnx', 'resnet20_cifar10.onnx.data']);
    expect(c.ambiguous).toBeNull();
    expect(c.model).toBe('resnet20_cifar10.onnx');
    expect(c.send).toEqual(['classes.json', 'resnet20_cifar10.onnx', 'resnet20_cifar10.onnx.data']);
    expect(c.skipped.map((s) => s.name)).toEqual(['resnet20_cifar10.legacy.onnx', 'LICENSE']);
    expect(skippedMessage(c.skipped)).toBe(
      'Not used: resnet20_cifar10.legacy.onnx (another export of the same model: of resnet20_cifar10.onnx and its variants, resnet20_cifar10.onnx is opened), LICENSE (not part of a model).',
    );
  });

  it('the order the files come in does not matter', () => {
    const names = ['resnet20_cifar10.onnx.data', 'resnet20_cifar10.legacy.onnx', 'resnet20_cifar10.onnx', 'resnet20_cifar10.opt.onnx'];
    expect(chooseModelFiles(names).model).toBe('resnet20_cifar10.onnx');
    expect(chooseModelFiles([...names].reverse()).model).toBe('resnet20_cifar10.onnx');
    expect(preferredOnnx(['a.onnx'])).toBe('a.onnx');
  });

  it('several unrelated models are ambiguous: nothing is chosen and the message names them', () => {
    const c = chooseModelFiles(['a.onnx', 'b.onnx', 'b.onnx.data']);
    expect(c.model).toBeNull();
    expect(c.ambiguous).toEqual(['a.onnx', 'b.onnx']);
    expect(ambiguousMessage(c.ambiguous!)).toMatch(/^several models were given \(a\.onnx, b\.onnx\): open one model at a time/);
    // Two variants with no plain name among them: ambiguous too.
    expect(chooseModelFiles(['net.v1.onnx', 'net.v2.onnx']).ambiguous).toEqual(['net.v1.onnx', 'net.v2.onnx']);
    // An ONNX model and a TF.js model.json.
    expect(chooseModelFiles(['net.onnx', 'model.json', 'group1-shard1of1.bin']).ambiguous).toEqual(['net.onnx', 'model.json']);
  });

  it('a TF.js folder: model.json is the model; classes.json and card.json are not taken for it', () => {
    const c = chooseModelFiles(['LICENSE', 'classes.json', 'group1-shard1of1.bin', 'model.json', 'README.md', 'card.json']);
    expect(c).toMatchObject({ model: 'model.json', ambiguous: null });
    expect(c.send).toEqual(['classes.json', 'group1-shard1of1.bin', 'model.json', 'card.json']);
    expect(c.skipped.map((s) => s.name)).toEqual(['LICENSE', 'README.md']);
    // Without model.json the one JSON file is the model; among several the importer decides by content.
    expect(chooseModelFiles(['net.json', 'w.bin']).model).toBe('net.json');
    expect(chooseModelFiles(['net.json', 'config.json', 'w.bin'])).toMatchObject({ model: null, ambiguous: null });
  });

  it('files that name no model by extension are all sent: the importer finds one by content or says what they are', () => {
    expect(chooseModelFiles(['my-net', 'weights.data'])).toMatchObject({ model: null, ambiguous: null, send: ['my-net', 'weights.data'], skipped: [] });
  });
});

describe('openModelFiles with a whole folder', () => {
  it('resnet20-cifar10: opens resnet20_cifar10.onnx with its .onnx.data, not the legacy export, and says which files it read', () => {
    const files = folder(join(shared, 'resnet20-cifar10'));
    const opened = openModelFiles(files);
    expect(opened.modelFile).toBe('resnet20_cifar10.onnx');
    expect([...opened.used].sort()).toEqual(['resnet20_cifar10.onnx', 'resnet20_cifar10.onnx.data']);
    // Two unrelated .onnx files are refused with a message naming both.
    const other = { name: 'other.onnx', bytes: files.find((f) => f.name === 'resnet20_cifar10.legacy.onnx')!.bytes };
    expect(() => openModelFiles([files.find((f) => f.name === 'resnet20_cifar10.legacy.onnx')!, other])).toThrow(/several models were given \(resnet20_cifar10\.legacy\.onnx, other\.onnx\)/);
  });

  it('the app: class names from classes.json, notes naming the files read, and the preprocessing marked as assumed', () => {
    const files = folder(join(shared, 'resnet20-cifar10'));
    const choice = chooseModelFiles(files.map((f) => f.name));
    const sent = files.filter((f) => choice.send.includes(f.name));
    const imported = importModelFiles(sent);
    expect(imported.notes.slice(0, 2)).toEqual(['Opened resnet20_cifar10.onnx with resnet20_cifar10.onnx.data.', 'Class names from classes.json (10).']);
    const card = cardForFiles(imported.graph, imported, sent);
    expect(card.classes).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    expect(card.assumed).toEqual({ preprocessing: true, classes: false });
    expect(card.preprocessing).toEqual({ scale: 1 / 255, mean: [0], std: [1], resize: 'center-crop' });
  });

  it('tinyvgg with its card.json: the card names the classes (classes.json is not read) and nothing is assumed', () => {
    const files = folder(join(resolve(__dirname, '../../public/models'), 'tinyvgg'));
    const choice = chooseModelFiles(files.map((f) => f.name));
    const sent = files.filter((f) => choice.send.includes(f.name));
    const imported = importModelFiles(sent);
    const card = cardForFiles(imported.graph, imported, sent);
    expect(card.assumed).toBeUndefined();
    expect(card.classSummary).toMatch(/no cat/);
    expect(imported.notes).toContain('Not read: classes.json (the model does not refer to it).');
  });

  it('a model alone, with its weights: no notes about files', () => {
    const dir = join(shared, 'resnet20-cifar10');
    const files = ['resnet20_cifar10.onnx', 'resnet20_cifar10.onnx.data'].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
    const imported = importModelFiles(files);
    expect(imported.notes.some((n) => /^(Opened|Not read|Class names)/.test(n))).toBe(false);
    expect(importModelFiles([files[0]!, files[1]!, text('labels.txt', 'a\nb\n')]).notes).toContain(
      'labels.txt was not used for class names: it has 2, but the model has 10 outputs.',
    );
  });
});

describe('class lists', () => {
  it('reads a JSON list, an index-to-name object (Keras imagenet_class_index.json) and a text file of lines', () => {
    expect(parseClassList(text('classes.json', '["cat", "dog"]'))).toEqual({ names: ['cat', 'dog'] });
    expect(parseClassList(text('imagenet_class_index.json', '{"1": ["n01443537", "goldfish"], "0": ["n01440764", "tench"]}'))).toEqual({ names: ['tench', 'goldfish'] });
    expect(parseClassList(text('labels.txt', '\uFEFFcat\r\ndog\r\n\r\n'))).toEqual({ names: ['cat', 'dog'] });
    expect(parseClassList(text('synset_words.txt', 'n01440764 tench, Tinca tinca\nn01443537 goldfish\n'))).toEqual({ names: ['tench, Tinca tinca', 'goldfish'] });
    expect(parseClassList(text('classes.json', '{"0": "a", "2": "c"}'))).toEqual({ problem: 'class 1 has no name' });
    expect(parseClassList(text('classes.json', '[1, 2]'))).toEqual({ problem: 'a list whose entries are not all names (strings)' });
    expect(parseClassList(text('classes.json', '[1, '))).toMatchObject({ problem: expect.stringMatching(/^not valid JSON/) });
  });

  it('candidates: named class lists first, then other text files; none when a card.json names the classes', () => {
    expect(classListCandidates(['model.json', 'notes.txt', 'labels.txt', 'LICENSE', 'README.txt', 'imagenet_classes.txt'])).toEqual(['labels.txt', 'imagenet_classes.txt', 'notes.txt']);
    expect(classListCandidates(['model.json', 'card.json', 'classes.json'])).toEqual([]);
  });

  it('uses the first list with one name per output (1000 for ImageNet) and says why others were not used', () => {
    const thousand = Array.from({ length: 1000 }, (_, i) => `name ${i}`).join('\n');
    const r = chooseClassNames([text('labels.json', '["a", "b"]'), text('imagenet_classes.txt', thousand), text('notes.txt', 'hello')], 1000);
    expect(r.chosen?.file).toBe('imagenet_classes.txt');
    expect(r.chosen?.names).toHaveLength(1000);
    expect(r.notes).toEqual(['Class names from imagenet_classes.txt (1000).', 'labels.json was not used for class names: it has 2, but the model has 1000 outputs.']);
    expect(chooseClassNames([text('notes.txt', 'hello')], 10)).toEqual({ chosen: null, notes: [] });
  });

  it('defaultCard takes the names, or says the classes are assumed', () => {
    const g = openModelFiles(folder(join(shared, 'tinyvgg')).filter((f) => f.name !== 'LICENSE')).graph;
    const names = Array.from({ length: graphClasses(g) }, (_, i) => `n${i}`);
    expect(defaultCard(g, 'model.json', 'tfjs', ['model.json'], names)).toMatchObject({ classes: names, assumed: { preprocessing: true, classes: false } });
    expect(defaultCard(g, 'model.json', 'tfjs', ['model.json'], ['too few'])).toMatchObject({ classes: names.map((_, i) => `class ${i}`), assumed: { classes: true } });
    // A card file never says it is assumed; its classSummary is read and checked.
    const card = JSON.parse(readFileSync(resolve(__dirname, '../../public/models/tinyvgg/card.json'), 'utf8')) as Record<string, unknown>;
    expect(parseModelCard({ ...card, assumed: { preprocessing: true, classes: true } }).assumed).toBeUndefined();
    expect(() => parseModelCard({ ...card, classSummary: 3 })).toThrow(/"classSummary" must be a non-empty string/);
  });
});

describe('the default preset (issue 17): EpsilonPlusFlat', () => {
  const tinyvgg = () => openModelFiles(folder(join(shared, 'tinyvgg')).filter((f) => f.name !== 'LICENSE')).graph;

  it('the page starts with it, and an assignment that names no preset gets it', () => {
    expect(DEFAULT_PRESET).toBe('EpsilonPlusFlat');
    expect(initialState.rules.preset).toBe('EpsilonPlusFlat');
    const g = tinyvgg();
    const resolved = resolveAssignment(g, {});
    expect(resolved.get('conv_1_1')!.rule).toBe('flat');
    expect(resolved.get('conv_1_2')!.rule).toBe('zplus');
    expect(resolved.get('output')!.rule).toBe('epsilon');
    // Captum's default, named, is what it was.
    expect(resolveAssignment(g, { preset: 'captum-default' }).get('conv_1_1')!.rule).toBe('captum.epsilon');
  });

  it('share links name their preset: one made with captum-default keeps it, and one without a preset is refused', () => {
    const state: ShareState = {
      version: 1,
      model: { kind: 'builtin', id: 'tinyvgg' },
      image: { kind: 'sample', id: 'coffee.png' },
      target: null,
      contrast: null,
      preset: 'captum-default',
      presetParams: {},
      overrides: {},
      mergeBatchNorm: true,
      view: { colormap: 'bwr', opacity: 0.7, clip: false, clipPercentile: 99.5, inspect: null },
    };
    expect(decodeShareState(encodeShareState(state)).preset).toBe('captum-default');
    const { preset: _preset, ...noPreset } = state;
    expect(() => decodeShareState(encodeShareState(noPreset as ShareState))).toThrow(/the link.s preset is not text/);
  });
});
