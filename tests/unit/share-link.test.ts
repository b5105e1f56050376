/** Share links: round trips of random states, and hostile strings that must end in a clear error. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PNG } from 'pngjs';
import { deflateSync } from 'fflate';
import { decodeShareState, encodeShareState, filterRows } from '../../src/share/share-codec';
import { COLORMAPS, COMPARE_METHOD_LIMITS, SHARE_LIMITS, ShareLinkError, compareMethodOf, linkVersion, type ShareCompareMethod, type ShareState, type ShareVersion } from '../../src/share/share-state';
import { ruleDefinitions } from '../../src/rules/rules';
import { composites } from '../../src/rules/composites';
import { PERTURBATION_BASELINES } from '../../src/evaluation/pixel-flipping';
import { EXAMPLE_RULE_SPECS, type CustomRuleSpec } from '../../src/rules/custom-rules';

// eslint-disable-next-line no-control-regex -- names with control characters are what the decoder refuses
const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s));
// JSON has no negative zero: -0 travels as 0, which every rule treats the same.
const num = (min: number, max: number) => fc.double({ min, max, noNaN: true }).map((x) => (x === 0 ? 0 : x));
const paramValue = fc.oneof(num(-1e6, 1e6), fc.boolean(), fc.array(num(-10, 10), { minLength: 1, maxLength: 5 }));
const params = fc.dictionary(name, paramValue, { maxKeys: 4 });
const image = fc.oneof(
  fc.record({ kind: fc.constant('sample' as const), id: name }),
  fc.record({ width: fc.integer({ min: 1, max: 12 }), height: fc.integer({ min: 1, max: 12 }) }).chain(({ width, height }) =>
    fc.uint8Array({ minLength: width * height * 3, maxLength: width * height * 3 }).map((rgb) => ({ kind: 'pixels' as const, width, height, rgb })),
  ),
);
const state: fc.Arbitrary<ShareState> = fc.record({
  version: fc.constant(1 as ShareVersion),
  model: fc.oneof(
    fc.record({ kind: fc.constant('builtin' as const), id: name }),
    fc.record({ kind: fc.constant('user' as const), name, sha256: fc.stringMatching(/^[0-9a-f]{64}$/) }),
  ),
  image,
  target: fc.option(fc.integer({ min: 0, max: 999 }), { nil: null }),
  contrast: fc.option(fc.integer({ min: 0, max: 999 }), { nil: null }),
  preset: fc.constantFrom(...composites.map((c) => c.id)),
  presetParams: params,
  overrides: fc.dictionary(name, fc.record({ rule: fc.constantFrom(...ruleDefinitions.map((r) => r.id)), params }), { maxKeys: 6 }),
  mergeBatchNorm: fc.boolean(),
  view: fc.record({
    colormap: fc.constantFrom(...COLORMAPS),
    opacity: num(0, 1),
    clip: fc.boolean(),
    clipPercentile: num(50, 100),
    inspect: fc.option(name, { nil: null }),
  }),
  compare: fc.record({
    preset: fc.constantFrom(...composites.map((c) => c.id)),
    overrides: fc.dictionary(name, fc.record({ rule: fc.constantFrom(...ruleDefinitions.map((r) => r.id)), params }), { maxKeys: 4 }),
    label: fc.option(name, { nil: null }),
    settings: fc.record({ patch: fc.integer({ min: 1, max: 1024 }), baseline: fc.constantFrom(...PERTURBATION_BASELINES), steps: fc.integer({ min: 1, max: 256 }) }),
  }),
  concept: fc.record({ layer: name, channel: fc.integer({ min: 0, max: SHARE_LIMITS.channel }) }),
  ruleDefs: fc.subarray([...EXAMPLE_RULE_SPECS], { minLength: 1 }),
}, { requiredKeys: ['version', 'model', 'image', 'target', 'contrast', 'preset', 'presetParams', 'overrides', 'mergeBatchNorm', 'view'] }).map((s) => ({ ...s, version: linkVersion(s) }));

/** A state or a ShareLinkError: nothing else may come out of the decoder. */
function decodeOrError(link: string): ShareState | ShareLinkError {
  try {
    return decodeShareState(link);
  } catch (e) {
    if (e instanceof ShareLinkError) return e;
    throw e;
  }
}

