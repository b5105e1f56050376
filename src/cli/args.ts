/** Command-line parsing for lrp-lens (pure; src/cli/main.ts runs it). */
import type { BackendKind } from '../engine/api';
import type { ParamValue } from '../rules/rules';

export const USAGE = `Usage:
  lrp-lens explain --model <file> [--model-data <file>] (--image <png|jpg> | --input <x.npy>) [options]
  lrp-lens explain --model <file> --images <folder> --out <folder> [options]
  lrp-lens evaluate --model <file> (--image <png|jpg> | --input <x.npy>) [--patch 8] [--baseline blur] [--steps 16] [options]
  lrp-lens explain --link <url | @file> [--model <file> [--model-data <file>]] [--out <png>] [--relevance-out <npy>] [--json]
  lrp-lens golden <cases.json> [--backend webgpu|cpu] [--reference captum|zennit] [--filter <substring>] [--verbose]
  lrp-lens --help

Commands:
  explain   Explain a model's decision on a photo or an input array: prints the top classes with their
            probabilities, the explained class and the relevance sum, and writes a heatmap and/or the relevance.
            The model is an ONNX file (with its .onnx.data side file) or a TF.js model.json (with its weight files
            beside it). A card.json beside the model (the built-in models in public/models have one) gives the
            input size, preprocessing and class names; otherwise: the model's input size, pixels / 255, "class N".
            With --images, explains every PNG/JPEG in the folder: writes <name>-heatmap.png for each into the --out
            folder and results.csv (file, top class, probability, target, relevance sum, AOPC of each).
  evaluate  Pixel flipping: removes the input's patches in order of relevance (most relevant first) and in a random
            order, re-runs the model, and prints the target logit against the fraction removed and the AOPC (area
            over the perturbation curve) of both orders. Takes the explain options too.
  golden    Run the reference cases of a golden manifest (e.g. ../shared/goldens/cases.json) and compare the
            relevance with Captum's / Zennit's. Prints one PASS/FAIL line per case and "N passed, N failed";
            exits 1 when any case fails.

Explain options:
  --model <file>               model.json (TF.js layers model) or .onnx
  --model-data <file>          the ONNX model's external weights (default: the file it names, beside it)
  --card <card.json>           model card to use instead of the one beside the model
  --image <file>               PNG or JPEG photo, resized and normalised as the model card says
  --input <x.npy>              the model input itself (float, the model's input shape, NCHW)
  --target <N>                 class to explain (default: the top class)
  --composite <name>           rule preset (default EpsilonPlusFlat): EpsilonPlusFlat, EpsilonGammaBox,
                               EpsilonPlus, EpsilonAlpha2Beta1, EpsilonAlpha2Beta1Flat, captum-default, gradient
  --rule <LAYER=RULE[:k=v,...]>  override one layer's rule; LAYER is a layer name or #i (the i-th Linear/Conv).
                               e.g. --rule '#0=zbox:low=0,high=1' --rule conv2=gamma:gamma=0.5 (repeatable)
  --out <heatmap.png>          write the heatmap (relevance summed over channels; red positive, blue negative)
  --relevance-out <r.npy>      write the raw input relevance (float32, the input's shape)
  --top <K>                    how many classes to print (default 5)
  --json                       print the result as JSON
  --backend <webgpu|cpu>       where to compute (default: WebGPU on a hardware GPU, else the CPU)
  --images <folder>            explain every PNG/JPEG in the folder (then --out is a folder)

Share links (explain --link):
  --link <url | @file>         reproduce a share link's explanation (docs/share-links.md): its model (built-in
                               models from public/models, with their card.json), image (a sample from
                               public/samples, or the pixels in the link), target, rules and BatchNorm handling;
                               --out draws the heatmap with the link's colormap and clip, as the page does.
                               @file reads the link from a file. A link made with a model of its sender's own
                               needs --model (and --model-data): the files' SHA-256 is compared with the link's,
                               and a different file gives a warning. --image, --input, --target, --composite and
                               --rule do not apply: the link holds them.

Evaluation options (evaluate, and explain --images for its AOPC column):
  --patch <N>                  side of the square patches removed, in input pixels (default 8)
  --baseline <blur|mean|noise|zero>  what a removed patch becomes (default blur)
  --steps <N>                  points of the curve after the first (default 16)

Golden options:
  --backend <webgpu|cpu>       where to compute (default webgpu)
  --reference <captum|zennit>  only the cases of one reference library
  --filter <substring>         only the cases whose id contains this substring

Common options:
  --verbose, -v                more detail (golden: per-layer relevance errors and timings), stack traces
  --help, -h                   show this help

Exit status: 0 success, 1 failure (a golden case failed, or an error), 2 bad usage.`;

