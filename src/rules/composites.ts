/**
 * Composites: named presets that resolve to a rule per layer, as in Zennit (zennit.composites) plus Captum's
 * default. The user can then override any layer.
 */
import { isWeightedLayer, type Graph, type GraphNode, type OpType } from '../engine/graph';
import type { RuleChoice } from './assignment';
import type { LayerClass, RuleParams } from './rules';

export interface Composite {
  readonly id: string;
  readonly label: string;
  readonly description: string;
  /** Parameters the composite itself takes (EpsilonGammaBox's bounds). */
  readonly params: readonly string[];
  /**
   * The rule of every layer the composite gives one to. `classOf` is the engine's layer class of an op
   * (layerClassOf in engine/ops/registry.ts), passed in so that rules do not load the engine's kernels.
   */
  assign(graph: Graph, params: RuleParams, classOf: (op: OpType) => LayerClass): Map<string, RuleChoice>;
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
  /**
   * A Linear whose output reaches a product of two computed values (`matmul`), or whose input comes from one, through
   * reshapes, transposes, slices and scalings only: an attention in- or out-projection, which nn.MultiheadAttention
   * applies as a function of its parameters (F.linear) rather than as an nn.Linear module.
   */
  readonly attentionProjection?: boolean;
}

type Pick = (info: LayerInfo) => RuleChoice | undefined;

