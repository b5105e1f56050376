/**
 * Command-line parsing for lrp-lens (pure; src/cli/main.ts runs it), on node:util's parseArgs.
 *
 * Each command has one option table (EXPLAIN_OPTIONS, EVALUATE_OPTIONS, GOLDEN_OPTIONS): name, type, default and
 * help text. The tables drive the parser (which options exist, which take a value, which values are allowed) and
 * the help text (usage()), so the two cannot drift apart.
 */
import { parseArgs as parseArgv } from 'node:util';
import type { BackendKind } from '../engine/api';
import { colormaps, type ColormapId } from '../models/colormap';
import { composites, findComposite } from '../rules/composites';
import type { ParamValue } from '../rules/rules';

/** One --rule override: LAYER=RULE[:k=v,...]. */
export interface RuleOverride {
  readonly layer: string;
  readonly rule: string;
  readonly params: Readonly<Record<string, ParamValue>>;
}

export type BatchNormChoice = 'keep' | 'merge';

export interface ExplainCommand {
  readonly kind: 'explain';
  readonly model: string;
  readonly modelData?: string;
  readonly card?: string;
  readonly image?: string;
  readonly input?: string;
  readonly target?: number;
  /** Explain `target` against this class (the relevance of the target minus that of this class). */
  readonly contrast?: number;
  readonly composite?: string;
  readonly rules: readonly RuleOverride[];
  /** --rule-def: files of custom rule definitions (docs/engine.md, "Custom rules"), read by explain.ts. */
  readonly ruleDefFiles?: readonly string[];
  /** BatchNorm kept as layers of their own or merged into the layer before; undefined: the composite's choice. */
  readonly batchnorm?: BatchNormChoice;
  readonly out?: string;
  readonly relevanceOut?: string;
  /** The heatmap's colormap (--out). */
  readonly colormap: ColormapId;
  /** Percentile of |relevance| that saturates the heatmap's scale (--out); null: the largest |relevance|. */
  readonly clip: number | null;
  /** Write the relevance arriving at this layer's input to `layerOut`. */
  readonly layer?: string;
  readonly layerOut?: string;
  readonly top: number;
  readonly json: boolean;
  /** 'auto': WebGPU on a hardware adapter, else the CPU backend. */
  readonly backend: BackendKind | 'auto';
  readonly verbose: boolean;
  /** Batch: explain every image in this folder (then `out` is a folder). */
  readonly images?: string;
  readonly evaluation?: EvaluationOptions;
  /** --method: the attribution method; undefined: LRP (the composite and the --rule overrides). */
  readonly method?: MethodName;
  /** The gradient methods' options (--samples, --noise-level for SmoothGrad; --steps, --baseline for IG). */
  readonly methodOptions?: MethodOptions;
  /** --concept LAYER:CHANNEL[,CHANNEL...]: the input relevance conditioned on these channels of a layer (CRP). */
  readonly concept?: ConceptChoice;
}

/** --method: LRP, or a gradient baseline of src/engine/attribution-methods.ts. */
export const METHODS = ['lrp', 'gradient', 'gradient-x-input', 'smoothgrad', 'integrated-gradients'] as const;
export type MethodName = (typeof METHODS)[number];
/** --integration: Integrated Gradients' points (src/engine/attribution-methods.ts IntegrationRule). */
export const INTEGRATION_RULES = ['midpoint', 'trapezoid'] as const;
type IntegrationRule = (typeof INTEGRATION_RULES)[number];

export interface MethodOptions {
  /** SmoothGrad: noisy samples. */
  readonly samples?: number;
  /** SmoothGrad: the noise's standard deviation as a fraction of the input's range. */
  readonly noiseLevel?: number;
  /** SmoothGrad: the noise's seed. */
  readonly seed?: number;
  /** Integrated Gradients: the Riemann sum's points. */
  readonly integration?: IntegrationRule;
  /** Integrated Gradients: points of the Riemann sum. */
  readonly steps?: number;
  /** Integrated Gradients: 'zeros' or a .npy file of the input's shape. */
  readonly baseline?: string;
}

export interface ConceptChoice {
  readonly layer: string;
  readonly channels: readonly number[];
}

export const BASELINES = ['blur', 'mean', 'noise', 'zero'] as const;
export type BaselineName = (typeof BASELINES)[number];

export interface EvaluationOptions {
  readonly patch: number;
  readonly baseline: BaselineName;
  readonly steps: number;
}

export const DEFAULT_EVALUATION: EvaluationOptions = { patch: 8, baseline: 'blur', steps: 16 };

export interface EvaluateCommand
  extends Omit<
    ExplainCommand,
    'kind' | 'evaluation' | 'images' | 'out' | 'relevanceOut' | 'layer' | 'layerOut' | 'colormap' | 'clip' | 'top' | 'method' | 'methodOptions' | 'concept'
  > {
  readonly kind: 'evaluate';
  readonly evaluation: EvaluationOptions;
}

