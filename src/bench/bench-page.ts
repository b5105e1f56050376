/**
 * The benchmark in a browser: bench.html (a page of its own, not linked from the app) runs the same benchmark as
 * the Node CLI with navigator.gpu and prints the report into a <pre>. Built-in models are fetched from /models/
 * (the app's public/models); those not there are listed as skipped.
 */
import type { BackendKind } from '../engine/api';
import { createEngine, type Engine } from '../engine/index';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs, resolveBackends } from './args';
import { formatReport, runBench } from './run-bench';
import { builtinSources, selectModels, syntheticSources } from './sources';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const logEl = $<HTMLPreElement>('log');
const outEl = $<HTMLPreElement>('out');
const jsonLink = $<HTMLAnchorElement>('json');
const form = $<HTMLFormElement>('options');
const button = $<HTMLButtonElement>('run');

function log(line: string): void {
  logEl.textContent += `${new Date().toISOString().slice(11, 23)} ${line}\n`;
}

/** The form's and the address's options as the CLI's argv. */
function argvFrom(params: URLSearchParams): string[] {
  const argv: string[] = [];
  if (params.has('quick') && params.get('quick') !== '0' && params.get('quick') !== 'false') argv.push('--quick');
  for (const key of ['model', 'backend', 'runs', 'warmup']) {
    const v = params.get(key);
    if (v) argv.push(`--${key}`, v);
  }
  return argv;
}

async function readModelFile(path: string): Promise<Uint8Array | null> {
  try {
    const res = await fetch(`${import.meta.env.BASE_URL}models/${path}`);
    // A dev server answers unknown paths with the app's index.html: that is not a model file either.
    if (!res.ok || (res.headers.get('content-type') ?? '').includes('text/html')) return null;
    return new Uint8Array(await res.arrayBuffer());
  } catch {
    return null;
  }
}

function environment(): string {
  const nav = navigator as Navigator & { userAgentData?: { brands?: { brand: string; version: string }[]; platform?: string } };
  const brands = nav.userAgentData?.brands?.map((b) => `${b.brand} ${b.version}`).join(', ');
  return `${brands ?? navigator.userAgent}${nav.userAgentData?.platform ? ` on ${nav.userAgentData.platform}` : ''}, ${navigator.hardwareConcurrency} logical cores`;
}

async function run(params: URLSearchParams): Promise<void> {
  logEl.textContent = '';
  outEl.textContent = '';
  jsonLink.hidden = true;
  let args;
  try {
    args = parseBenchArgs(argvFrom(params));
  } catch (e) {
    outEl.textContent = e instanceof BenchUsageError ? `${e.message}\n\n${BENCH_USAGE}` : String(e);
    return;
  }
  const models = selectModels([...syntheticSources(), ...builtinSources(readModelFile, `${location.origin}/models`)], args.models, args.quick);

  let gpuEngine: Promise<Engine> | undefined;
  let webgpu = { available: false, description: '' };
  if (args.backend !== 'cpu') {
    gpuEngine = createEngine({ backend: 'webgpu' });
    try {
      webgpu = { available: true, description: (await gpuEngine).description };
    } catch (e) {
      log(`WebGPU is not available: ${(e as Error).message}`);
      gpuEngine = undefined;
      if (args.backend === 'webgpu' || args.backend === 'both') return;
    }
  }
  const backends = resolveBackends(args.backend, args.quick, webgpu);
  if (gpuEngine && !backends.includes('webgpu')) (await gpuEngine).dispose();

  const show = (text: string) => {
    outEl.textContent = text;
  };
  const result = await runBench({
    models,
    backends,
    runs: args.runs,
    warmup: args.warmup,
    quick: args.quick,
    environment: environment(),
    engine: (backend: BackendKind) => (backend === 'webgpu' ? (gpuEngine ?? createEngine({ backend: 'webgpu' })) : createEngine({ backend: 'cpu' })),
    log,
    progress: (partial) => show(formatReport(partial)),
  });
  show(formatReport(result));
  jsonLink.href = URL.createObjectURL(new Blob([JSON.stringify(result, null, 2)], { type: 'application/json' }));
  jsonLink.hidden = false;
  log('done');
}

function startFrom(params: URLSearchParams): void {
  button.disabled = true;
  run(params)
    .catch((e: unknown) => log(`failed: ${e instanceof Error ? e.message : String(e)}`))
    .finally(() => {
      button.disabled = false;
    });
}

// Fill the form from the address; run at once with ?autorun.
const initial = new URLSearchParams(location.search);
for (const el of Array.from(form.elements) as HTMLInputElement[]) {
  if (!el.name) continue;
  if (el.type === 'checkbox') el.checked = initial.has(el.name) && initial.get(el.name) !== '0';
  else if (initial.get(el.name)) el.value = initial.get(el.name)!;
}
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (typeof v === 'string' && v !== '') params.set(k, v === 'on' ? '1' : v);
  history.replaceState(null, '', `${location.pathname}?${params.toString()}`);
  startFrom(params);
});
if (initial.has('autorun')) startFrom(initial);
