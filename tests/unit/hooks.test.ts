/**
 * Layer hooks (ExplainOptions.hooks): what they read back (activation, relevance arriving at the layer's output),
 * how a scale changes the relevance below the layer, on both backends, and that they leave hook-free results alone.
 */
import { describe, expect, it } from 'vitest';
import type { Engine, LoadedModel } from '../../src/engine/index';
import type { RuleAssignment } from '../../src/rules/assignment';
import { cpuEngine, gpuEngine, randomArray, relL2, rng } from './helpers/engines';
import { tinyForward, tinyNet } from './helpers/tiny-net';

const net = tinyNet(11, 'relu');
const input = randomArray(net.c * net.h * net.w, rng(12), 1.5);
const features = net.o * net.oh * net.ow;
const per = net.oh * net.ow;
/** EpsilonPlus: conv ZPlus, fc Epsilon, the activation Pass. */
const rules: RuleAssignment = { preset: 'EpsilonPlus' };

const backends: [string, () => Promise<Engine>][] = [
  ['cpu', cpuEngine],
  ['webgpu', gpuEngine],
];

const layer = (e: Awaited<ReturnType<LoadedModel['explain']>>, name: string) => e.layers.find((l) => l.layer === name)!.data;

describe.each(backends)('hooks on %s', (backendName, engine) => {
  const tol = backendName === 'cpu' ? 1e-6 : 1e-5;

  it('observe: the activation is the forward pass, the relevance is what the layer above passes down', async () => {
    const model = await (await engine()).load(net.graph);
    const plain = await model.explain(input, { rules, target: 1 });
    const hooked = await model.explain(input, { rules, target: 1, hooks: [{ layer: 'conv' }, { layer: 'act' }, { layer: 'fc' }] });
    expect(plain.hooks).toBeUndefined();
    expect(hooked.hooks!.map((h) => h.layer)).toEqual(['conv', 'act', 'fc']);
    // Observing changes nothing.
    expect(Array.from(hooked.relevance)).toEqual(Array.from(plain.relevance));
    const ref = tinyForward(net, input);
    const [conv, act, fc] = hooked.hooks!;
    expect(conv!.shape).toEqual([1, net.o, net.oh, net.ow]);
    expect(relL2(conv!.activation, ref.z1)).toBeLessThan(tol);
    expect(relL2(act!.activation, ref.a1)).toBeLessThan(tol);
    expect(relL2(fc!.activation, ref.logits)).toBeLessThan(tol);
    // The relevance at fc's output is the seed: the target logit at the target.
    expect(Array.from(fc!.relevance, (v, i) => (i === 1 ? v / ref.logits[1]! : v))).toEqual([0, expect.closeTo(1, 5), 0]);
    // At act's output: what fc passes to its input; at conv's output: what act (Pass) passes to its input.
    expect(relL2(act!.relevance, layer(plain, 'fc'))).toBeLessThan(1e-7);
    expect(relL2(conv!.relevance, layer(plain, 'act'))).toBeLessThan(1e-7);
    model.dispose();
  });

  it('scale per channel: the layer below sees the relevance times the channel factor', async () => {
    const model = await (await engine()).load(net.graph);
    const scale = [0.5, 0, -2];
    const e = await model.explain(input, { rules, target: 0, hooks: [{ layer: 'act', scale }] });
    const observed = e.hooks![0]!.relevance;
    const below = layer(e, 'act'); // act's input relevance: Pass gives it the scaled relevance unchanged
    const want = Array.from(observed, (v, i) => v * scale[Math.floor(i / per)]!);
    expect(relL2(below, want)).toBeLessThan(1e-7);
    expect(below.slice(per, 2 * per).every((v) => v === 0)).toBe(true);
    // The observation is what arrived, not scaled: equal to the unhooked relevance there.
    const plain = await model.explain(input, { rules, target: 0 });
    expect(relL2(observed, layer(plain, 'fc'))).toBeLessThan(tol);
    model.dispose();
  });

  it('scale per element, and a scale at a reshape (its relevance storage is its input\'s)', async () => {
    const model = await (await engine()).load(net.graph);
    const scale = randomArray(features, rng(3), 2);
    for (const at of ['act', 'flatten']) {
      const e = await model.explain(input, { rules, target: 2, hooks: [{ layer: at, scale }] });
      const observed = e.hooks![0]!.relevance;
      const plain = await model.explain(input, { rules, target: 2 });
      expect(relL2(observed, layer(plain, 'fc')), at).toBeLessThan(tol);
      expect(relL2(layer(e, 'act'), Array.from(observed, (v, i) => v * scale[i]!)), at).toBeLessThan(1e-6);
    }
    model.dispose();
  });

  it('all-ones scale gives the hook-free result; the relevance is linear in the scale; no stale reuse', async () => {
    const model = await (await engine()).load(net.graph);
    const plain = await model.explain(input, { rules, target: 1 });
    const ones = await model.explain(input, { rules, target: 1, hooks: [{ layer: 'conv', scale: [1, 1, 1] }] });
    expect(relL2(ones.relevance, plain.relevance)).toBeLessThan(1e-7);
    const a = await model.explain(input, { rules, target: 1, hooks: [{ layer: 'conv', scale: [1, 0, 0] }] });
    const b = await model.explain(input, { rules, target: 1, hooks: [{ layer: 'conv', scale: [0, 3, 0] }] });
    const c = await model.explain(input, { rules, target: 1, hooks: [{ layer: 'conv', scale: [0, 0, -1] }] });
    // ZPlus's relevance is linear in the relevance from above (its denominators are the forward pass's).
    const combined = Array.from(plain.relevance, (_, i) => a.relevance[i]! + b.relevance[i]! / 3 - c.relevance[i]!);
    expect(relL2(combined, plain.relevance)).toBeLessThan(tol);
    // After scaled runs, the same rules without hooks reproduce the first result exactly (nothing stale reused).
    const again = await model.explain(input, { rules, target: 1 });
    expect(Array.from(again.relevance)).toEqual(Array.from(plain.relevance));
    // Another rule below the hook after a hooked run: equal to a fresh model's result.
    const other: RuleAssignment = { preset: 'EpsilonPlus', layers: [{ layer: 'conv', rule: 'epsilon', epsilon: 0.1 }] };
    await model.explain(input, { rules: other, target: 1, hooks: [{ layer: 'act', scale: [2, 2, 2] }] });
    const afterHook = await model.explain(input, { rules: other, target: 1 });
    const fresh = await (await engine()).load(net.graph);
    const ref = await fresh.explain(input, { rules: other, target: 1 });
    expect(Array.from(afterHook.relevance)).toEqual(Array.from(ref.relevance));
    model.dispose();
    fresh.dispose();
  });

  it('negative axis, and refusals naming the problem', async () => {
    const model = await (await engine()).load(net.graph);
    const e = await model.explain(input, { rules, hooks: [{ layer: 'fc', axis: -1, scale: [1, 1, 1] }] });
    expect(e.hooks![0]!.shape).toEqual([1, 3]);
    await expect(model.explain(input, { hooks: [{ layer: 'nope' }] })).rejects.toThrow(/no layer named "nope"/);
    await expect(model.explain(input, { hooks: [{ layer: 'conv', scale: [1, 2] }] })).rejects.toThrow(/2 factors.*3 channels along axis 1 and 48 elements/);
    await expect(model.explain(input, { hooks: [{ layer: 'conv', axis: 4 }] })).rejects.toThrow(/axis 4 is not an axis/);
    await expect(model.explain(input, { hooks: [{ layer: 'conv', scale: [1, NaN, 1] }] })).rejects.toThrow(/finite/);
    await expect(model.explain(input, { hooks: [{ layer: 'conv' }, { layer: 'conv' }] })).rejects.toThrow(/more than one hook/);
    model.dispose();
  });
});

describe('hooks: WebGPU equals the CPU backend', () => {
  it('observations and scaled relevance under several rules', async () => {
    const [cpu, gpu] = await Promise.all([cpuEngine(), gpuEngine()]);
    const [mc, mg] = await Promise.all([cpu.load(net.graph), gpu.load(net.graph)]);
    const scale = [0.25, -1, 3];
    for (const r of [rules, { preset: 'EpsilonGammaBox', presetParams: { low: -2, high: 2 } }, { preset: 'gradient' }] as RuleAssignment[]) {
      const options = { rules: r, target: 1, hooks: [{ layer: 'conv', scale }, { layer: 'act' }] };
      const [a, b] = [await mc.explain(input, options), await mg.explain(input, options)];
      expect(relL2(b.relevance, a.relevance)).toBeLessThan(1e-5);
      a.hooks!.forEach((h, i) => {
        expect(relL2(b.hooks![i]!.activation, h.activation)).toBeLessThan(1e-5);
        expect(relL2(b.hooks![i]!.relevance, h.relevance)).toBeLessThan(1e-5);
      });
    }
    mc.dispose();
    mg.dispose();
  });
});