/** `explain --link`: a share link's explanation (src/cli/link.ts). */
export interface ExplainLinkCommand {
  readonly kind: 'explain-link';
  /** The link (a URL with its fragment, or the fragment), or "@path" of a file holding it. */
  readonly link: string;
  /** A user's model (links made with a model of the sender's own). */
  readonly model?: string;
  readonly modelData?: string;
  readonly card?: string;
  readonly out?: string;
  readonly relevanceOut?: string;
  readonly layer?: string;
  readonly layerOut?: string;
  readonly top: number;
  readonly json: boolean;
  readonly backend: BackendKind | 'auto';
  readonly verbose: boolean;
}

export interface GoldenCommand {
  readonly kind: 'golden';
  readonly manifest: string;
  readonly backend: BackendKind;
  readonly reference?: 'captum' | 'zennit';
  readonly filter?: string;
  readonly verbose: boolean;
}

export type CommandName = 'explain' | 'evaluate' | 'golden';

export type Command = { readonly kind: 'help'; readonly command?: CommandName } | ExplainCommand | ExplainLinkCommand | EvaluateCommand | GoldenCommand;

export class UsageError extends Error {
  override name = 'UsageError';
}

// ---------------------------------------------------------------------------------------------------------------
// The option tables

export interface OptionSpec {
  /** The long name, without "--". */
  readonly name: string;
  readonly short?: string;
  /** 'boolean': a switch; 'string': takes a value (--name value or --name=value). */
  readonly type: 'boolean' | 'string';
  /** May be given more than once (the values are collected in order). */
  readonly multiple?: boolean;
  /** The value's placeholder in the help, e.g. "<file>" (default: the choices, "<a|b>"). */
  readonly value?: string;
  /** The values allowed. */
  readonly choices?: readonly string[];
  /** Matches a value against the choices: the canonical choice, or undefined. Default: exact match. */
  readonly match?: (value: string) => string | undefined;
  /** The default as the help shows it. */
  readonly default?: string;
  readonly help: string;
  /** Checks and converts a value (throws UsageError naming the option). Default: the string itself. */
  readonly parse?: (value: string, flag: string) => unknown;
  /** explain: also accepted with --link. */
  readonly withLink?: boolean;
}

/** "a, b or c". */
export function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function wholeNumber(min: number, max: number, what = 'a whole number'): (v: string, flag: string) => number {
  return (v, flag) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be ${what} from ${min} to ${max}, got "${v}"`);
    return n;
  };
}

function classIndex(v: string, flag: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new UsageError(`${flag} must be a class index (0, 1, ...), got "${v}"`);
  return n;
}

/** The app's clip-percentile box takes 50 to 99.99 (app/components/HeatmapView.tsx). */
export const CLIP_PERCENTILE_RANGE = [50, 99.99] as const;

function percentile(v: string, flag: string): number {
  const [min, max] = CLIP_PERCENTILE_RANGE;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} must be a percentile from ${min} to ${max}, got "${v}"`);
  return n;
}

const BACKENDS: readonly BackendKind[] = ['webgpu', 'cpu', 'cpu-fast'];
const REFERENCES = ['captum', 'zennit'] as const;
export const DEFAULT_COMPOSITE = 'EpsilonPlusFlat';