/** One --rule override: LAYER=RULE[:k=v,...]. */
export interface RuleOverride {
  readonly layer: string;
  readonly rule: string;
  readonly params: Readonly<Record<string, ParamValue>>;
}

export interface ExplainCommand {
  readonly kind: 'explain';
  readonly model: string;
  readonly modelData?: string;
  readonly card?: string;
  readonly image?: string;
  readonly input?: string;
  readonly target?: number;
  readonly composite?: string;
  readonly rules: readonly RuleOverride[];
  readonly out?: string;
  readonly relevanceOut?: string;
  readonly top: number;
  readonly json: boolean;
  /** 'auto': WebGPU on a hardware adapter, else the CPU backend. */
  readonly backend: BackendKind | 'auto';
  readonly verbose: boolean;
  /** Batch: explain every image in this folder (then `out` is a folder). */
  readonly images?: string;
  readonly evaluation?: EvaluationOptions;
}

export const BASELINES = ['blur', 'mean', 'noise', 'zero'] as const;
export type BaselineName = (typeof BASELINES)[number];

export interface EvaluationOptions {
  readonly patch: number;
  readonly baseline: BaselineName;
  readonly steps: number;
}

export const DEFAULT_EVALUATION: EvaluationOptions = { patch: 8, baseline: 'blur', steps: 16 };

export interface EvaluateCommand extends Omit<ExplainCommand, 'kind' | 'evaluation' | 'images'> {
  readonly kind: 'evaluate';
  readonly evaluation: EvaluationOptions;
}

export type Command =
  | { readonly kind: 'help' }
  | ExplainCommand
  | ExplainLinkCommand
  | EvaluateCommand
  | {
      readonly kind: 'golden';
      readonly manifest: string;
      readonly backend: BackendKind;
      readonly reference?: 'captum' | 'zennit';
      readonly filter?: string;
      readonly verbose: boolean;
    };

export class UsageError extends Error {
  override name = 'UsageError';
}

const BACKENDS: readonly BackendKind[] = ['webgpu', 'cpu'];
const REFERENCES = ['captum', 'zennit'] as const;

interface Flag {
  readonly flag: string;
  /** The flag's value (the "=..." part or the next argument); throws when there is none. */
  value(): string;
  /** Throws when the flag was given a value with "=". */
  noValue(): void;
}

/** Splits arguments into positionals and flags; `onFlag` handles each flag. */
function scan(rest: readonly string[], onFlag: (f: Flag) => void): string[] {
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--') {
      positional.push(...rest.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    onFlag({
      flag,
      value: () => {
        if (eq >= 0) return arg.slice(eq + 1);
        const v = rest[++i];
        if (v === undefined) throw new UsageError(`${flag} needs a value`);
        return v;
      },
      noValue: () => {
        if (eq >= 0) throw new UsageError(`${flag} takes no value`);
      },
    });
  }
  return positional;
}

