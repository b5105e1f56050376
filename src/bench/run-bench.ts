/**
 * The benchmark itself, independent of where it runs: the Node CLI (./main.ts) and the browser page
 * (./bench-page.ts) pass in the models and a way to make an engine per backend.
 *
 * Per model and backend it measures, as wall-clock time around the engine's promise (which resolves after the
 * results are read back, so the GPU work is finished): the forward pass (when the engine offers forward()), a full
 * explanation (forward + LRP) with Captum's epsilon (preset captum-default) and with Zennit's EpsilonPlusFlat,
 * a re-explanation after one layer's rule parameter changed (the top dense layer, and the first layer), the first,
 * cold explanation, and peak GPU buffer memory (when the engine offers stats()). Each timing is the median of
 * `runs` runs after `warmup` runs.
 */
import type { BackendKind, Explanation, LoadedModel } from '../engine/api';
import type { Engine } from '../engine/index';
import { isWeightedLayer, type Graph } from '../engine/graph';
import type { LayerRuleEntry, RuleAssignment } from '../rules/assignment';
import { findComposite } from '../rules/composites';
import { layerClassOf } from '../engine/ops/registry';
import { assignmentCounts, graphCounts, type ProgramCounts } from './counts';
import { benchInput } from './models';
import { ModelFilesMissing } from './model-files';
import type { TorchRow } from './torch-reference';

export interface BenchModelSource {
  readonly name: string;
  readonly description: string;
  /** In the default set of the quick benchmark (a minute on a 2-core machine without a GPU). */
  readonly quick: boolean;
  /** In the default set of the full benchmark. */
  readonly full: boolean;
  load(): Promise<Graph>;
  /** The same graph with parameters left at zero, for counting only (cheaper to build); default load(). */
  loadShapes?(): Promise<Graph>;
}

/**
 * LoadedModel as the benchmark uses it. forward() and stats() are checked at run time as well, so the benchmark
 * keeps working (printing n/a) with an engine build that lacks them.
 */
type BenchableModel = Partial<Pick<LoadedModel, 'forward' | 'stats'>> & Omit<LoadedModel, 'forward' | 'stats'>;

export const CAPTUM_EPSILON: RuleAssignment = { preset: 'captum-default' };
export const EPSILON_PLUS_FLAT: RuleAssignment = { preset: 'EpsilonPlusFlat' };

export type MeasurementId = 'forward' | 'explain-captum' | 'explain-epf' | 'reexplain-top' | 'reexplain-first' | 'cold' | 'memory';

export const MEASUREMENTS: readonly { readonly id: MeasurementId; readonly label: string }[] = [
  { id: 'forward', label: 'forward' },
  { id: 'explain-captum', label: 'explain: Captum epsilon' },
  { id: 'explain-epf', label: 'explain: EpsilonPlusFlat' },
  { id: 'reexplain-top', label: 're-explain: top dense layer changed' },
  { id: 'reexplain-first', label: 're-explain: first layer changed' },
  { id: 'cold', label: 'first explanation (cold)' },
  { id: 'memory', label: 'peak buffer memory' },
];

export interface BenchRow {
  readonly model: string;
  readonly backend: BackendKind;
  readonly measurement: MeasurementId;
  readonly unit: 'ms' | 'MiB';
  /** null: not available (the note says why). */
  readonly median: number | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly samples: readonly number[];
  /** Median GPU time from the engine's own timestamps (Explanation.timings.gpuMs), when it reports them. */
  readonly gpuMedian: number | null;
  readonly note: string;
}

export interface BenchModelInfo {
  readonly name: string;
  readonly description: string;
  readonly inputShape: readonly number[];
  readonly params: number;
  readonly weightedLayers: number;
  /** Multiply-adds of one forward pass: Linear/Conv layers and matmuls (attention). */
  readonly forwardMacs: number;
  /** FLOPs of one forward pass: 2 per multiply-add, plus softmax (counts.ts). */
  readonly forwardFlops: number;
  readonly activationValues: number;
  /** What one explanation dispatches, per preset (forward + relevance), and the buffers of its program. */
  readonly captum: ProgramCounts;
  readonly epsilonPlusFlat: ProgramCounts;
  readonly topLayer: string;
  readonly firstLayer: string;
}

export interface SkippedModel {
  readonly model: string;
  readonly backend?: BackendKind;
  readonly reason: string;
  readonly failed: boolean;
}

