/**
 * Small networks with random weights for the rule, custom-rule, caching and re-explanation tests, and the check that
 * two explanations are the same bit for bit.
 */
import { expect } from 'vitest';
import type { Graph, GraphNode } from '../../../src/engine/graph';
import type { Explanation } from '../../../src/engine/index';
import { randomArray, rng } from './engines';

/** A graph node whose output value is named as the node. */
export const node = (name: string, op: GraphNode['op'], inputs: string[], attrs: GraphNode['attrs'] = {}, params: GraphNode['params'] = {}): GraphNode => ({
  name,
  op,
  inputs,
  output: name,
  attrs,
  params,
});

/**
 * conv1 -> relu -> conv2 (+ the residual) -> avg pool -> flatten -> fc, every layer with a bias: every rule of
 * EpsilonPlusFlat, EpsilonPlus, Gamma, ZPlus and Epsilon applies.
 */
export function residualGraph(seed: number, name = 'residual'): Graph {
  const random = rng(seed);
  const conv = (layer: string, input: string, output: string, c: number, o: number): GraphNode => ({
    name: layer,
    op: 'conv2d',
    inputs: [input],
    output,
    attrs: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
    params: { weight: { shape: [o, c, 3, 3], data: randomArray(o * c * 9, random) }, bias: { shape: [o], data: randomArray(o, random, 0.3) } },
  });
  return {
    name,
    input: { name: 'x', shape: [1, 3, 6, 6] },
    output: 'logits',
    nodes: [
      conv('conv1', 'x', 'z1', 3, 4),
      { name: 'relu1', op: 'relu', inputs: ['z1'], output: 'a1', attrs: {}, params: {} },
      conv('conv2', 'a1', 'z2', 4, 4),
      { name: 'add', op: 'add', inputs: ['z2', 'a1'], output: 's', attrs: {}, params: {} },
      { name: 'pool', op: 'avgpool2d', inputs: ['s'], output: 'p', attrs: { kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] }, params: {} },
      { name: 'flatten', op: 'reshape', inputs: ['p'], output: 'f', attrs: { shape: [1, 36] }, params: {} },
      {
        name: 'fc',
        op: 'linear',
        inputs: ['f'],
        output: 'logits',
        attrs: {},
        params: { weight: { shape: [5, 36], data: randomArray(180, random) }, bias: { shape: [5], data: randomArray(5, random, 0.3) } },
      },
    ],
  };
}

/** `got` equals `fresh` bit for bit: target, input relevance, every layer's relevance and every hook's. */
export function expectSameExplanation(got: Explanation, fresh: Explanation, what: string): void {
  expect(got.target, what).toBe(fresh.target);
  expect(Array.from(got.relevance), what).toEqual(Array.from(fresh.relevance));
  expect(got.layers.length, what).toBe(fresh.layers.length);
  got.layers.forEach((l, k) => expect(Array.from(l.data), `${what}: ${l.layer}`).toEqual(Array.from(fresh.layers[k]!.data)));
  (got.hooks ?? []).forEach((h, k) => expect(Array.from(h.relevance), `${what}: hook ${h.layer}`).toEqual(Array.from(fresh.hooks![k]!.relevance)));
}

/** conv -> relu -> avgpool -> flatten -> linear, with random weights and biases. */
export function smallNet(seed: number): Graph {
  const random = rng(seed);
  const [c, o, h, w, classes] = [3, 4, 6, 6, 5];
  const features = o * 3 * 3;
  const nodes: GraphNode[] = [
    {
      name: 'conv',
      op: 'conv2d',
      inputs: ['x'],
      output: 'z1',
      attrs: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 },
      params: { weight: { shape: [o, c, 3, 3], data: randomArray(o * c * 9, random) }, bias: { shape: [o], data: randomArray(o, random, 0.3) } },
    },
    { name: 'relu', op: 'relu', inputs: ['z1'], output: 'a1', attrs: {}, params: {} },
    { name: 'pool', op: 'avgpool2d', inputs: ['a1'], output: 'p1', attrs: { kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0] }, params: {} },
    { name: 'flatten', op: 'reshape', inputs: ['p1'], output: 'f', attrs: { shape: [1, features] }, params: {} },
    {
      name: 'fc',
      op: 'linear',
      inputs: ['f'],
      output: 'logits',
      attrs: {},
      params: { weight: { shape: [classes, features], data: randomArray(classes * features, random) }, bias: { shape: [classes], data: randomArray(classes, random, 0.2) } },
    },
  ];
  return { name: 'small', input: { name: 'x', shape: [1, c, h, w] }, output: 'logits', nodes };
}
