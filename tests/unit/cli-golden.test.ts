// src/cli/golden-cases.ts compareLayers: the per-layer relevance as a pass criterion of `lrp-lens golden`.
import { describe, expect, it } from 'vitest';
import { compareLayers } from '../../src/cli/golden-cases';

const f64 = (...v: number[]) => Float64Array.from(v);
const f32 = (...v: number[]) => Float32Array.from(v);
const TOL = 1e-4;

// x -> a (Linear) -> b, c (two Linear layers reading a's output) -> d (Add of both) ; e reads d.
const graph = {
  nodes: [
    { name: 'a', inputs: ['x'] },
    { name: 'b', inputs: ['a:out'] },
    { name: 'c', inputs: ['a:out'] },
    { name: 'd', inputs: ['b:out', 'c:out'] },
    { name: 'e', inputs: ['d:out'] },
  ],
};

describe('compareLayers', () => {
  it('compares a layer whose input feeds it alone with its reference as it is', () => {
    const checks = compareLayers([{ layer: 'e', data: f32(1, 2) }], new Map([['e', f64(1, 2.5)]]), graph, TOL);
    expect(checks).toEqual([{ reference: 'e', layer: 'e', err: expect.closeTo(0.5 / Math.hypot(1, 2.5), 12), compared: true }]);
  });

  it('a shared input: the reference may be the whole tensor’s (Zennit hooks) ...', () => {
    const whole = f32(3, 4);
    const checks = compareLayers(
      [
        { layer: 'b', data: whole },
        { layer: 'c', data: whole },
      ],
      new Map([
        ['b', f64(3, 4)],
        ['c', f64(3, 4)],
      ]),
      graph,
      TOL,
    );
    expect(checks.map((c) => [c.layer, c.err, c.compared])).toEqual([
      ['b', 0, true],
      ['c', 0, true],
    ]);
    expect(checks[0]!.note).toMatch(/input shared with c: the reference is the whole tensor's/);
  });

  it('... or each layer’s share, compared through the sum of every consumer’s reference', () => {
    const whole = f32(3, 4);
    const checks = compareLayers(
      [
        { layer: 'b', data: whole },
        { layer: 'c', data: whole },
      ],
      new Map([
        ['b', f64(1, 1)],
        ['c', f64(2, 3)],
      ]),
      graph,
      TOL,
    );
    expect(checks.map((c) => [c.layer, c.err, c.compared])).toEqual([
      ['b', 0, true],
      ['c', 0, true],
    ]);
    expect(checks[0]!.note).toMatch(/compared with the sum of their references/);
    // A real mismatch fails under both readings.
    const wrong = compareLayers([{ layer: 'b', data: f32(9, 9) }, { layer: 'c', data: f32(9, 9) }], new Map([['b', f64(1, 1)], ['c', f64(2, 3)]]), graph, TOL);
    expect(wrong.every((c) => c.compared && c.err > TOL)).toBe(true);
  });

  it('a shared input whose other consumer has no reference, and the reference is not the whole tensor’s: not compared, said so', () => {
    const g = { nodes: [{ name: 'conv', inputs: ['x'] }, { name: 'add', inputs: ['x', 'conv:out'] }] };
    const [check] = compareLayers([{ layer: 'conv', data: f32(3, 4) }], new Map([['conv', f64(1, 1)]]), g, TOL);
    expect(check).toMatchObject({ layer: 'conv', compared: false });
    expect(check!.note).toMatch(/not compared: its input also feeds add, which has no reference, and the reference is not the whole tensor's relevance \(relL2 2\.55e\+00 > 0\.25\)/);
    // Close to the whole tensor's relevance but beyond the tolerance: the same quantity with an error, which fails.
    const [near] = compareLayers([{ layer: 'conv', data: f32(3, 4.1) }], new Map([['conv', f64(3, 4)]]), g, TOL);
    expect(near).toMatchObject({ layer: 'conv', compared: true, err: expect.closeTo(0.02, 6) });
    expect(near!.note).toMatch(/compared as the whole tensor's relevance/);
  });

  it('reports sizes that differ and names that match no layer', () => {
    const checks = compareLayers([{ layer: 'e', data: f32(1, 2, 3) }], new Map([['e', f64(1, 2)], ['features.9', f64(1)]]), graph, TOL);
    expect(checks).toContainEqual({ reference: 'features.9', err: NaN, compared: false, note: 'no layer of the model matches this name' });
    expect(checks).toContainEqual({ reference: 'e', layer: 'e', err: NaN, compared: true, note: '3 values, the reference 2' });
  });

  it('maps PyTorch module names to ONNX scoped node names', () => {
    const g = { nodes: [{ name: '/layer1/conv1/Conv', inputs: ['x'] }] };
    const [check] = compareLayers([{ layer: '/layer1/conv1/Conv', data: f32(1) }], new Map([['layer1.conv1', f64(1)]]), g, TOL);
    expect(check).toMatchObject({ reference: 'layer1.conv1', layer: '/layer1/conv1/Conv', err: 0, compared: true });
  });
});
