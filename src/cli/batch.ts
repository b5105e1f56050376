/**
 * `lrp-lens explain --images <folder> --out <folder>`: explains every PNG/JPEG in a folder with one loaded model,
 * writes each heatmap as <name>-heatmap.png and a CSV of the results (results.csv) into the --out folder. Progress:
 * a bar on stderr when it is a terminal, else a line per image at most every few seconds (and the last).
 * The images are decoded and explained in chunks of BATCH_CHUNK through the engine's explainBatch
 * (src/engine/batch.ts: one program, explanations run in sequence), then evaluated by pixel flipping one by one.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Explanation } from '../engine/api';
import { explainBatch } from '../engine/batch';
import type { PerturbationCurve } from '../evaluation/pixel-flipping';
import { heatmapImage } from '../models/colormap';
import type { ExplainCommand } from './args';
import { evaluateExplained } from './evaluate';
import { explainOptions, openSession, type Session } from './explain';
import { ExplainError, readInput } from './explain';
import { encodePng } from './image-io';

const IMAGE = /\.(png|jpe?g)$/i;
/** Images decoded and explained together (bounds the memory held: inputs and relevance of one chunk). */
export const BATCH_CHUNK = 8;
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

export interface BatchRow {
  readonly file: string;
  readonly heatmap: string;
  readonly topClass: number;
  readonly topLabel: string;
  readonly probability: number;
  readonly target: number;
  readonly targetLabel: string;
  readonly relevanceSum: number;
  readonly aopc: number;
  readonly aopcRandom: number;
  /** The pixel-flipping curves (in the --json report; the CSV has their AOPC). */
  readonly relevanceOrder?: PerturbationCurve;
  readonly randomOrder?: PerturbationCurve;
}

export interface BatchReport {
  readonly model: string;
  readonly backend: string;
  readonly composite: string;
  readonly rows: readonly BatchRow[];
  readonly failed: readonly { readonly file: string; readonly error: string }[];
  readonly csv: string;
  readonly seconds: number;
}

