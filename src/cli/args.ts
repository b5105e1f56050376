/** Command-line parsing for lrp-lens (pure; src/cli/main.ts runs it). */
import type { BackendKind } from '../engine/api';

export const USAGE = `Usage:
  lrp-lens golden <cases.json> [--backend webgpu|cpu] [--reference captum|zennit] [--filter <substring>] [--verbose]
  lrp-lens --help

Commands:
  golden    Run the reference cases of a golden manifest (e.g. ../shared/goldens/cases.json) and compare the
            relevance with Captum's / Zennit's. Prints one PASS/FAIL line per case and "N passed, N failed";
            exits 1 when any case fails.

Options:
  --backend <webgpu|cpu>       where to compute (default webgpu)
  --reference <captum|zennit>  only the cases of one reference library
  --filter <substring>         only the cases whose id contains this substring
  --verbose, -v                per-layer relevance errors, timings and stack traces
  --help, -h                   show this help`;

export type Command =
  | { readonly kind: 'help' }
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

/** Parses argv (without node and the script). Throws UsageError for anything it does not understand. */
export function parseArgs(argv: readonly string[]): Command {
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') return { kind: 'help' };
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('no command given');
  if (command !== 'golden') throw new UsageError(command.startsWith('-') ? `unknown option "${command}"` : `unknown command "${command}"`);

  const positional: string[] = [];
  let backend: BackendKind = 'webgpu';
  let reference: 'captum' | 'zennit' | undefined;
  let filter: string | undefined;
  let verbose = false;
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
    const value = (): string => {
      if (eq >= 0) return arg.slice(eq + 1);
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--backend': {
        const v = value();
        if (!(BACKENDS as readonly string[]).includes(v)) throw new UsageError(`--backend must be webgpu or cpu (got "${v}")`);
        backend = v as BackendKind;
        break;
      }
      case '--reference': {
        const v = value();
        if (!(REFERENCES as readonly string[]).includes(v)) throw new UsageError(`--reference must be captum or zennit (got "${v}")`);
        reference = v as 'captum' | 'zennit';
        break;
      }
      case '--filter':
        filter = value();
        break;
      case '--verbose':
      case '-v':
        if (eq >= 0) throw new UsageError(`${flag} takes no value`);
        verbose = true;
        break;
      default:
        throw new UsageError(`unknown option "${flag}"`);
    }
  }
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