function composite(id: string, label: string, description: string, pick: Pick, params: readonly string[] = []): Composite {
  return {
    id,
    label,
    description,
    params,
    ruleFor: pick,
    assign(graph, presetParams, classOf) {
      const out = new Map<string, RuleChoice>();
      const weighted = graph.nodes.filter(isWeightedLayer);
      const firstConv = graph.nodes.find((n) => n.op === 'conv2d');
      const projections = attentionProjections(graph, classOf);
      for (const node of graph.nodes) {
        const cls = classOf(node.op);
        const choice = pick({ op: node.op, cls, first: node === weighted[0], firstConv: node === firstConv, attentionProjection: projections.has(node.name) });
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

/**
 * The Linear layers of attention: those whose output reaches a `matmul` (a product of two computed values,
 * attention's Q K^T or A V) and those whose input comes from one, through routing layers (reshape, transpose,
 * slice: class structural, not concat) and scalings (class scale) only: nn.MultiheadAttention's in-projection
 * (queries, keys, values) and its out-projection.
 */
export function attentionProjections(graph: Graph, classOf: (op: OpType) => LayerClass): Set<string> {
  const readers = new Map<string, GraphNode[]>();
  const producer = new Map<string, GraphNode>();
  for (const node of graph.nodes) {
    producer.set(node.output, node);
    for (const v of node.inputs) readers.set(v, [...(readers.get(v) ?? []), node]);
  }
  const routes = (n: GraphNode): boolean => {
    const cls = classOf(n.op);
    return (cls === 'structural' || cls === 'scale') && n.op !== 'concat';
  };
  const reachesMatmul = (value: string, depth: number): boolean =>
    depth < 64 && (readers.get(value) ?? []).some((n) => n.op === 'matmul' || (routes(n) && reachesMatmul(n.output, depth + 1)));
  const fromMatmul = (value: string, depth: number): boolean => {
    const n = producer.get(value);
    return depth < 64 && n !== undefined && (n.op === 'matmul' || (routes(n) && fromMatmul(n.inputs[0]!, depth + 1)));
  };
  return new Set(graph.nodes.filter((n) => n.op === 'linear' && (reachesMatmul(n.output, 0) || fromMatmul(n.inputs[0]!, 0))).map((n) => n.name));
}

const r = (rule: string, params: RuleParams = {}): RuleChoice => ({ rule, params });

/**
 * CP-LRP (Ali et al. 2022, "XAI for Transformers: Better Explanations through Conservative Propagation"), as LXT
 * applies it to torchvision's ViT with Zennit rules on Linear/Conv2d: attention weights held constant (the epsilon
 * rule of `matmul` gives the values all relevance), LayerNorm's std held constant (its epsilon rule), GELU and other
 * activations the identity (Pass), residual sums and constants (position embedding) split in proportion (Norm),
 * all of these exact (LXT's gradient x input: no stabiliser, epsilon 0). nn.MultiheadAttention applies its in- and
 * out-projections as functions of its parameters (F.linear), not as nn.Linear modules, so Zennit's rules never
 * reach them: they get LRP-0 (epsilon 0, the bias absorbing its share). Every other Linear and Conv2d gets the
 * case's rule (`weighted`).
 */
const cpLrp =
  (weighted: (info: LayerInfo) => RuleChoice): Pick =>
  (info) => {
    const { op, cls } = info;
    if (op === 'linear' && info.attentionProjection) return r('epsilon', { epsilon: 0 });
    if (op === 'linear' || op === 'conv2d') return weighted(info);
    if (cls === 'activation' || cls === 'softmax' || cls === 'gate' || cls === 'scale') return r('pass');
    if (cls === 'add') return r('norm', { epsilon: 0 });
    if (cls === 'layernorm' || cls === 'matmul') return r('epsilon', { epsilon: 0 });
    if (cls === 'avgpool' || cls === 'batchnorm') return r('epsilon');
    return undefined;
  };
/**
 * AttnLRP (Achtibat et al. 2024, "AttnLRP: Attention-Aware Layer-Wise Relevance Propagation for Transformers"):
 * every Linear and Conv2d (attention projections included) the epsilon rule (1e-6); the products Q K^T and A V the
 * uniform rule (each operand half, exact: epsilon 0); a Softmax inside the graph the softmax rule (its epsilon rule
 * at 0: R_in = x (R - s sum R)); LayerNorm's std held constant (its epsilon rule at 0); GELU and scalings the
 * identity (Pass); residual and constant additions split in proportion (Norm at 0). docs/engine.md, "AttnLRP".
 */
const attnLrp: Pick = ({ op, cls }) => {
  if (op === 'linear' || op === 'conv2d') return r('epsilon', { epsilon: 1e-6 });
  if (cls === 'matmul') return r('uniform', { epsilon: 0 });
  if (cls === 'softmax' || cls === 'layernorm') return r('epsilon', { epsilon: 0 });
  if (cls === 'activation' || cls === 'gate' || cls === 'scale') return r('pass');
  if (cls === 'add') return r('norm', { epsilon: 0 });
  if (cls === 'avgpool' || cls === 'batchnorm') return r('epsilon');
  return undefined;
};

/**
 * Zennit's composites: activations Pass, AvgPool and sums Norm, MaxPool through its gradient. For what Zennit has
 * no rule for: gates and scaling by a constant Pass (the signal takes all), LayerNorm and a BatchNorm that could
 * not be merged Epsilon, attention's products Epsilon (the attention weights held constant, as CP-LRP does: without
 * it their gradient multiplies relevance by the other operand and a 12-block ViT overflows float32) (docs/engine.md).
 */
const zennitRest = (cls: LayerClass): RuleChoice | undefined =>
  cls === 'activation' || cls === 'softmax' || cls === 'gate' || cls === 'scale'
    ? r('pass')
    : cls === 'avgpool' || cls === 'add'
      ? r('norm')
      : cls === 'layernorm' || cls === 'batchnorm' || cls === 'matmul'
        ? r('epsilon')
        : undefined;

export const composites: readonly Composite[] = [
  composite('captum-default', 'Captum default', "Captum's default: Epsilon 1e-9 on every Linear/Conv, pool and BatchNorm; activations pass.", ({ cls }) =>
    cls === 'activation' || cls === 'softmax' || cls === 'gate' || cls === 'scale'
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
  composite(
    'cp-gamma',
    'CP-LRP Gamma',
    "CP-LRP for transformers (LXT's ViT example): Conv Gamma(0.25), Linear Gamma(0.05), attention projections LRP-0, attention weights constant.",
    cpLrp(({ op }) => r('gamma', { gamma: op === 'conv2d' ? 0.25 : 0.05 })),
  ),
  composite(
    'cp-epsilon',
    'CP-LRP Epsilon',
    'CP-LRP for transformers: Linear and Conv Epsilon(1e-6), attention projections LRP-0, attention weights constant.',
    cpLrp(() => r('epsilon', { epsilon: 1e-6 })),
  ),
  composite(
    'attnlrp',
    'AttnLRP',
    'AttnLRP for transformers: Linear and Conv Epsilon(1e-6), Q K^T and A V the uniform rule, Softmax its Taylor rule x (R - s sum R), LayerNorm std constant, GELU identity.',
    attnLrp,
  ),
];

export function findComposite(id: string): Composite | undefined {
  return composites.find((c) => c.id === id || c.id.toLowerCase() === id.toLowerCase());
}