describe('share links', () => {
  it('random valid states decode unchanged', () => {
    fc.assert(
      fc.property(state, (s) => {
        const link = encodeShareState(s);
        expect(link).toMatch(s.ruleDefs ? /^s4\.[A-Za-z0-9_-]+$/ : s.concept ? /^s3\.[A-Za-z0-9_-]+$/ : s.compare ? /^s2\.[A-Za-z0-9_-]+$/ : /^s1\.[A-Za-z0-9_-]+$/);
        expect(decodeShareState(`https://example.test/#${link}`)).toEqual(s);
      }),
      { numRuns: 300 },
    );
  });

  it('random strings and mutated links give a state or a clear error', () => {
    fc.assert(
      fc.property(state, fc.string({ maxLength: 200 }), fc.nat(), fc.nat(), (s, junk, at, bit) => {
        const link = encodeShareState(s);
        for (const candidate of [
          junk,
          `s1.${junk}`,
          link.slice(0, at % link.length),
          link.slice(0, at % link.length) + junk + link.slice(at % link.length),
          link.slice(0, 3 + (at % (link.length - 3))) + String.fromCharCode(65 + (bit % 26)) + link.slice(4 + (at % (link.length - 3))),
        ]) {
          const out = decodeOrError(candidate);
          if (out instanceof ShareLinkError) expect(out.message.length).toBeGreaterThan(10);
        }
      }),
      { numRuns: 300 },
    );
  });

  const craft = (obj: unknown, pixels = new Uint8Array(0)) => {
    const json = new TextEncoder().encode(JSON.stringify(obj));
    const payload = new Uint8Array(4 + json.length + pixels.length);
    new DataView(payload.buffer).setUint32(0, json.length, true);
    payload.set(json, 4);
    payload.set(pixels, 4 + json.length);
    const version = (obj as { version?: unknown }).version;
    return `s${typeof version === 'number' && version >= 1 ? version : 1}.` + Buffer.from(deflateSync(payload)).toString('base64url');
  };
  const valid: ShareState = {
    version: 1,
    model: { kind: 'builtin', id: 'tinyvgg' },
    image: { kind: 'sample', id: 'coffee' },
    target: null,
    contrast: null,
    preset: 'EpsilonPlusFlat',
    presetParams: {},
    overrides: {},
    mergeBatchNorm: true,
    view: { colormap: 'bwr', opacity: 0.6, clip: false, clipPercentile: 99, inspect: null },
  };

  it.each([
    ['a future version', { ...valid, version: 5 }, /newer LRP Lens \(link version 5; this one reads versions 1 to 4\)/],
    ['a comparison in a version 1 link', { ...valid, compare: { preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } } }, /unknown field "compare"/],
    ['a huge image', { ...valid, image: { kind: 'pixels', width: 1e9, height: 1e9 } }, /image width/],
    ['pixels missing', { ...valid, image: { kind: 'pixels', width: 4, height: 4 } }, /48 bytes of pixels/],
    ['a wrong type', { ...valid, target: 'one' }, /target/],
    ['a negative target', { ...valid, target: -3 }, /target/],
    ['an unknown rule', { ...valid, overrides: { conv1: { rule: 'evil', params: {} } } }, /not a known rule/],
    ['an unknown preset', { ...valid, preset: 'x' }, /not a known preset/],
    ['an unknown field', { ...valid, extra: 1 }, /unknown field/],
    ['a bad colormap', { ...valid, view: { ...valid.view, colormap: 'javascript:alert(1)' } }, /colormap/],
    ['an opacity out of range', { ...valid, view: { ...valid.view, opacity: 7 } }, /opacity/],
    ['a bad hash', { ...valid, model: { kind: 'user', name: 'm.onnx', sha256: 'xyz' } }, /SHA-256/],
    ['control characters', { ...valid, model: { kind: 'builtin', id: 'a\u0000b' } }, /control characters/],
    ['an oversized name', { ...valid, model: { kind: 'builtin', id: 'x'.repeat(10_000) } }, /characters/],
    ['too many parameters', { ...valid, presetParams: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, 1])) }, /parameters/],
    ['NaN smuggled as null', { ...valid, view: { ...valid.view, opacity: null } }, /opacity/],
    ['a comparison with an unknown preset', { ...valid, version: 2, compare: { ...{ preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } }, preset: 'evil' } }, /the link's comparison's preset "evil" is not a known preset/],
    ['a comparison with an unknown rule', { ...valid, version: 2, compare: { ...{ preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } }, overrides: { c1: { rule: 'x', params: {} } } } }, /comparison's rule of layer "c1" "x" is not a known rule/],
    ['a comparison with 10^6 steps', { ...valid, version: 2, compare: { ...{ preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } }, settings: { patch: 8, baseline: 'blur', steps: 1e6 } } }, /comparison steps must be a whole number from 1 to 256/],
    ['a comparison with a patch of 0', { ...valid, version: 2, compare: { ...{ preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } }, settings: { patch: 0, baseline: 'blur', steps: 4 } } }, /comparison patch size/],
    ['a comparison with an unknown baseline', { ...valid, version: 2, compare: { ...{ preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } }, settings: { patch: 8, baseline: '<img>', steps: 4 } } }, /comparison baseline must be one of blur, mean, noise, zero/],
    ['a comparison with an unknown field', { ...valid, version: 2, compare: { ...{ preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } }, run: 'now' } }, /comparison has an unknown field "run"/],
    ['a comparison that is not an object', { ...valid, version: 2, compare: 'B' }, /comparison is not an object/],
    ['a concept in a version 2 link', { ...valid, version: 2, concept: { layer: 'relu_1_2', channel: 3 } }, /unknown field "concept"/],
    ['a concept in a version 1 link', { ...valid, concept: { layer: 'relu_1_2', channel: 3 } }, /unknown field "concept"/],
    ['a concept that is not an object', { ...valid, version: 3, concept: 'relu_1_2:3' }, /the link's concept is not an object/],
    ['a concept with a negative channel', { ...valid, version: 3, concept: { layer: 'relu_1_2', channel: -1 } }, /the link's concept channel must be a whole number from 0 to 1000000/],
    ['a concept with a fractional channel', { ...valid, version: 3, concept: { layer: 'relu_1_2', channel: 1.5 } }, /concept channel must be a whole number/],
    ['a concept with a huge channel', { ...valid, version: 3, concept: { layer: 'relu_1_2', channel: 1e12 } }, /concept channel must be a whole number from 0 to 1000000/],
    ['a concept without a channel', { ...valid, version: 3, concept: { layer: 'relu_1_2' } }, /concept channel must be a whole number/],
    ['a concept with an empty layer', { ...valid, version: 3, concept: { layer: '', channel: 0 } }, /the link's concept layer must have 1 to 256 characters/],
    ['a concept with a layer that is not text', { ...valid, version: 3, concept: { layer: 7, channel: 0 } }, /the link's concept layer is not text/],
    ['a concept with control characters', { ...valid, version: 3, concept: { layer: 'a\u0007b', channel: 0 } }, /concept layer contains control characters/],
    ['a concept with an unknown field', { ...valid, version: 3, concept: { layer: 'relu_1_2', channel: 0, axis: 3 } }, /the link's concept has an unknown field "axis"/],
    ['a comparison with too many layers', { ...valid, version: 2, compare: { ...{ preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } }, overrides: Object.fromEntries(Array.from({ length: 2001 }, (_, i) => [`l${i}`, { rule: 'flat', params: {} }])) } }, /comparison's overrides has more than 2000 layers/],
  ])('refuses %s', (_what, obj, message) => {
    expect(() => decodeShareState(craft(obj))).toThrow(message);
  });

  it('writes version 1 unless the state has a comparison, and refuses a prefix that disagrees with the JSON', () => {
    const compare = { preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur' as const, steps: 16 } };
    expect(encodeShareState(valid)).toMatch(/^s1\./);
    expect(encodeShareState({ ...valid, version: 2 })).toMatch(/^s1\./);
    const v2 = encodeShareState({ ...valid, compare });
    expect(v2).toMatch(/^s2\./);
    expect(decodeShareState(v2)).toEqual({ ...valid, version: 2, compare });
    expect(() => decodeShareState(`s1.${v2.slice(3)}`)).toThrow(/damaged: its prefix says version 1, its settings version 2/);
    expect(() => decodeShareState(`s2.${encodeShareState(valid).slice(3)}`)).toThrow(/prefix says version 2, its settings version 1/);
  });

  it('writes version 3 for a concept (with or without a comparison) and reads it back', () => {
    const concept = { layer: 'relu_1_2', channel: 7 };
    const compare = { preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur' as const, steps: 16 } };
    const v3 = encodeShareState({ ...valid, concept });
    expect(v3).toMatch(/^s3\./);
    expect(decodeShareState(v3)).toEqual({ ...valid, version: 3, concept });
    expect(decodeShareState(encodeShareState({ ...valid, compare, concept }))).toEqual({ ...valid, version: 3, compare, concept });
    // A version 3 reader still reads the versions before it; a concept takes its link to version 3 only.
    expect(decodeShareState(craft({ ...valid, version: 3 }))).toEqual({ ...valid, version: 3 });
    expect(linkVersion({ concept })).toBe(3);
    expect(linkVersion({ compare })).toBe(2);
    expect(() => decodeShareState(`s2.${v3.slice(3)}`)).toThrow(/prefix says version 2, its settings version 3/);
    // Channel 0 and the largest index are kept exactly; a layer name is text, shown as text.
    for (const c of [{ layer: 'x', channel: 0 }, { layer: '<img src=x onerror=alert(1)>', channel: SHARE_LIMITS.channel }]) {
      expect(decodeShareState(encodeShareState({ ...valid, concept: c })).concept).toEqual(c);
    }
  });

  it('"__proto__" as a layer or parameter name is an ordinary key', () => {
    const link = craft({ ...valid, presetParams: JSON.parse('{"__proto__": 3}'), overrides: JSON.parse('{"__proto__": {"rule": "flat", "params": {}}}') });
    const s = decodeShareState(link);
    expect(Object.getPrototypeOf(s.presetParams)).toBe(Object.prototype);
    expect(Object.keys(s.overrides)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).rule).toBeUndefined();
  });

  it('script in strings stays text: it decodes as the same characters and nothing else', () => {
    const s = { ...valid, model: { kind: 'builtin' as const, id: '<img src=x onerror=alert(1)>' }, overrides: { '<script>alert(1)</script>': { rule: 'flat', params: {} } } };
    expect(decodeShareState(encodeShareState(s))).toEqual(s);
  });

  it('refuses a decompression bomb and links that are not share links', () => {
    const bomb = 's1.' + Buffer.from(deflateSync(new Uint8Array(SHARE_LIMITS.inflatedBytes + 10))).toString('base64url');
    expect(() => decodeShareState(bomb)).toThrow(/expands beyond/);
    expect(() => decodeShareState('#hello')).toThrow(/not an LRP Lens share link/);
    expect(() => decodeShareState('s9.abc')).toThrow(/newer LRP Lens/);
    expect(() => decodeShareState('s1.!!!')).toThrow(/characters/);
    expect(() => decodeShareState('')).toThrow(ShareLinkError);
  });

  it('the Paeth filter is invertible', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.nat(), (w, h, seed) => {
        const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37 + seed) & 255);
        expect(filterRows(filterRows(rgb, w, h, false), w, h, true)).toEqual(rgb);
      }),
    );
  });

  it('a 224x224 photo fits in a link of about a hundred kilobytes', () => {
    const png = PNG.sync.read(readFileSync(resolve(__dirname, '../../../shared/samples/chelsea.png')));
    const rgb = new Uint8Array(224 * 224 * 3);
    for (let y = 0; y < 224; y++) {
      for (let x = 0; x < 224; x++) {
        const sx = Math.floor((x * png.width) / 224);
        const sy = Math.floor((y * png.height) / 224);
        for (let c = 0; c < 3; c++) rgb[(y * 224 + x) * 3 + c] = png.data[(sy * png.width + sx) * 4 + c]!;
      }
    }
    const link = encodeShareState({ ...valid, image: { kind: 'pixels', width: 224, height: 224, rgb } });
    console.log(`224x224 chelsea.png: link of ${link.length} characters (raw RGB ${rgb.length} bytes)`);
    expect(link.length).toBeLessThan(rgb.length * 1.34);
    expect(decodeShareState(link).image).toEqual({ kind: 'pixels', width: 224, height: 224, rgb });
  });
});