const opt = {
  link: {
    name: 'link',
    type: 'string',
    value: '<url | @file>',
    withLink: true,
    help:
      "reproduce a share link's explanation (docs/share-links.md): its model (built-in models from public/models, " +
      'with their card.json), image (a sample from public/samples, or the pixels in the link), target, contrast ' +
      'class, rules and BatchNorm handling; --out draws the heatmap with the link\'s colormap and clip, as the page ' +
      "does. @file reads the link from a file. A link made with a model of its sender's own needs --model (and " +
      "--model-data): the files' SHA-256 is compared with the link's, and a different file gives a warning.",
  },
  model: { name: 'model', type: 'string', value: '<file>', withLink: true, help: 'model.json (TF.js layers model) or .onnx' },
  modelData: {
    name: 'model-data',
    type: 'string',
    value: '<file>',
    withLink: true,
    help: "the ONNX model's external weights (default: the file it names, beside it)",
  },
  card: { name: 'card', type: 'string', value: '<card.json>', withLink: true, help: 'model card to use instead of the one beside the model' },
  image: { name: 'image', type: 'string', value: '<png|jpg>', help: 'photo, resized and normalised as the model card says' },
  input: { name: 'input', type: 'string', value: '<x.npy>', help: "the model input itself (float, the model's input shape, NCHW)" },
  images: {
    name: 'images',
    type: 'string',
    value: '<folder>',
    help: 'explain every PNG/JPEG in the folder: writes <name>-heatmap.png for each and results.csv into the --out folder',
  },
  target: { name: 'target', type: 'string', value: '<N>', default: 'the top class', help: 'class to explain', parse: classIndex },
  contrast: {
    name: 'contrast',
    type: 'string',
    value: '<N>',
    help: "explain the target against this class: the target's relevance minus this class's (the app's contrast)",
    parse: classIndex,
  },
  composite: {
    name: 'composite',
    type: 'string',
    value: '<name>',
    choices: composites.map((c) => c.id),
    match: (v: string) => findComposite(v)?.id,
    default: DEFAULT_COMPOSITE,
    help: 'rule preset (any case)',
  },
  rule: {
    name: 'rule',
    type: 'string',
    multiple: true,
    value: '<LAYER=RULE[:k=v,...]>',
    help:
      "override one layer's rule; LAYER is a layer name or #i (the i-th Linear/Conv), e.g. --rule '#0=zbox:low=0,high=1' " +
      '--rule conv2=gamma:gamma=0.5 (repeatable; rules as in docs/engine.md)',
    parse: (v: string) => parseRuleOverride(v),
  },
  ruleDef: {
    name: 'rule-def',
    type: 'string',
    multiple: true,
    value: '<file.json>',
    help:
      'custom rules: a JSON file with one rule definition or a list of them (docs/engine.md, "Custom rules"); --rule ' +
      'may then name them by id, e.g. --rule-def my-gamma.json --rule conv2=my.gamma:gamma=0.5 (repeatable)',
  },
  batchnorm: {
    name: 'batchnorm',
    type: 'string',
    choices: ['keep', 'merge'],
    default: 'merge; keep with captum-default, or when a --rule names a BatchNorm layer',
    help: "BatchNorm as layers of their own (Captum) or merged into the layer before (Zennit), as the app's BatchNorm choice",
  },
  out: {
    name: 'out',
    type: 'string',
    value: '<heatmap.png>',
    withLink: true,
    help: "write the heatmap: the relevance summed over channels, coloured as the app draws it (--colormap, --clip); with --images, a folder",
  },
  relevanceOut: { name: 'relevance-out', type: 'string', value: '<r.npy>', withLink: true, help: "write the raw input relevance (float32, the input's shape)" },
  colormap: {
    name: 'colormap',
    type: 'string',
    value: '<name>',
    choices: colormaps.map((c) => c.id),
    default: 'bwr',
    help: "the heatmap's colormap, as the app's (src/models/colormap.ts; the signed ones put 0 at the centre)",
  },
  clip: {
    name: 'clip',
    type: 'string',
    value: '<percentile>',
    default: 'no clip: the scale is the largest |relevance|',
    help: `saturate the heatmap's scale at this percentile of |relevance| (${CLIP_PERCENTILE_RANGE[0]} to ${CLIP_PERCENTILE_RANGE[1]}), as the app's "Clip at percentile"`,
    parse: percentile,
  },
  layer: {
    name: 'layer',
    type: 'string',
    value: '<name>',
    withLink: true,
    help: "with --layer-out: the layer whose input relevance to write, by its name in the model (as the app's layer list; an unknown name gets the list)",
  },
  layerOut: {
    name: 'layer-out',
    type: 'string',
    value: '<file.npy>',
    withLink: true,
    help: "write the relevance arriving at the input of --layer, as Captum's LayerLRP and the app's Inspect a layer (float32, that input's shape)",
  },
  top: { name: 'top', type: 'string', value: '<K>', default: '5', withLink: true, help: 'how many classes to print', parse: wholeNumber(1, 1000) },
  json: { name: 'json', type: 'boolean', withLink: true, help: 'print the result as JSON' },
  backend: {
    name: 'backend',
    type: 'string',
    choices: BACKENDS,
    default: 'WebGPU on a hardware GPU, else the CPU',
    withLink: true,
    help: 'where to compute',
  },
  patch: {
    name: 'patch',
    type: 'string',
    value: '<N>',
    default: String(DEFAULT_EVALUATION.patch),
    help: 'pixel flipping: side of the square patches removed, in input pixels',
    parse: wholeNumber(1, 4096),
  },
  baseline: {
    name: 'baseline',
    type: 'string',
    choices: BASELINES,
    default: DEFAULT_EVALUATION.baseline,
    help: 'pixel flipping: what a removed patch becomes',
  },
  steps: {
    name: 'steps',
    type: 'string',
    value: '<N>',
    default: String(DEFAULT_EVALUATION.steps),
    help: 'pixel flipping: points of the curve after the first',
    parse: wholeNumber(1, 256),
  },
  method: {
    name: 'method',
    type: 'string',
    choices: METHODS,
    default: 'lrp',
    help:
      'the attribution method: LRP (--composite, --rule), or a gradient baseline (docs/engine.md): the gradient of the ' +
      'target logit, gradient x input, SmoothGrad (--samples, --noise-level) or Integrated Gradients (--steps, ' +
      '--baseline); --out and --relevance-out write its attribution as they write the relevance',
  },
  samples: {
    name: 'samples',
    type: 'string',
    value: '<N>',
    default: '25',
    help: 'smoothgrad: noisy copies of the input averaged (the noise is seeded: a run reproduces)',
    parse: wholeNumber(1, 100000),
  },
  noiseLevel: {
    name: 'noise-level',
    type: 'string',
    value: '<S>',
    default: '0.15',
    help: "smoothgrad: the noise's standard deviation as a fraction of the input's range (max - min)",
    parse: (v: string, flag: string) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a number of 0 or more (a fraction of the input's range), got "${v}"`);
      return n;
    },
  },
  seed: {
    name: 'seed',
    type: 'string',
    value: '<N>',
    default: '0',
    help: 'smoothgrad: the seed of the noise (the same seed gives the same attribution)',
    parse: wholeNumber(0, 0xffffffff),
  },
  integration: {
    name: 'integration',
    type: 'string',
    value: '<rule>',
    default: 'midpoint',
    help: "integrated-gradients: the Riemann sum's points, midpoint (Captum's riemann_middle) or trapezoid (riemann_trapezoid)",
    choices: INTEGRATION_RULES,
  },
  concept: {
    name: 'concept',
    type: 'string',
    value: '<LAYER:CHANNEL[,CHANNEL...]>',
    help:
      "explain with the relevance at the layer's output kept on these channels only (Concept Relevance Propagation, " +
      'the app\'s concept view): the input relevance of that concept, e.g. --concept conv2:5 or conv2:5,12 (LRP only)',
    parse: (v: string, flag: string) => parseConcept(v, flag),
  },
  verbose: { name: 'verbose', short: 'v', type: 'boolean', withLink: true, help: 'more detail (golden: per-layer relevance errors and timings), stack traces' },
  help: { name: 'help', short: 'h', type: 'boolean', withLink: true, help: 'show this help' },
} as const satisfies Record<string, OptionSpec>;