export interface BenchResult {
  readonly tool: 'lrp-lens-bench';
  readonly version: 1;
  readonly startedAt: string;
  readonly environment: string;
  readonly quick: boolean;
  readonly runs: number;
  readonly warmup: number;
  readonly adapters: Partial<Record<BackendKind, string>>;
  readonly models: readonly BenchModelInfo[];
  readonly rows: readonly BenchRow[];
  /** Models not measured: `failed` when building or running them went wrong, not when their files are absent. */
  readonly skipped: readonly SkippedModel[];
  /** PyTorch's timings of the same models (`--torch`, ./torch-reference.ts), or why there are none. */
  readonly torch?: { readonly rows: readonly TorchRow[]; readonly skipped?: string };
  readonly wallMs: number;
}

export interface BenchConfig {
  readonly models: readonly BenchModelSource[];
  readonly backends: readonly BackendKind[];
  readonly runs: number;
  readonly warmup: number;
  readonly quick: boolean;
  /** One line describing the machine and runtime. */
  readonly environment: string;
  /** An engine for a backend; the benchmark disposes it when done with that backend. */
  engine(backend: BackendKind): Promise<Engine>;
  /** Progress lines (stderr in the CLI). */
  log?(line: string): void;
  /** The results so far, after each model (so that a crash later loses nothing measured). */
  progress?(partial: BenchResult): void | Promise<void>;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const errorMessage = (e: unknown): string => ((e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '').trim();

/** The layers whose rule the re-explanation measurements change: the last Linear (else last weighted), the first weighted. */
export function reexplainLayers(graph: Graph): { top: string; first: string } {
  const weighted = graph.nodes.filter(isWeightedLayer);
  if (weighted.length === 0) throw new Error('the model has no Linear/Conv layer');
  const linear = weighted.filter((n) => n.op === 'linear');
  return { top: (linear[linear.length - 1] ?? weighted[weighted.length - 1]!).name, first: weighted[0]!.name };
}

/**
 * EpsilonPlusFlat with the given layers' rules kept but their epsilon changed to a value unique to `k`: a rule
 * assignment the engine has not seen, so it needs a new program (whatever it can reuse from the previous one).
 */
export function changedAssignment(graph: Graph, layers: string | readonly string[], k: number): RuleAssignment {
  const preset = findComposite('EpsilonPlusFlat')!.assign(graph, {}, layerClassOf);
  const entries: LayerRuleEntry[] = (typeof layers === 'string' ? [layers] : layers).map((layer) => ({
    layer,
    rule: preset.get(layer)?.rule ?? 'epsilon',
    epsilon: 1e-6 * (2 + k / 64),
  }));
  return { ...EPSILON_PLUS_FLAT, layers: entries };
}

/** Sizes and FLOP counts of a model, and the layers the re-explanations change. */
export function describeModel(source: Pick<BenchModelSource, 'name' | 'description'>, graph: Graph): BenchModelInfo {
  const counts = graphCounts(graph);
  const { top, first } = reexplainLayers(graph);
  return {
    name: source.name,
    description: source.description,
    inputShape: counts.inputShape,
    params: counts.params,
    weightedLayers: counts.weightedLayers,
    forwardMacs: counts.forwardMacs,
    forwardFlops: counts.forwardFlops,
    activationValues: counts.activations,
    captum: assignmentCounts(graph, CAPTUM_EPSILON),
    epsilonPlusFlat: assignmentCounts(graph, EPSILON_PLUS_FLAT),
    topLayer: top,
    firstLayer: first,
  };
}

async function timed(fn: () => Promise<unknown>): Promise<{ ms: number; value: unknown }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

function gpuMsOf(value: unknown): number | null {
  const t = (value as Explanation | undefined)?.timings as { gpuMs?: unknown } | undefined;
  return typeof t?.gpuMs === 'number' ? t.gpuMs : null;
}

function checkFinite(e: Explanation, what: string): void {
  for (const v of e.logits) if (!Number.isFinite(v)) throw new Error(`${what}: the logits are not finite`);
}

export async function runBench(config: BenchConfig): Promise<BenchResult> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const log = config.log ?? (() => undefined);
  const rows: BenchRow[] = [];
  const models: BenchModelInfo[] = [];
  const skipped: SkippedModel[] = [];
  const adapters: Partial<Record<BackendKind, string>> = {};
  const engines = new Map<BackendKind, Promise<Engine>>();
  const engineFor = (backend: BackendKind): Promise<Engine> => {
    let e = engines.get(backend);
    if (!e) {
      e = config.engine(backend).then((engine) => {
        adapters[backend] = engine.description;
        return engine;
      });
      engines.set(backend, e);
    }
    return e;
  };
  const { runs, warmup } = config;
  const snapshot = (): BenchResult => ({
    tool: 'lrp-lens-bench',
    version: 1,
    startedAt,
    environment: config.environment,
    quick: config.quick,
    runs,
    warmup,
    adapters: { ...adapters },
    models: [...models],
    rows: orderRows(rows, config.models.map((m) => m.name), config.backends),
    skipped: [...skipped],
    wallMs: performance.now() - t0,
  });

  try {
    for (const source of config.models) {
      let graph: Graph;
      let info: BenchModelInfo;
      try {
        log(`${source.name}: building the graph`);
        graph = await source.load();
        info = describeModel(source, graph);
        models.push(info);
      } catch (e) {
        skipped.push({ model: source.name, reason: errorMessage(e), failed: !(e instanceof ModelFilesMissing) });
        log(`${source.name}: skipped (${errorMessage(e)})`);
        continue;
      }
      const base = benchInput(graph.input.shape);
      // The engine keeps the forward pass of the last input and skips it for another explanation of the same
      // input. Full explanations and forward passes get an input seen for the first time (one value changed);
      // re-explanations reuse the input of the explanation just before them, as a user changing a rule would.
      let inputs = 0;
      const freshInput = (): Float32Array => {
        const x = base.slice();
        x[0] = base[0]! + ++inputs / 1024;
        return x;
      };

      for (const backend of config.backends) {
        let model: BenchableModel | undefined;
        try {
          const engine = await engineFor(backend);
          model = (await engine.load(graph)) as BenchableModel;
          const loaded = model;
          const say = (what: string) => log(`${source.name} on ${backend}: ${what}`);
          let peakBytes = 0;
          let programs = 0;
          const sampleStats = () => {
            if (typeof loaded.stats !== 'function') return;
            const st = loaded.stats();
            if (st.bufferBytes > peakBytes) {
              peakBytes = st.bufferBytes;
              programs = st.programs;
            }
          };
          const row = (measurement: MeasurementId, samples: readonly number[], note = '', gpu: readonly number[] = [], unit: 'ms' | 'MiB' = 'ms') => {
            rows.push({
              model: source.name,
              backend,
              measurement,
              unit,
              median: median(samples),
              min: samples.length ? Math.min(...samples) : null,
              max: samples.length ? Math.max(...samples) : null,
              samples,
              gpuMedian: gpu.length && gpu.length === samples.length ? median(gpu) : null,
              note,
            });
          };
          const samples = new Map<MeasurementId, { ms: number[]; gpu: number[] }>();
          /** Times one call; calls with k < warmup are warm-up, not recorded. */
          const time = async (id: MeasurementId, k: number, fn: () => Promise<unknown>): Promise<void> => {
            const r = await timed(fn);
            sampleStats();
            if (k < warmup) return;
            let s = samples.get(id);
            if (!s) samples.set(id, (s = { ms: [], gpu: [] }));
            s.ms.push(r.ms);
            const g = gpuMsOf(r.value);
            if (g !== null) s.gpu.push(g);
          };
          const explain = (rules: RuleAssignment, input: Float32Array) => loaded.explain(input, { rules, layerRelevance: false });
          const rate = (flops: number, ms: number | null) => (ms && ms > 0 ? `${formatCount(flops / (ms / 1000))}FLOP/s` : '');
          const record = (id: MeasurementId, note: (ms: number | null) => string) => {
            const s = samples.get(id) ?? { ms: [], gpu: [] };
            row(id, s.ms, note(median(s.ms)), s.gpu);
          };

          say('first explanation (Captum epsilon)');
          const cold = await timed(() => explain(CAPTUM_EPSILON, freshInput()));
          checkFinite(cold.value as Explanation, `${source.name} on ${backend}`);
          sampleStats();

          say('explain, Captum epsilon');
          for (let k = 0; k < warmup + runs; k++) await time('explain-captum', k, () => explain(CAPTUM_EPSILON, freshInput()));

          // Per round, as a user moving one rule's slider at a time: a full EpsilonPlusFlat explanation of a new
          // input x; then, for x, the top dense layer's epsilon changed to a value never used; then, in addition,
          // the first layer's epsilon changed (so it differs from the one before in the first layer only). Each
          // changed assignment needs a new program; the engine reuses what it can (the forward pass of x, ...).
          say(`explain, EpsilonPlusFlat; re-explain after a change in ${info.topLayer}, then in ${info.firstLayer}`);
          for (let k = 0; k < warmup + runs; k++) {
            const x = freshInput();
            // (The assignments are made before the clock starts: building them is the caller's work, not the engine's.)
            const top = changedAssignment(graph, info.topLayer, k);
            const both = changedAssignment(graph, [info.topLayer, info.firstLayer], k);
            await time('explain-epf', k, () => explain(EPSILON_PLUS_FLAT, x));
            await time('reexplain-top', k, () => explain(top, x));
            await time('reexplain-first', k, () => explain(both, x));
          }

          if (typeof loaded.forward === 'function') {
            say('forward');
            const forward = loaded.forward.bind(loaded);
            for (let k = 0; k < warmup + runs; k++) await time('forward', k, () => forward(freshInput()));
            record('forward', (m) => rate(info.forwardFlops, m));
          } else {
            row('forward', [], 'n/a: LoadedModel has no forward()');
          }
          record('explain-captum', (m) => rate(info.captum.forwardFlops + info.captum.relevanceFlops, m));
          const epfMedian = median(samples.get('explain-epf')?.ms ?? []);
          record('explain-epf', (m) => rate(info.epsilonPlusFlat.forwardFlops + info.epsilonPlusFlat.relevanceFlops, m));
          const share = (m: number | null) => (m !== null && epfMedian ? `; ${Math.round((100 * m) / epfMedian)}% of full EpsilonPlusFlat` : '');
          record('reexplain-top', (m) => `${info.topLayer}${share(m)}`);
          record('reexplain-first', (m) => `${info.firstLayer}${share(m)}`);

          row('cold', [cold.ms], backend === 'webgpu' ? 'first call: builds the program, uploads weights, compiles pipelines' : 'first call: builds the program and its arrays');

          if (typeof loaded.stats === 'function') {
            const what = backend === 'webgpu' ? 'GPU buffers' : backend === 'cpu-fast' ? 'CPU float32 arrays (without the WASM copies of the weights)' : 'CPU float64 arrays';
            row('memory', [peakBytes / 2 ** 20], `${what}: max of stats().bufferBytes after each call (${programs} programs cached)`, [], 'MiB');
          } else {
            row('memory', [], 'n/a: LoadedModel has no stats()', [], 'MiB');
          }
        } catch (e) {
          skipped.push({ model: source.name, backend, reason: errorMessage(e), failed: true });
          log(`${source.name} on ${backend}: failed (${errorMessage(e)})`);
        } finally {
          model?.dispose();
        }
      }
      await config.progress?.(snapshot());
    }
  } finally {
    for (const e of engines.values()) await e.then((engine) => engine.dispose(), () => undefined);
  }
  for (const backend of config.backends) {
    if (adapters[backend] === undefined) {
      const failed = await engines.get(backend)?.then(() => undefined, (e: unknown) => errorMessage(e));
      if (failed) adapters[backend] = `unavailable: ${failed}`;
    }
  }
  return snapshot();
}

/** Rows by model, then backend, then the order of MEASUREMENTS. */
function orderRows(rows: readonly BenchRow[], models: readonly string[], backends: readonly BackendKind[]): BenchRow[] {
  const order = (r: BenchRow) => [models.indexOf(r.model), backends.indexOf(r.backend), MEASUREMENTS.findIndex((m) => m.id === r.measurement)];
  return [...rows].sort((a, b) => {
    const x = order(a);
    const y = order(b);
    return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
  });
}

// ---- formatting ----

/** Milliseconds with about three significant digits. */
export function formatValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

/** 1234567 -> "1.23 M" (SI prefixes, three significant digits). */
export function formatCount(v: number): string {
  const units: readonly [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, unit] of units) if (Math.abs(v) >= scale) return `${(v / scale).toPrecision(3)} ${unit}`;
  return `${v.toPrecision(3)} `;
}