describe('share links: custom rules (version 4)', () => {
  const craft = (obj: unknown) => {
    const json = new TextEncoder().encode(JSON.stringify(obj));
    const payload = new Uint8Array(4 + json.length);
    new DataView(payload.buffer).setUint32(0, json.length, true);
    payload.set(json, 4);
    const version = (obj as { version?: unknown }).version;
    return `s${typeof version === 'number' ? version : 1}.` + Buffer.from(deflateSync(payload)).toString('base64url');
  };
  const [EPSILON, ZPLUS, GAMMA] = EXAMPLE_RULE_SPECS as [CustomRuleSpec, CustomRuleSpec, CustomRuleSpec];
  const base: ShareState = {
    version: 1,
    model: { kind: 'builtin', id: 'tinyvgg' },
    image: { kind: 'sample', id: 'coffee' },
    target: null,
    contrast: null,
    preset: 'EpsilonPlusFlat',
    presetParams: {},
    overrides: {},
    mergeBatchNorm: true,
    view: { colormap: 'bwr', opacity: 0.6, clip: false, clipPercentile: 99, inspect: null },
  };
  const withRules: ShareState = {
    ...base,
    overrides: { conv_1: { rule: 'my.gamma', params: { gamma: 0.5 } }, fc: { rule: 'my.epsilon', params: {} } },
    compare: { preset: 'EpsilonPlus', overrides: { conv_2: { rule: 'my.zplus', params: {} } }, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } },
    ruleDefs: [EPSILON, ZPLUS, GAMMA],
  };

  it('travel in the link: version 4, read back unchanged, the overrides and the comparison naming them', () => {
    const link = encodeShareState(withRules);
    expect(link).toMatch(/^s4\./);
    expect(decodeShareState(link)).toEqual({ ...withRules, version: 4 });
    expect(linkVersion({ ruleDefs: [EPSILON] })).toBe(4);
    expect(linkVersion({ ruleDefs: [] })).toBe(1);
    // Older versions are still read; a version 3 link cannot hold definitions.
    expect(() => decodeShareState(craft({ ...withRules, version: 3 }))).toThrow(/unknown field "ruleDefs"/);
    expect(() => decodeShareState(`s3.${link.slice(3)}`)).toThrow(/prefix says version 3, its settings version 4/);
  });

  it.each([
    ['a custom rule the link does not define', { ...withRules, version: 4, ruleDefs: [EPSILON, GAMMA] }, /comparison's rule of layer "conv_2" "my\.zplus" is not a known rule/],
    ['custom rules without definitions', { ...base, version: 4, overrides: { fc: { rule: 'my.epsilon', params: {} } } }, /"my\.epsilon" is not a known rule \(a custom rule must be defined in the link\)/],
    ['a definition with a built-in id', { ...base, version: 4, ruleDefs: [{ ...EPSILON, id: 'epsilon' }] }, /the link's rule definitions\[0\] "epsilon": id "epsilon" is the name of a built-in rule/],
    ['an invalid definition', { ...base, version: 4, ruleDefs: [{ ...EPSILON, program: { groups: [] } }] }, /the link's rule definitions\[0\] "my\.epsilon": program\.groups is missing/],
    ['a negative epsilon', { ...base, version: 4, ruleDefs: [{ ...ZPLUS, program: { groups: [{ ...ZPLUS.program.groups![0]!, stabilizer: { epsilon: -1 } }] } }] }, /stabilizer\.epsilon must not be negative/],
    ['an id defined twice', { ...base, version: 4, ruleDefs: [EPSILON, EPSILON] }, /rule definitions\[1\]: id "my\.epsilon" is defined twice/],
    ['too many definitions', { ...base, version: 4, ruleDefs: Array.from({ length: 17 }, (_, i) => ({ ...EPSILON, id: `r${i}` })) }, /rule definitions must be 1 to 16/],
    [
      'definitions too long',
      { ...base, version: 4, ruleDefs: [{ ...EPSILON, program: { ...EPSILON.program, bounds: { low: -1, high: Array.from({ length: 4000 }, (_, i) => 0.123456789 + i) } } }] },
      /rule definitions are longer than 32000 characters/,
    ],
    ['an empty list', { ...base, version: 4, ruleDefs: [] }, /rule definitions must be 1 to 16/],
    ['not a list', { ...base, version: 4, ruleDefs: { id: 'x' } }, /rule definitions are not a list/],
  ])('refuses %s', (_what, obj, message) => {
    expect(() => decodeShareState(craft(obj))).toThrow(message);
    expect(() => decodeShareState(craft(obj))).toThrow(ShareLinkError);
  });
});

describe('share links: the methods of the comparison\'s sides (version 3)', () => {
  const base: ShareState = {
    version: 2,
    model: { kind: 'builtin', id: 'tinyvgg' },
    image: { kind: 'sample', id: 'coffee.png' },
    target: null,
    contrast: null,
    preset: 'EpsilonPlusFlat',
    presetParams: {},
    overrides: {},
    mergeBatchNorm: true,
    view: { colormap: 'bwr', opacity: 0.7, clip: false, clipPercentile: 99.5, inspect: null },
    compare: { preset: 'EpsilonGammaBox', overrides: {}, label: null, settings: { patch: 8, baseline: 'blur', steps: 16 } },
  };
  const craft = (obj: unknown) => {
    const json = new TextEncoder().encode(JSON.stringify(obj));
    const payload = new Uint8Array(4 + json.length);
    new DataView(payload.buffer).setUint32(0, json.length, true);
    payload.set(json, 4);
    return `s${(obj as { version: number }).version}.` + Buffer.from(deflateSync(payload)).toString('base64url');
  };
  const L = COMPARE_METHOD_LIMITS;
  const method: fc.Arbitrary<ShareCompareMethod> = fc.oneof(
    fc.record({ method: fc.constantFrom('gradient' as const, 'gradient-x-input' as const) }),
    fc.record({
      method: fc.constant('smoothgrad' as const),
      samples: fc.integer({ min: L.samples.min, max: L.samples.max }),
      noiseLevel: fc.double({ min: L.noiseLevel.min, max: L.noiseLevel.max, noNaN: true }).map((x) => (x === 0 ? 0 : x)),
    }),
    fc.record({ method: fc.constant('integrated-gradients' as const), steps: fc.integer({ min: L.steps.min, max: L.steps.max }) }),
  );

  it('round-trips any method of A and of B in a version 3 link', () => {
    fc.assert(
      fc.property(fc.record({ a: method, b: method }, { requiredKeys: [] }), (compareMethods) => {
        const s = { ...base, compareMethods };
        const version = linkVersion(s);
        expect(version).toBe(3);
        const link = encodeShareState({ ...s, version });
        expect(link).toMatch(/^s3\./);
        expect(decodeShareState(link)).toEqual({ ...s, version: 3 });
      }),
      { numRuns: 200 },
    );
    // Custom rules take the link to version 4, which reads the methods too.
    const ruleDefs = [EXAMPLE_RULE_SPECS[0]!];
    const s4 = { ...base, compareMethods: { b: { method: 'integrated-gradients' as const, steps: 8 } }, ruleDefs };
    expect(linkVersion(s4)).toBe(4);
    expect(decodeShareState(encodeShareState({ ...s4, version: 4 })).compareMethods).toEqual({ b: { method: 'integrated-gradients', steps: 8 } });
  });

  it('a version 2 link cannot carry methods, and methods come only with a comparison', () => {
    expect(() => decodeShareState(craft({ ...base, version: 2, compareMethods: { b: { method: 'gradient' } } }))).toThrow(/unknown field "compareMethods"/);
    const { compare: _, ...noCompare } = base;
    expect(() => decodeShareState(craft({ ...noCompare, version: 3, compareMethods: { b: { method: 'gradient' } } }))).toThrow(/compare methods come without a comparison/);
    expect(() => decodeShareState(craft({ ...base, version: 3, compareMethods: { c: { method: 'gradient' } } }))).toThrow(/compare methods has an unknown field "c"/);
    expect(() => decodeShareState(craft({ ...base, version: 3, compareMethods: 'IG' }))).toThrow(/compare methods are not an object/);
  });

  it.each([
    ['an unknown method', { method: 'deeplift' }, /"deeplift", not a method this LRP Lens knows \(gradient, gradient-x-input, smoothgrad, integrated-gradients\)/],
    ['no method', { steps: 4 }, /is missing, not a method/],
    ['not an object', 'gradient', /is not an object/],
    ['0 SmoothGrad samples', { method: 'smoothgrad', samples: 0, noiseLevel: 0.1 }, /samples 0, not a whole number from 1 to 256/],
    ['fractional samples', { method: 'smoothgrad', samples: 2.5, noiseLevel: 0.1 }, /samples 2.5/],
    ['a noise level of 2', { method: 'smoothgrad', samples: 4, noiseLevel: 2 }, /noise level 2, not a number from 0 to 1/],
    ['a missing noise level', { method: 'smoothgrad', samples: 4 }, /noise level undefined/],
    ['10^6 IG steps', { method: 'integrated-gradients', steps: 1e6 }, /steps 1000000, not a whole number from 1 to 256/],
    ['an unknown parameter', { method: 'integrated-gradients', steps: 4, baseline: 'blur' }, /unknown parameter "baseline"/],
  ])('leaves out %s with the reason, and the rest of the link applies', (_what, b, reason) => {
    const s = decodeShareState(craft({ ...base, version: 3, compareMethods: { a: { method: 'gradient' }, b } }));
    expect(s.compareMethods?.a).toEqual({ method: 'gradient' });
    expect(s.compareMethods?.b).toMatchObject({ method: null, refused: expect.stringMatching(reason) });
    expect(s.compare).toEqual(base.compare);
    expect(s.preset).toBe('EpsilonPlusFlat');
  });

  it('the reason names what was refused without echoing long text', () => {
    const r = compareMethodOf({ method: 'x'.repeat(5000) });
    expect(r.method).toBeNull();
    expect((r as { refused: string }).refused.length).toBeLessThan(200);
  });
});
