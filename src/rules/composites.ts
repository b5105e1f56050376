/**
 * Composites: named presets that resolve to a rule per layer, as in Zennit (zennit.composites) plus Captum's
 * default. The user can then override any layer.
 */
import { isWeightedLayer, type Graph } from '../engine/graph';
import type { RuleChoice } from './assignment';
import type { LayerClass, RuleParams } from './rules';
import { layerClassOf } from '../engine/ops/registry';

export interface Composite {
  readonly id: string;
  readonly label: string;
  readonly description: string;
  /** Parameters the composite itself takes (EpsilonGammaBox's bounds). */
  readonly params: readonly string[];
  assign(graph: Graph, params: RuleParams): Map<string, RuleChoice>;
  /** The rule a layer of this kind gets (undefined: its gradient), e.g. for the generated operator table. */
  ruleFor(info: LayerInfo): RuleChoice | undefined;
}

export interface LayerInfo {
  readonly op: string;
  readonly cls: LayerClass;
  /** The first Linear/Conv layer in execution order. */
  readonly first: boolean;
  /** The first Conv layer in execution order. */
  readonly firstConv: boolean;
}

type Pick = (info: LayerInfo) => RuleChoice | undefined;

function composite(id: string, label: string, description: string, pick: Pick, params: readonly string[] = []): Composite {
  return {
    id,
    label,
    description,
    params,
    ruleFor: pick,
    assign(graph, presetParams) {
      const out = new Map<string, RuleChoice>();
      const weighted = graph.nodes.filter(isWeightedLayer);
      const firstConv = graph.nodes.find((n) => n.op === 'conv2d');
      for (const node of graph.nodes) {
        const cls = layerClassOf(node.op);
        const choice = pick({ op: node.op, cls, first: node === weighted[0], firstConv: node === firstConv });
        if (choice) {
          const params: Record<string, unknown> = { ...choice.params };
          for (const p of params.low === undefined && choice.rule === 'zbox' ? ['low', 'high'] : []) {
            if (presetParams[p] !== undefined) params[p] = presetParams[p];
          }
          out.set(node.name, { rule: choice.rule, params: params as RuleParams });
        }
      }
      return out;
    },
  };
}

const r = (rule: string, params: RuleParams = {}): RuleChoice => ({ rule, params });
/**
 * Zennit's composites: activations Pass, AvgPool and sums Norm, MaxPool through its gradient. For what Zennit has
 * no rule for: gates and scaling by a constant Pass (the signal takes all), LayerNorm and a BatchNorm that could
 * not be merged Epsilon (docs/engine.md).
 */
const zennitRest = (cls: LayerClass): RuleChoice | undefined =>
  cls === 'activation' || cls === 'gate' || cls === 'scale'
    ? r('pass')
    : cls === 'avgpool' || cls === 'add'
      ? r('norm')
      : cls === 'layernorm' || cls === 'batchnorm'
        ? r('epsilon')
        : undefined;

export const composites: readonly Composite[] = [
  composite('captum-default', 'Captum default', "Captum's default: Epsilon 1e-9 on every Linear/Conv, pool and BatchNorm; activations pass.", ({ cls }) =>
    cls === 'activation' || cls === 'gate' || cls === 'scale'
      ? r('pass')
      : cls === 'structural'
        ? undefined
        : cls === 'add'
          ? r('norm', { epsilon: 1e-9 })
          : r('captum.epsilon'),
  ),
  composite('gradient', 'Gradient (no rules)', 'No rule attached anywhere: every layer acts through its gradient.', () => undefined),
  composite('EpsilonPlus', 'EpsilonPlus', 'Conv ZPlus, Linear Epsilon.', ({ op, cls }) =>
    op === 'conv2d' ? r('zplus') : op === 'linear' ? r('epsilon') : zennitRest(cls),
  ),
  composite('EpsilonPlusFlat', 'EpsilonPlusFlat', 'First layer Flat, other Conv ZPlus, Linear Epsilon.', ({ op, cls, first }) =>
    first ? r('flat') : op === 'conv2d' ? r('zplus') : op === 'linear' ? r('epsilon') : zennitRest(cls),
  ),
  composite(
    'EpsilonGammaBox',
    'EpsilonGammaBox',
    'First Conv ZBox(low, high), other Conv Gamma(0.25), Linear Epsilon.',
    ({ op, cls, firstConv }) => (firstConv ? r('zbox') : op === 'conv2d' ? r('gamma', { gamma: 0.25 }) : op === 'linear' ? r('epsilon') : zennitRest(cls)),
    ['low', 'high'],
  ),
  composite('EpsilonAlpha2Beta1', 'EpsilonAlpha2Beta1', 'Conv AlphaBeta(2, 1), Linear Epsilon.', ({ op, cls }) =>
    op === 'conv2d' ? r('alphabeta', { alpha: 2, beta: 1 }) : op === 'linear' ? r('epsilon') : zennitRest(cls),
  ),
  composite('EpsilonAlpha2Beta1Flat', 'EpsilonAlpha2Beta1Flat', 'First layer Flat, other Conv AlphaBeta(2, 1), Linear Epsilon.', ({ op, cls, first }) =>
    first ? r('flat') : op === 'conv2d' ? r('alphabeta', { alpha: 2, beta: 1 }) : op === 'linear' ? r('epsilon') : zennitRest(cls),
  ),
];

export function findComposite(id: string): Composite | undefined {
  return composites.find((c) => c.id === id || c.id.toLowerCase() === id.toLowerCase());
}