/** Parses argv (without node and the script). Throws UsageError for anything it does not understand. */
export function parseArgs(argv: readonly string[]): Command {
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') return { kind: 'help' };
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('no command given');
  if (command === 'explain' && rest.some((a) => a === '--link' || a.startsWith('--link='))) return parseExplainLink(rest);
  if (command === 'explain') return parseExplain(rest);
  if (command === 'evaluate') return parseEvaluate(rest);
  if (command !== 'golden') throw new UsageError(command.startsWith('-') ? `unknown option "${command}"` : `unknown command "${command}"`);

  let backend: BackendKind = 'webgpu';
  let reference: 'captum' | 'zennit' | undefined;
  let filter: string | undefined;
  let verbose = false;
  const positional = scan(rest, (f) => {
    switch (f.flag) {
      case '--backend':
        backend = parseBackend(f.value());
        break;
      case '--reference': {
        const v = f.value();
        if (!(REFERENCES as readonly string[]).includes(v)) throw new UsageError(`--reference must be captum or zennit (got "${v}")`);
        reference = v as 'captum' | 'zennit';
        break;
      }
      case '--filter':
        filter = f.value();
        break;
      case '--verbose':
      case '-v':
        f.noValue();
        verbose = true;
        break;
      default:
        throw new UsageError(`unknown option "${f.flag}"`);
    }
  });
  if (positional.length === 0) throw new UsageError('golden needs a manifest (cases.json)');
  if (positional.length > 1) throw new UsageError(`unexpected argument "${positional[1]}"`);
  return {
    kind: 'golden',
    manifest: positional[0]!,
    backend,
    ...(reference !== undefined ? { reference } : {}),
    ...(filter !== undefined ? { filter } : {}),
    verbose,
  };
}

function parseBackend(v: string): BackendKind {
  if (!(BACKENDS as readonly string[]).includes(v)) throw new UsageError(`--backend must be webgpu or cpu (got "${v}")`);
  return v as BackendKind;
}

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

function parseEvaluate(rest: readonly string[]): EvaluateCommand {
  const { kind: _kind, images, evaluation, ...cmd } = parseExplain(rest, 'evaluate');
  void _kind;
  if (images !== undefined) throw new UsageError('evaluate takes one --image (or --input); for a folder use explain --images');
  return { ...cmd, kind: 'evaluate', evaluation: evaluation ?? DEFAULT_EVALUATION };
}

