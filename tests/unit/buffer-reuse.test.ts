/**
 * Buffer reuse by lifetime (src/engine/buffer-reuse.ts): programs with shared temporaries compute exactly what the
 * same programs without sharing compute (CPU backend, bit for bit, every layer's relevance included), on a VGG and
 * a ResNet (residual branches) under every preset, and need less memory.
 */
import { describe, expect, it } from 'vitest';
import { compileProgram } from '../../src/engine/compile';
import { CpuProgramRunner } from '../../src/engine/cpu/cpu-backend';
import { stepRefs } from '../../src/engine/buffer-reuse';
import type { Program } from '../../src/engine/program';
import { resolveAssignment } from '../../src/engine/rule-assignment';
import { composites } from '../../src/rules/composites';
import { benchInput, resnet50, TINY, vgg16 } from '../../src/bench/models';

const bytes = (p: Program) => p.tensors.reduce((s, t) => s + t.size * 4, 0);

async function run(program: Program, input: Float32Array, target: number) {
  const runner = new CpuProgramRunner(program);
  return runner.run({ input, target, contrastTarget: -1, layerRelevance: true });
}

describe('buffer reuse by lifetime', () => {
  const models = { 'vgg16-tiny': vgg16(TINY), 'resnet50-tiny': resnet50(TINY) };
  for (const [name, graph] of Object.entries(models)) {
    for (const preset of composites.map((c) => c.id)) {
      it(`${name}, ${preset}: the same relevance at every layer, in less memory`, async () => {
        const rules = resolveAssignment(graph, { preset });
        const shared = compileProgram(graph, rules);
        const plain = compileProgram(graph, rules, { reuseBuffers: false });
        expect(shared.relevanceSteps.length).toBe(plain.relevanceSteps.length);
        expect(shared.forwardTensors).toBe(plain.forwardTensors);
        const temporaries = plain.tensors.length - shared.tensors.length;
        if (preset !== 'gradient' && preset !== 'captum-default') expect(temporaries).toBeGreaterThan(10);
        if (temporaries > 0) expect(bytes(shared)).toBeLessThan(bytes(plain));
        const input = benchInput(graph.input.shape, 3);
        for (const target of [-1, 7]) {
          const [a, b] = [await run(shared, input, target), await run(plain, input, target)];
          expect(a.target).toBe(b.target);
          expect(a.relevance).toEqual(b.relevance);
          expect(a.layers).toEqual(b.layers);
          expect(a.logits).toEqual(b.logits);
        }
      });
    }
  }

  it('tensors that share storage have disjoint lifetimes, and no step binds one storage as two tensors', () => {
    for (const preset of ['EpsilonGammaBox', 'EpsilonAlpha2Beta1Flat']) {
      const graph = resnet50(TINY);
      const rules = resolveAssignment(graph, { preset });
      const shared = compileProgram(graph, rules);
      const plain = compileProgram(graph, rules, { reuseBuffers: false });
      // Where each tensor of the plain program went, from the steps side by side; and its lifetime.
      const storage = new Map<number, number>();
      const life = new Map<number, [number, number]>();
      plain.relevanceSteps.forEach((step, i) => {
        const [p, q] = [stepRefs(step), stepRefs(shared.relevanceSteps[i]!)];
        expect(q.map((r) => [r.size, r.shape])).toEqual(p.map((r) => [r.size, r.shape]));
        p.forEach((r, k) => {
          const previous = storage.get(r.id);
          if (previous !== undefined) expect(q[k]!.id).toBe(previous);
          storage.set(r.id, q[k]!.id);
          const l = life.get(r.id);
          life.set(r.id, l ? [l[0], i] : [i, i]);
          // One step never sees two different tensors in one storage (WebGPU forbids a writable binding aliased).
          p.forEach((o, m) => {
            if (o.id !== r.id) expect(q[m]!.id, `${step.kernel} at step ${i}`).not.toBe(q[k]!.id);
          });
        });
      });
      const byStorage = new Map<number, number[]>();
      for (const [id, to] of storage) byStorage.set(to, [...(byStorage.get(to) ?? []), id]);
      let sharedCount = 0;
      for (const members of byStorage.values()) {
        for (const a of members) {
          for (const b of members) {
            if (a >= b) continue;
            sharedCount++;
            const [x, y] = [life.get(a)!, life.get(b)!];
            expect(x[1] < y[0] || y[1] < x[0], `tensors ${a} and ${b}`).toBe(true);
          }
        }
        const largest = Math.max(...members.map((m) => plain.tensors[m]!.size));
        expect(shared.tensors[storage.get(members[0]!)!]!.size).toBe(largest);
      }
      expect(sharedCount).toBeGreaterThan(50);
    }
  });
});