/** explain's --steps and --baseline: pixel flipping's with --images, Integrated Gradients' with --method integrated-gradients. */
const explainSteps: OptionSpec = {
  ...opt.steps,
  default: `${DEFAULT_EVALUATION.steps} (pixel flipping), 50 (integrated-gradients)`,
  help: 'with --images: pixel flipping\'s points of the curve after the first (1 to 256); with --method integrated-gradients: the points of its Riemann sum',
  parse: wholeNumber(1, 100000),
};
const explainBaseline: OptionSpec = {
  name: 'baseline',
  type: 'string',
  value: `<${BASELINES.join('|')} | zeros|file.npy>`,
  default: `${DEFAULT_EVALUATION.baseline} (pixel flipping), zeros (integrated-gradients)`,
  help: "with --images: what pixel flipping's removed patch becomes; with --method integrated-gradients: the reference input x' (all zeros, or a .npy of the input's shape)",
};

export const EXPLAIN_OPTIONS: readonly OptionSpec[] = [
  opt.model,
  opt.modelData,
  opt.card,
  opt.image,
  opt.input,
  opt.images,
  opt.link,
  opt.target,
  opt.contrast,
  opt.composite,
  opt.rule,
  opt.ruleDef,
  opt.batchnorm,
  opt.method,
  opt.samples,
  opt.noiseLevel,
  opt.seed,
  opt.integration,
  opt.concept,
  opt.out,
  opt.colormap,
  opt.clip,
  opt.relevanceOut,
  opt.layer,
  opt.layerOut,
  opt.top,
  opt.json,
  opt.backend,
  opt.patch,
  explainBaseline,
  explainSteps,
  opt.verbose,
  opt.help,
];

export const EVALUATE_OPTIONS: readonly OptionSpec[] = [
  opt.model,
  opt.modelData,
  opt.card,
  opt.image,
  opt.input,
  opt.target,
  opt.contrast,
  opt.composite,
  opt.rule,
  opt.ruleDef,
  opt.batchnorm,
  opt.json,
  opt.backend,
  opt.patch,
  opt.baseline,
  opt.steps,
  opt.verbose,
  opt.help,
];

export const GOLDEN_OPTIONS: readonly OptionSpec[] = [
  { ...opt.backend, default: 'webgpu' },
  { name: 'reference', type: 'string', choices: REFERENCES, help: 'only the cases of one reference library' },
  { name: 'filter', type: 'string', value: '<substring>', help: 'only the cases whose id contains this substring' },
  opt.verbose,
  opt.help,
];