const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)}`;

export function measurementLabel(id: MeasurementId): string {
  return MEASUREMENTS.find((m) => m.id === id)?.label ?? id;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The measurements as a Markdown table, one row per model x backend x measurement. */
export function formatTable(rows: readonly BenchRow[]): string {
  const lines = ['| model | backend | measurement | median | min | max | runs | notes |', '|---|---|---|---:|---:|---:|---:|---|'];
  for (const r of rows) {
    const unit = r.median === null ? '' : ` ${r.unit}`;
    const note = [r.gpuMedian !== null ? `GPU ${formatValue(r.gpuMedian)} ms (timestamps)` : '', r.note].filter(Boolean).join('; ');
    lines.push(
      `| ${cell(r.model)} | ${r.backend} | ${measurementLabel(r.measurement)} | ${formatValue(r.median)}${unit} | ${formatValue(r.min)} | ${formatValue(r.max)} | ${r.samples.length} | ${cell(note)} |`,
    );
  }
  return lines.join('\n');
}

/** FLOP and byte counts per model as a Markdown table. */
export function formatModelTable(models: readonly BenchModelInfo[]): string {
  const lines = [
    '| model | input | params | Linear/Conv layers | forward GFLOP | explain GFLOP, Captum epsilon | explain GFLOP, EpsilonPlusFlat | weights MiB | activations MiB | program buffers MiB (EpsilonPlusFlat) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const gflop = (flops: number) => (flops / 1e9).toPrecision(3);
  for (const m of models) {
    const c = m.captum;
    const e = m.epsilonPlusFlat;
    lines.push(
      `| ${cell(m.name)} | ${m.inputShape.slice(1).join('x')} | ${formatCount(m.params).trim()} | ${m.weightedLayers} | ${gflop(m.forwardFlops)} | ${gflop(c.forwardFlops + c.relevanceFlops)} | ${gflop(e.forwardFlops + e.relevanceFlops)} | ${mib(4 * m.params)} | ${mib(4 * m.activationValues)} | ${mib(e.bufferBytes)} |`,
    );
  }
  return lines.join('\n');
}

/** The whole report: header, adapters, measurements, counts, skipped models. */
export function formatReport(result: BenchResult): string {
  const out: string[] = [];
  out.push(
    `LRP Lens benchmark${result.quick ? ' (quick)' : ''}, ${result.startedAt}: medians of ${result.runs} runs after ${result.warmup} warm-up runs, batch 1, fp32, wall-clock ms per call (results read back).`,
  );
  out.push(`Machine: ${result.environment}`);
  for (const [backend, adapter] of Object.entries(result.adapters)) out.push(`- ${backend}: ${adapter}`);
  out.push('');
  out.push(formatTable(result.rows));
  if (result.models.length) {
    out.push('');
    out.push(formatModelTable(result.models));
  }
  if (result.torch) {
    out.push('');
    out.push(formatTorchTable(result));
  }
  if (result.skipped.length) {
    out.push('');
    for (const s of result.skipped) out.push(`${s.failed ? 'FAILED' : 'Skipped'} ${s.model}${s.backend ? ` on ${s.backend}` : ''}: ${s.reason}`);
  }
  out.push('');
  out.push(`Benchmark wall time: ${(result.wallMs / 1000).toFixed(1)} s`);
  return `${out.join('\n')}\n`;
}

/**
 * PyTorch's forward and forward + input gradient of the same models beside the CPU backends' EpsilonPlusFlat
 * explanation (forward + LRP), with their ratio: issue 16's target is at most 5x for the fast CPU backend.
 */
export function formatTorchTable(result: BenchResult): string {
  const torch = result.torch!;
  if (torch.skipped) return `PyTorch reference: skipped: ${torch.skipped}`;
  const ms = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : v.toFixed(1));
  const lines = [
    'PyTorch reference (scripts/torch-bench.py: same architecture and input size, median ms):',
    '',
    '| model | PyTorch forward | PyTorch forward + input gradient | backend | EpsilonPlusFlat explain | ratio to PyTorch forward + gradient | note |',
    '|---|---:|---:|---|---:|---:|---|',
  ];
  for (const t of torch.rows) {
    const epf = result.rows.filter((r) => r.model === t.model && r.measurement === 'explain-epf');
    for (const r of epf.length ? epf : [null]) {
      const ratio = r?.median != null && t.forwardGradient ? `${(r.median / t.forwardGradient.median).toFixed(2)}x` : 'n/a';
      lines.push(`| ${t.model} | ${ms(t.forward?.median)} | ${ms(t.forwardGradient?.median)} | ${r?.backend ?? 'n/a'} | ${ms(r?.median)} | ${ratio} | ${t.note} |`);
    }
  }
  return lines.join('\n');
}
