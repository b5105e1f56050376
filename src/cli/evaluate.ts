/**
 * `lrp-lens evaluate`: pixel flipping for one explanation (src/evaluation/pixel-flipping.ts). Explains the target
 * class as `explain` does, then removes the input's patches most relevant first and in a random order, re-runs the
 * model in batches, and reports the target logit against the fraction removed and the AOPC of both orders.
 * Also the model setup shared with the batch run (src/cli/batch.ts).
 */
import type { BackendKind, Explanation } from '../engine/api';
import type { LayerRuleEntry } from '../rules/assignment';
import { pixelFlipping, type PerturbationCurve } from '../evaluation/pixel-flipping';
import type { EvaluateCommand, EvaluationOptions, ExplainCommand } from './args';
import { ExplainError, explainOptions, openSession, readInput, softmax, type ExplainReport, type Session } from './explain';

export interface EvaluationResult {
  readonly top: { readonly class: number; readonly label: string; readonly probability: number };
  readonly explained: ExplainReport['explained'];
  readonly relevance: Float32Array;
  readonly inputShape: readonly number[];
  readonly relevanceSum: number;
  readonly pixelFlipping?: { readonly regions: number; readonly relevanceOrder: PerturbationCurve; readonly randomOrder: PerturbationCurve };
  readonly explainMs: number;
  readonly evaluateMs: number;
}

/** Explains one input (the session's target or the top class) and, given options, runs pixel flipping on it. */
/** What `evaluate` reports for an explanation already made (the folder mode explains its photos in batches). */
export async function evaluateExplained(s: Session, x: Float32Array, e: Explanation, evaluation: EvaluationOptions | undefined, explainMs: number): Promise<EvaluationResult> {
  const probs = softmax(e.logits);
  let best = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i]! > probs[best]!) best = i;
  const label = (i: number): string => s.card.classes[i] ?? `class ${i}`;
  let relevanceSum = 0;
  for (const v of e.relevance) relevanceSum += v;
  const t2 = performance.now();
  const pf = evaluation
    ? await pixelFlipping(s.model, x, e.relevance, {
        target: e.target,
        patch: evaluation.patch,
        baseline: evaluation.baseline,
        steps: evaluation.steps,
        // Batches of up to 8, but no larger than a curve: a short curve does not pay for padding.
        batch: Math.min(8, evaluation.steps + 1),
      }).catch((err: unknown) => {
        throw err instanceof RangeError ? new ExplainError(`pixel flipping: ${err.message}`) : err;
      })
    : undefined;
  return {
    top: { class: best, label: label(best), probability: probs[best]! },
    explained: { class: e.target, label: label(e.target), logit: e.logits[e.target]!, probability: probs[e.target]! },
    relevance: e.relevance,
    inputShape: e.inputShape,
    relevanceSum,
    ...(pf ? { pixelFlipping: { regions: pf.regions, relevanceOrder: pf.relevanceOrder, randomOrder: pf.randomOrder } } : {}),
    explainMs,
    evaluateMs: pf ? performance.now() - t2 : 0,
  };
}

export async function explainAndEvaluate(s: Session, x: Float32Array, evaluation: EvaluationOptions | undefined): Promise<EvaluationResult> {
  const t1 = performance.now();
  const e = await s.model.explain(x, explainOptions({ target: s.cmd.target, contrast: s.cmd.contrast }, s.assignment));
  return evaluateExplained(s, x, e, evaluation, performance.now() - t1);
}

export interface EvaluateReport {
  readonly model: ExplainReport['model'];
  readonly backend: BackendKind;
  readonly input: ExplainReport['input'];
  readonly explained: ExplainReport['explained'];
  /** Explained against this class (--contrast). */
  readonly contrastTarget?: number;
  readonly composite: string;
  readonly rules: readonly LayerRuleEntry[];
  readonly relevanceSum: number;
  /** The score is the target's logit; a removed patch takes the baseline's values. */
  readonly evaluation: EvaluationOptions & { readonly regions: number; readonly score: 'logit' };
  readonly relevanceOrder: PerturbationCurve;
  readonly randomOrder: PerturbationCurve;
  readonly timings: { readonly loadMs: number; readonly explainMs: number; readonly evaluateMs: number };
}

export async function runEvaluate(cmd: EvaluateCommand, log: (line: string) => void = () => undefined): Promise<EvaluateReport> {
  const explainCmd: ExplainCommand = { ...cmd, kind: 'explain', colormap: 'bwr', clip: null, top: 5 };
  const s = await openSession(explainCmd, log);
  try {
    const { x, info } = await readInput(explainCmd, s.graph, s.card);
    if (info.shape.length !== 4) throw new ExplainError('pixel flipping needs an image model (input [1, C, H, W])');
    const r = await explainAndEvaluate(s, x, cmd.evaluation);
    const pf = r.pixelFlipping!;
    return {
      model: s.modelInfo,
      backend: s.backend,
      input: info,
      explained: r.explained,
      ...(cmd.contrast !== undefined ? { contrastTarget: cmd.contrast } : {}),
      composite: s.composite,
      rules: s.layers,
      relevanceSum: r.relevanceSum,
      evaluation: { ...cmd.evaluation, regions: pf.regions, score: 'logit' },
      relevanceOrder: pf.relevanceOrder,
      randomOrder: pf.randomOrder,
      timings: { loadMs: s.loadMs, explainMs: r.explainMs, evaluateMs: r.evaluateMs },
    };
  } finally {
    s.dispose();
  }
}

/** The report as the lines `evaluate` prints. */
export function formatEvaluation(r: EvaluateReport): string[] {
  const e = r.evaluation;
  const rules = r.rules.length > 0 ? ` + ${r.rules.map((l) => `${l.layer}=${l.rule}`).join(', ')}` : '';
  const lines = [
    `Model: ${r.model.name} (${r.model.file}; backend ${r.backend})`,
    `Input: ${r.input.file} ([${r.input.shape.join(', ')}])`,
    `Explained: class ${r.explained.class} "${r.explained.label}" (logit ${r.explained.logit.toFixed(4)}) with ${r.composite}${rules}`,
    ...(r.contrastTarget !== undefined ? [`Contrast: minus the relevance of class ${r.contrastTarget} (the score stays the explained class's logit)`] : []),
    `Pixel flipping: ${e.regions} patches of ${e.patch}x${e.patch}, baseline ${e.baseline}, ${e.steps} steps; score = target logit`,
    `AOPC relevance order: ${r.relevanceOrder.aopc.toFixed(4)}`,
    `AOPC random order:    ${r.randomOrder.aopc.toFixed(4)}`,
    '  removed   relevance      random',
  ];
  r.relevanceOrder.fractions.forEach((f, k) => {
    lines.push(`  ${(100 * f).toFixed(1).padStart(6)}%  ${r.relevanceOrder.scores[k]!.toFixed(4).padStart(10)}  ${r.randomOrder.scores[k]!.toFixed(4).padStart(10)}`);
  });
  return lines;
}