interface CommandSpec {
  readonly name: CommandName;
  readonly synopsis: readonly string[];
  readonly description: string;
  readonly options: readonly OptionSpec[];
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'explain',
    synopsis: [
      'explain --model <file> [--model-data <file>] (--image <png|jpg> | --input <x.npy>) [options]',
      'explain --model <file> --images <folder> --out <folder> [options]',
      'explain --link <url | @file> [--model <file> [--model-data <file>]] [--out <png>] [--relevance-out <npy>] [--json]',
    ],
    description:
      "Explain a model's decision on a photo or an input array: prints the top classes with their probabilities, the " +
      'explained class and the relevance sum, and writes a heatmap and/or the relevance. The model is an ONNX file ' +
      '(with its .onnx.data side file) or a TF.js model.json (with its weight files beside it). A card.json beside the ' +
      'model (the built-in models in public/models have one) gives the input size, preprocessing and class names; ' +
      'otherwise: the model\'s input size, pixels / 255, "class N". With --images, explains every PNG/JPEG in the ' +
      'folder: writes <name>-heatmap.png for each into the --out folder and results.csv (file, top class, ' +
      'probability, target, relevance sum, AOPC of each, with --patch, --baseline and --steps). With --method, a ' +
      'gradient baseline instead of LRP (gradient, gradient x input, SmoothGrad, Integrated Gradients); with --concept, ' +
      'the relevance of a concept (channels of a layer, CRP).',
    options: EXPLAIN_OPTIONS,
  },
  {
    name: 'evaluate',
    synopsis: ['evaluate --model <file> (--image <png|jpg> | --input <x.npy>) [--patch 8] [--baseline blur] [--steps 16] [options]'],
    description:
      "Pixel flipping: removes the input's patches in order of relevance (most relevant first) and in a random order, " +
      're-runs the model, and prints the target logit against the fraction removed and the AOPC (area over the ' +
      'perturbation curve) of both orders.',
    options: EVALUATE_OPTIONS,
  },
  {
    name: 'golden',
    synopsis: ['golden <cases.json> [--backend webgpu|cpu] [--reference captum|zennit] [--filter <substring>] [--verbose]'],
    description:
      "Run the reference cases of a golden manifest (e.g. ../shared/goldens/cases.json) and compare the relevance with " +
      "Captum's / Zennit's: the input relevance, and where the manifest has them, the per-layer relevance (each layer " +
      'present in both, with the same tolerance). Prints one PASS/FAIL line per case and "N passed, N failed"; exits ' +
      '1 when any case fails.',
    options: GOLDEN_OPTIONS,
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Help text, generated from the tables

const WIDTH = 118;
const COLUMN = 32;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function placeholder(o: OptionSpec): string {
  if (o.type === 'boolean') return '';
  if (o.value !== undefined) return o.value;
  return `<${o.choices!.join('|')}>`;
}

/** The option's help line(s): name, value, help, choices and default. */
export function optionHelp(o: OptionSpec): string[] {
  const label = `  --${o.name}${placeholder(o) ? ` ${placeholder(o)}` : ''}${o.short ? `, -${o.short}` : ''}`;
  let text = o.help;
  if (o.choices && o.value !== undefined) text += `: ${orList(o.choices)}`;
  if (o.default !== undefined) text += ` (default: ${o.default})`;
  const body = wrap(text, WIDTH - COLUMN);
  const pad = ' '.repeat(COLUMN);
  if (label.length + 2 > COLUMN) return [label, ...body.map((l) => pad + l)];
  return [label.padEnd(COLUMN) + body[0], ...body.slice(1).map((l) => pad + l)];
}

function commandHelp(spec: CommandSpec, explainOptions: readonly OptionSpec[] | null): string[] {
  const lines = [`${spec.name} options:`];
  // Options shared with explain (the same table entry) are named, not repeated, in the full help.
  const shared = explainOptions ? spec.options.filter((o) => explainOptions.includes(o) && o.name !== 'help' && o.name !== 'verbose') : [];
  if (shared.length) lines.push(...wrap(`as explain: ${shared.map((o) => `--${o.name}`).join(', ')}; and:`, WIDTH - 2).map((l) => `  ${l}`));
  for (const o of spec.options) if (!shared.includes(o)) lines.push(...optionHelp(o));
  if (spec.name === 'explain') {
    const link = spec.options.filter((o) => o.withLink && o.name !== 'link' && o.name !== 'help');
    lines.push(...wrap(`With --link, only these apply (the link holds the rest): ${link.map((o) => `--${o.name}`).join(', ')}.`, WIDTH - 2).map((l) => `  ${l}`));
  }
  return lines;
}

/** The help text: every command, or one command in full. */
export function usage(command?: CommandName): string {
  const specs = command ? COMMANDS.filter((c) => c.name === command) : COMMANDS;
  const lines = ['Usage:'];
  for (const c of specs) for (const s of c.synopsis) lines.push(`  lrp-lens ${s}`);
  lines.push('  lrp-lens <command> --help', '  lrp-lens --help', '', 'Commands:');
  for (const c of specs) {
    const body = wrap(c.description, WIDTH - 12);
    lines.push(`  ${c.name.padEnd(10)}${body[0]}`, ...body.slice(1).map((l) => `${' '.repeat(12)}${l}`));
  }
  const explain = COMMANDS.find((c) => c.name === 'explain')!;
  for (const c of specs) lines.push('', ...commandHelp(c, command || c === explain ? null : explain.options));
  lines.push('', 'Exit status: 0 success, 1 failure (a golden case failed, or an error), 2 bad usage.');
  return lines.join('\n');
}

export const USAGE = usage();

/** What a usage error prints after its message: the synopsis, and where the options are. */
export function usageHint(command?: CommandName): string {
  const specs = command ? COMMANDS.filter((c) => c.name === command) : COMMANDS;
  return ['Usage:', ...specs.flatMap((c) => c.synopsis.map((s) => `  lrp-lens ${s}`)), `Options: lrp-lens ${command ?? '<command>'} --help`].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

/** Edit distance (for "did you mean"). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

function unknownOption(spec: CommandSpec, raw: string): UsageError {
  const name = raw.replace(/^-+/, '');
  const near = spec.options.filter((o) => distance(name, o.name) <= Math.max(1, Math.floor(o.name.length / 4)) || (name.length >= 3 && o.name.startsWith(name)));
  const hint = near.length ? `; did you mean ${orList(near.map((o) => `--${o.name}`))}?` : '';
  return new UsageError(`unknown option "${raw}" for ${spec.name}${hint}`);
}

interface Parsed {
  /** Values by option name: the parsed value (a list for `multiple`), true for a switch. */
  readonly values: Map<string, unknown>;
  /** The options given, in order, by name. */
  readonly given: readonly string[];
  readonly positionals: readonly string[];
}

/** Parses one command's arguments with its table. */
function parseWith(spec: CommandSpec, argv: readonly string[]): Parsed {
  const options: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = {};
  for (const o of spec.options) options[o.name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  // Not strict: the tables' own checks below give the messages (naming the option and the values it takes).
  const { tokens } = parseArgv({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const values = new Map<string, unknown>();
  const given: string[] = [];
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;
    const o = spec.options.find((x) => x.name === t.name);
    if (!o) throw unknownOption(spec, t.rawName);
    const flag = `--${o.name}`;
    if (o.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${flag} takes no value`);
      values.set(o.name, true);
      if (!given.includes(o.name)) given.push(o.name);
      continue;
    }
    if (t.value === undefined || t.value === '') throw new UsageError(`${flag} needs a value${o.value ? ` ${o.value}` : ''}`);
    if (!o.multiple && values.has(o.name)) throw new UsageError(`${flag} given twice`);
    let v: unknown = t.value;
    if (o.choices) {
      const match = o.match ? o.match(t.value) : o.choices.find((c) => c === t.value);
      if (match === undefined) throw new UsageError(`${flag} must be ${o.choices.length > 4 ? 'one of ' : ''}${orList(o.choices)} (got "${t.value}")`);
      v = match;
    } else if (o.parse) v = o.parse(t.value, flag);
    if (o.multiple) values.set(o.name, [...((values.get(o.name) as unknown[] | undefined) ?? []), v]);
    else values.set(o.name, v);
    if (!given.includes(o.name)) given.push(o.name);
  }
  return { values, given, positionals };
}

const commandSpec = (name: CommandName): CommandSpec => COMMANDS.find((c) => c.name === name)!;

/** Parses argv (without node and the script). Throws UsageError for anything it does not understand. */
export function parseArgs(argv: readonly string[]): Command {
  const end = argv.indexOf('--');
  const before = end >= 0 ? argv.slice(0, end) : argv;
  const [command, ...rest] = argv;
  const known = (c: string | undefined): c is CommandName => COMMANDS.some((s) => s.name === c);
  if (command === 'help') return known(rest[0]) ? { kind: 'help', command: rest[0] } : { kind: 'help' };
  if (before.includes('--help') || before.includes('-h')) return known(command) ? { kind: 'help', command } : { kind: 'help' };
  if (command === undefined) throw new UsageError('no command given');
  if (!known(command)) {
    throw new UsageError(command.startsWith('-') ? `unknown option "${command}" (give a command first: ${orList(COMMANDS.map((c) => c.name))})` : `unknown command "${command}" (commands: ${orList(COMMANDS.map((c) => c.name))})`);
  }
  const parsed = parseWith(commandSpec(command), rest);
  if (command === 'golden') return golden(parsed);
  if (command === 'evaluate') return evaluate(parsed);
  return parsed.values.has('link') ? explainLink(parsed) : explain(parsed);
}

const str = (p: Parsed, name: string): string | undefined => p.values.get(name) as string | undefined;
const num = (p: Parsed, name: string): number | undefined => p.values.get(name) as number | undefined;
const flag = (p: Parsed, name: string): boolean => p.values.get(name) === true;
/** The properties that are set, for a command object without undefined fields. */
const defined = <T extends Record<string, unknown>>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

function golden(p: Parsed): GoldenCommand {
  if (p.positionals.length === 0) throw new UsageError('golden needs a manifest (cases.json)');
  if (p.positionals.length > 1) throw new UsageError(`unexpected argument "${p.positionals[1]}"`);
  return {
    kind: 'golden',
    manifest: p.positionals[0]!,
    backend: (str(p, 'backend') as BackendKind | undefined) ?? 'webgpu',
    ...defined({ reference: str(p, 'reference') as 'captum' | 'zennit' | undefined, filter: str(p, 'filter') }),
    verbose: flag(p, 'verbose'),
  };
}

/** What explain and evaluate share: the model, the input, the target and the rules. */
function common(p: Parsed, command: 'explain' | 'evaluate') {
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument "${p.positionals[0]}"`);
  const model = str(p, 'model');
  if (model === undefined) throw new UsageError(`${command} needs --model <model.json | model.onnx>`);
  const target = num(p, 'target');
  const contrast = num(p, 'contrast');
  if (contrast !== undefined && contrast === target) throw new UsageError(`--contrast ${contrast} is the --target: the relevance of a class against itself is 0`);
  return {
    model,
    ...defined({
      modelData: str(p, 'model-data'),
      card: str(p, 'card'),
      image: str(p, 'image'),
      input: str(p, 'input'),
      target,
      contrast,
      composite: str(p, 'composite'),
      batchnorm: str(p, 'batchnorm') as BatchNormChoice | undefined,
    }),
    rules: (p.values.get('rule') as RuleOverride[] | undefined) ?? [],
    ...defined({ ruleDefFiles: p.values.get('rule-def') as string[] | undefined }),
    json: flag(p, 'json'),
    backend: ((str(p, 'backend') as BackendKind | undefined) ?? 'auto') as BackendKind | 'auto',
    verbose: flag(p, 'verbose'),
  };
}

function evaluationOptions(p: Parsed): EvaluationOptions | undefined {
  const e = defined({ patch: num(p, 'patch'), baseline: str(p, 'baseline') as BaselineName | undefined, steps: num(p, 'steps') });
  return Object.keys(e).length > 0 ? { ...DEFAULT_EVALUATION, ...e } : undefined;
}

function layerOptions(p: Parsed): { layer?: string; layerOut?: string } {
  const layer = str(p, 'layer');
  const layerOut = str(p, 'layer-out');
  if ((layer === undefined) !== (layerOut === undefined)) {
    throw new UsageError(layer === undefined ? '--layer-out needs --layer <name>: the layer whose input relevance to write' : '--layer needs --layer-out <file.npy>: where to write its input relevance');
  }
  return defined({ layer, layerOut });
}

function evaluate(p: Parsed): EvaluateCommand {
  const c = common(p, 'evaluate');
  if ((c.image === undefined) === (c.input === undefined)) throw new UsageError('evaluate needs one of --image <png|jpg> or --input <x.npy>');
  return { kind: 'evaluate', ...c, evaluation: evaluationOptions(p) ?? DEFAULT_EVALUATION };
}

/** Options that only mean something to LRP (rules, BatchNorm handling, a layer's relevance, concepts). */
const LRP_ONLY = ['composite', 'rule', 'rule-def', 'batchnorm', 'concept', 'layer', 'layer-out'];
const METHOD_OPTIONS: Readonly<Record<string, MethodName>> = {
  samples: 'smoothgrad',
  'noise-level': 'smoothgrad',
  seed: 'smoothgrad',
  steps: 'integrated-gradients',
  baseline: 'integrated-gradients',
  integration: 'integrated-gradients',
};

/** --method and its options, checked against each other (one input; --images explains with LRP). */
function methodChoice(p: Parsed, images: boolean): { method?: MethodName; methodOptions?: MethodOptions } {
  const method = str(p, 'method') as MethodName | undefined;
  const name = method ?? 'lrp';
  if (images) {
    if (name !== 'lrp') throw new UsageError(`--method ${name} is for one input (--image or --input): --images explains with LRP`);
    for (const o of ['samples', 'noise-level', 'seed', 'integration']) if (p.given.includes(o)) throw new UsageError(`--${o} is for --method ${METHOD_OPTIONS[o]}, which --images does not run`);
    return {};
  }
  if (name !== 'lrp') {
    const lrpOnly = p.given.find((o) => LRP_ONLY.includes(o));
    if (lrpOnly !== undefined) {
      throw new UsageError(
        lrpOnly === 'concept'
          ? `--concept is Concept Relevance Propagation, an LRP explanation: it cannot be used with --method ${name}`
          : `--${lrpOnly} is an LRP option: --method ${name} explains with the model's gradient, which has no rules (drop --${lrpOnly}, or use --method lrp)`,
      );
    }
  }
  for (const o of p.given) {
    const wanted = METHOD_OPTIONS[o];
    if (wanted === undefined || wanted === name) continue;
    if (o === 'steps' || o === 'baseline') throw new UsageError(`--${o} is for --method integrated-gradients (the method is ${name}), or pixel flipping (evaluate, explain --images)`);
    throw new UsageError(`--${o} is for --method ${wanted} (the method is ${name})`);
  }
  const baseline = str(p, 'baseline');
  if (baseline !== undefined && baseline !== 'zeros' && !/\.npy$/i.test(baseline)) {
    throw new UsageError(`--baseline for integrated-gradients must be zeros or a .npy file of the input's shape, got "${baseline}"`);
  }
  const integration = str(p, 'integration') as IntegrationRule | undefined;
  const methodOptions = defined({ samples: num(p, 'samples'), noiseLevel: num(p, 'noise-level'), seed: num(p, 'seed'), steps: num(p, 'steps'), baseline, integration });
  return { ...(method !== undefined ? { method } : {}), ...(Object.keys(methodOptions).length > 0 ? { methodOptions } : {}) };
}

/** Pixel flipping's --baseline and --steps (explain's options also take Integrated Gradients' values). */
function checkEvaluation(e: EvaluationOptions | undefined): EvaluationOptions | undefined {
  if (e === undefined) return undefined;
  if (!(BASELINES as readonly string[]).includes(e.baseline)) throw new UsageError(`--baseline must be ${orList(BASELINES)} (got "${e.baseline}")`);
  if (e.steps > 256) throw new UsageError(`--steps must be a whole number from 1 to 256, got "${e.steps}"`);
  return e;
}

function explain(p: Parsed): ExplainCommand {
  const c = common(p, 'explain');
  const images = str(p, 'images');
  const layer = layerOptions(p);
  const out = str(p, 'out');
  const relevanceOut = str(p, 'relevance-out');
  const view = { colormap: (str(p, 'colormap') as ColormapId | undefined) ?? 'bwr', clip: num(p, 'clip') ?? null };
  const top = num(p, 'top') ?? 5;
  const concept = p.values.get('concept') as ConceptChoice | undefined;
  const choice = methodChoice(p, images !== undefined);
  if (images !== undefined) {
    if (c.image !== undefined || c.input !== undefined) throw new UsageError('--images cannot be combined with --image or --input');
    if (out === undefined) throw new UsageError('explain --images needs --out <folder> for the heatmaps and results.csv');
    if (relevanceOut !== undefined) throw new UsageError('--relevance-out is for one image, not --images');
    if (layer.layerOut !== undefined) throw new UsageError('--layer-out is for one image, not --images');
    if (concept !== undefined) throw new UsageError('--concept is for one input (--image or --input), not --images');
    return { kind: 'explain', ...c, out, ...view, top, images, evaluation: checkEvaluation(evaluationOptions(p)) ?? DEFAULT_EVALUATION, ...choice };
  }
  if ((c.image === undefined) === (c.input === undefined)) throw new UsageError('explain needs one of --image <png|jpg> or --input <x.npy>');
  if (p.given.includes('patch')) throw new UsageError('--patch, --baseline and --steps are for evaluate (or explain --images)');
  return { kind: 'explain', ...c, ...defined({ out, relevanceOut }), ...view, ...layer, top, ...choice, ...(concept ? { concept } : {}) };
}

/** --concept LAYER:CHANNEL[,CHANNEL...]; the layer is split off at the last colon (names may hold colons). */
export function parseConcept(v: string, flag = '--concept'): ConceptChoice {
  const colon = v.lastIndexOf(':');
  const layer = colon > 0 ? v.slice(0, colon).trim() : '';
  const list = colon > 0 ? v.slice(colon + 1).split(',').map((t) => t.trim()) : [];
  if (!layer || list.length === 0 || list.some((t) => !/^\d+$/.test(t) || !Number.isSafeInteger(Number(t)))) {
    throw new UsageError(`${flag} must be LAYER:CHANNEL[,CHANNEL...] (channels are whole numbers from 0), e.g. conv2:5 or conv2:5,12; got "${v}"`);
  }
  return { layer, channels: [...new Set(list.map(Number))] };
}

function explainLink(p: Parsed): ExplainLinkCommand {
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument "${p.positionals[0]}"`);
  const spec = commandSpec('explain');
  for (const name of p.given) {
    const o = spec.options.find((x) => x.name === name)!;
    if (!o.withLink) {
      throw new UsageError(`--${name} cannot be used with --link: the link holds the image, the target and contrast, the rules, the BatchNorm handling and the view`);
    }
  }
  if (str(p, 'model-data') !== undefined && str(p, 'model') === undefined) throw new UsageError('--model-data needs --model');
  return {
    kind: 'explain-link',
    link: str(p, 'link')!,
    ...defined({
      model: str(p, 'model'),
      modelData: str(p, 'model-data'),
      card: str(p, 'card'),
      out: str(p, 'out'),
      relevanceOut: str(p, 'relevance-out'),
    }),
    ...layerOptions(p),
    top: num(p, 'top') ?? 5,
    json: flag(p, 'json'),
    backend: (str(p, 'backend') as BackendKind | undefined) ?? 'auto',
    verbose: flag(p, 'verbose'),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// --rule LAYER=RULE[:k=v,...]

/** A rule parameter value: a number, true/false, or a list of numbers in brackets ([0.1,0.2,0.3]). */
function paramValue(text: string, where: string): ParamValue {
  const t = text.trim();
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t.startsWith('[')) {
    let list: unknown;
    try {
      list = JSON.parse(t);
    } catch {
      list = undefined;
    }
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new UsageError(`${where}: "${t}" is not a list of numbers`);
    }
    return list as number[];
  }
  const n = Number(t);
  if (t === '' || !Number.isFinite(n)) throw new UsageError(`${where}: "${t}" is not a number, true/false or a [list]`);
  return n;
}

/** Splits on commas outside brackets. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts;
}

/** LAYER=RULE[:k=v,...] */
export function parseRuleOverride(spec: string): RuleOverride {
  const where = `--rule ${spec}`;
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`${where}: expected LAYER=RULE[:param=value,...]`);
  const layer = spec.slice(0, eq).trim();
  const rest = spec.slice(eq + 1);
  const colon = rest.indexOf(':');
  const rule = (colon >= 0 ? rest.slice(0, colon) : rest).trim();
  if (!layer || !rule) throw new UsageError(`${where}: expected LAYER=RULE[:param=value,...]`);
  const params: Record<string, ParamValue> = {};
  if (colon >= 0) {
    for (const part of splitTop(rest.slice(colon + 1))) {
      const p = part.indexOf('=');
      if (p <= 0) throw new UsageError(`${where}: parameter "${part}" should be name=value`);
      const key = part.slice(0, p).trim();
      if (key in params) throw new UsageError(`${where}: parameter "${key}" given twice`);
      params[key] = paramValue(part.slice(p + 1), where);
    }
  }
  return { layer, rule, params };
}