/** A CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
export function csvField(v: string | number): string {
  const s = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_HEADER = ['file', 'top_class', 'top_label', 'probability', 'target', 'target_label', 'relevance_sum', 'aopc', 'aopc_random'];

export function csvRow(r: BatchRow): string {
  return [r.file, r.topClass, r.topLabel, r.probability, r.target, r.targetLabel, r.relevanceSum, r.aopc, r.aopcRandom].map(csvField).join(',');
}

/** Progress on stderr: a redrawn bar on a terminal, otherwise plain lines, throttled. */
function progressReporter(stream: NodeJS.WriteStream, total: number): { update(done: number, file: string): void; end(): void } {
  const tty = stream.isTTY === true;
  let last = 0;
  return {
    update(done, file) {
      if (tty) {
        const width = 24;
        const filled = Math.round((done / total) * width);
        stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} ${file.slice(0, 40).padEnd(40)}`);
        return;
      }
      const now = Date.now();
      if (done === total || done === 1 || now - last >= 5000) {
        last = now;
        stream.write(`lrp-lens: ${done}/${total} images explained (${file})\n`);
      }
    },
    end() {
      if (tty) stream.write('\n');
    },
  };
}


/**
 * The explanations of a chunk's inputs with explainBatch; when the batch fails, each input alone, so that one bad
 * input fails alone (its error in place of its explanation).
 */
async function explainChunk(s: Session, inputs: readonly Float32Array[]): Promise<(Explanation | Error)[]> {
  const options = explainOptions({ target: s.cmd.target, contrast: s.cmd.contrast }, s.assignment);
  try {
    return await explainBatch(s.model, inputs, options);
  } catch {
    const out: (Explanation | Error)[] = [];
    for (const x of inputs) out.push(await s.model.explain(x, options).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))));
    return out;
  }
}

export async function runBatch(cmd: ExplainCommand, stderr: NodeJS.WriteStream = process.stderr): Promise<BatchReport> {
  const folder = cmd.images!;
  const out = cmd.out!;
  const t0 = performance.now();
  let names: string[];
  try {
    names = (await readdir(folder, { withFileTypes: true }))
      .filter((d) => d.isFile() && IMAGE.test(d.name))
      .map((d) => d.name)
      .sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ExplainError(`cannot read the folder ${folder}: ${code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : message(e)}`);
  }
  if (names.length === 0) throw new ExplainError(`no PNG or JPEG images in ${folder}`);
  try {
    await mkdir(out, { recursive: true });
  } catch (e) {
    throw new ExplainError(`cannot create the folder ${out}: ${(e as NodeJS.ErrnoException).code ?? message(e)}`);
  }
  const session = await openSession(cmd, (l) => stderr.write(`lrp-lens: ${l}\n`));
  const rows: BatchRow[] = [];
  const failed: { file: string; error: string }[] = [];
  const progress = progressReporter(stderr, names.length);
  // Two photos with the same stem (cat.png, cat.jpg) get their extension in the heatmap's name.
  const stem = (n: string): string => n.slice(0, n.length - extname(n).length);
  const stems = new Map<string, number>();
  for (const n of names) stems.set(stem(n), (stems.get(stem(n)) ?? 0) + 1);
  const fail = (name: string, e: unknown): void => {
    failed.push({ file: name, error: message(e) });
    if (stderr.isTTY) stderr.write('\n');
    stderr.write(`lrp-lens: ${name}: ${message(e)}\n`);
  };
  let done = 0;
  try {
    for (let start = 0; start < names.length; start += BATCH_CHUNK) {
      const chunk: { name: string; x: Float32Array; image: boolean }[] = [];
      for (const name of names.slice(start, start + BATCH_CHUNK)) {
        try {
          const { x, info } = await readInput({ ...cmd, image: join(folder, name) }, session.graph, session.card);
          chunk.push({ name, x, image: info.shape.length === 4 });
        } catch (e) {
          fail(name, e);
          progress.update(++done, name);
        }
      }
      const t1 = performance.now();
      const explained = await explainChunk(session, chunk.map((c) => c.x));
      const explainMs = (performance.now() - t1) / Math.max(1, chunk.length);
      for (const [k, { name, x, image }] of chunk.entries()) {
        try {
          const e = explained[k]!;
          if (e instanceof Error) throw e;
          const r = await evaluateExplained(session, x, e, image ? cmd.evaluation : undefined, explainMs);
          const heatmap = `${stems.get(stem(name))! > 1 ? name.replace(/\./g, '_') : stem(name)}-heatmap.png`;
          await writeFile(join(out, heatmap), encodePng(heatmapImage(r.relevance, r.inputShape, cmd.colormap, cmd.clip)));
          rows.push({
            file: name,
            heatmap,
            topClass: r.top.class,
            topLabel: r.top.label,
            probability: r.top.probability,
            target: r.explained.class,
            targetLabel: r.explained.label,
            relevanceSum: r.relevanceSum,
            aopc: r.pixelFlipping?.relevanceOrder.aopc ?? NaN,
            aopcRandom: r.pixelFlipping?.randomOrder.aopc ?? NaN,
            ...(r.pixelFlipping ? { relevanceOrder: r.pixelFlipping.relevanceOrder, randomOrder: r.pixelFlipping.randomOrder } : {}),
          });
        } catch (e) {
          fail(name, e);
        }
        progress.update(++done, name);
      }
    }
  } finally {
    progress.end();
    session.dispose();
  }
  const csv = join(out, 'results.csv');
  await writeFile(csv, `${[CSV_HEADER.join(','), ...rows.map(csvRow)].join('\n')}\n`);
  return { model: cmd.model, backend: session.backend, composite: session.composite, rows, failed, csv, seconds: (performance.now() - t0) / 1000 };
}

export function formatBatch(r: BatchReport): string[] {
  const lines = [`Explained ${r.rows.length} of ${r.rows.length + r.failed.length} images with ${r.composite} (backend ${r.backend}) in ${r.seconds.toFixed(1)} s`];
  const width = Math.max(4, ...r.rows.map((x) => x.file.length));
  for (const x of r.rows) lines.push(`  ${x.file.padEnd(width)}  ${x.topLabel} (${(100 * x.probability).toFixed(1)}%)  AOPC ${x.aopc.toFixed(4)} (random ${x.aopcRandom.toFixed(4)})`);
  for (const f of r.failed) lines.push(`  ${f.file.padEnd(width)}  FAILED: ${f.error}`);
  lines.push(`Results: ${r.csv}`);
  return lines;
}