function positiveInt(flag: string, v: string, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got "${v}"`);
  return n;
}

function parseExplain(rest: readonly string[], command: 'explain' | 'evaluate' = 'explain'): ExplainCommand {
  let images: string | undefined;
  const evaluation: { patch?: number; baseline?: BaselineName; steps?: number } = {};
  const opts: {
    model?: string;
    modelData?: string;
    card?: string;
    image?: string;
    input?: string;
    target?: number;
    composite?: string;
    out?: string;
    relevanceOut?: string;
  } = {};
  const rules: RuleOverride[] = [];
  let top = 5;
  let json = false;
  let verbose = false;
  let backend: BackendKind | 'auto' = 'auto';
  const once = (f: Flag, key: keyof typeof opts): string => {
    if (opts[key] !== undefined) throw new UsageError(`${f.flag} given twice`);
    const v = f.value();
    if (v === '') throw new UsageError(`${f.flag} needs a value`);
    return v;
  };
  const positional = scan(rest, (f) => {
    switch (f.flag) {
      case '--model':
        opts.model = once(f, 'model');
        break;
      case '--model-data':
        opts.modelData = once(f, 'modelData');
        break;
      case '--card':
        opts.card = once(f, 'card');
        break;
      case '--image':
        opts.image = once(f, 'image');
        break;
      case '--input':
        opts.input = once(f, 'input');
        break;
      case '--target': {
        const v = once(f, 'target');
        const n = Number(v);
        if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new UsageError(`--target must be a class index (0, 1, ...), got "${v}"`);
        opts.target = n;
        break;
      }
      case '--composite':
        opts.composite = once(f, 'composite');
        break;
      case '--rule':
        rules.push(parseRuleOverride(f.value()));
        break;
      case '--out':
        opts.out = once(f, 'out');
        break;
      case '--relevance-out':
        opts.relevanceOut = once(f, 'relevanceOut');
        break;
      case '--top': {
        const v = f.value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > 1000) throw new UsageError(`--top must be a number from 1 to 1000, got "${v}"`);
        top = n;
        break;
      }
      case '--json':
        f.noValue();
        json = true;
        break;
      case '--backend':
        backend = parseBackend(f.value());
        break;
      case '--verbose':
      case '-v':
        f.noValue();
        verbose = true;
        break;
      case '--images':
        if (command !== 'explain') throw new UsageError(`unknown option "${f.flag}"`);
        if (images !== undefined) throw new UsageError('--images given twice');
        images = f.value();
        if (images === '') throw new UsageError('--images needs a value');
        break;
      case '--patch':
        evaluation.patch = positiveInt('--patch', f.value(), 4096);
        break;
      case '--steps':
        evaluation.steps = positiveInt('--steps', f.value(), 256);
        break;
      case '--baseline': {
        const v = f.value();
        if (!(BASELINES as readonly string[]).includes(v)) throw new UsageError(`--baseline must be blur, mean, noise or zero (got "${v}")`);
        evaluation.baseline = v as BaselineName;
        break;
      }
      default:
        throw new UsageError(`unknown option "${f.flag}"`);
    }
  });
  if (positional.length > 0) throw new UsageError(`unexpected argument "${positional[0]}"`);
  if (opts.model === undefined) throw new UsageError(`${command} needs --model <model.json | model.onnx>`);
  const hasEvaluation = Object.keys(evaluation).length > 0;
  if (images !== undefined) {
    if (opts.image !== undefined || opts.input !== undefined) throw new UsageError('--images cannot be combined with --image or --input');
    if (opts.out === undefined) throw new UsageError('explain --images needs --out <folder> for the heatmaps and results.csv');
    if (opts.relevanceOut !== undefined) throw new UsageError('--relevance-out is for one image, not --images');
    return { kind: 'explain', ...opts, model: opts.model, rules, top, json, backend, verbose, images, evaluation: { ...DEFAULT_EVALUATION, ...evaluation } };
  }
  if ((opts.image === undefined) === (opts.input === undefined)) throw new UsageError(`${command} needs one of --image <png|jpg> or --input <x.npy>`);
  if (hasEvaluation && command === 'explain') throw new UsageError('--patch, --baseline and --steps are for evaluate (or explain --images)');
  return {
    kind: 'explain',
    ...opts,
    model: opts.model,
    rules,
    top,
    json,
    backend,
    verbose,
    ...(hasEvaluation ? { evaluation: { ...DEFAULT_EVALUATION, ...evaluation } } : {}),
  };
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
  readonly top: number;
  readonly json: boolean;
  readonly backend: BackendKind | 'auto';
  readonly verbose: boolean;
}

function parseExplainLink(rest: readonly string[]): ExplainLinkCommand {
  const opts: { link?: string; model?: string; modelData?: string; card?: string; out?: string; relevanceOut?: string } = {};
  let top = 5;
  let json = false;
  let verbose = false;
  let backend: BackendKind | 'auto' = 'auto';
  const once = (f: Flag, key: keyof typeof opts): string => {
    if (opts[key] !== undefined) throw new UsageError(`${f.flag} given twice`);
    const v = f.value();
    if (v === '') throw new UsageError(`${f.flag} needs a value`);
    return v;
  };
  const keys: Record<string, keyof typeof opts> = {
    '--link': 'link',
    '--model': 'model',
    '--model-data': 'modelData',
    '--card': 'card',
    '--out': 'out',
    '--relevance-out': 'relevanceOut',
  };
  const positional = scan(rest, (f) => {
    const key = keys[f.flag];
    if (key) {
      opts[key] = once(f, key);
      return;
    }
    switch (f.flag) {
      case '--top': {
        const v = f.value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n < 1 || n > 1000) throw new UsageError(`--top must be a number from 1 to 1000, got "${v}"`);
        top = n;
        break;
      }
      case '--json':
        f.noValue();
        json = true;
        break;
      case '--backend':
        backend = parseBackend(f.value());
        break;
      case '--verbose':
      case '-v':
        f.noValue();
        verbose = true;
        break;
      case '--image':
      case '--input':
      case '--images':
      case '--target':
      case '--composite':
      case '--rule':
        throw new UsageError(`${f.flag} cannot be used with --link: the link holds the image, the target and the rules`);
      default:
        throw new UsageError(`unknown option "${f.flag}"`);
    }
  });
  if (positional.length > 0) throw new UsageError(`unexpected argument "${positional[0]}"`);
  if (opts.modelData !== undefined && opts.model === undefined) throw new UsageError('--model-data needs --model');
  return { kind: 'explain-link', ...opts, link: opts.link!, top, json, backend, verbose };
}
