/**
 * `lrp-lens explain --images <folder> --out <folder>`: explains every PNG/JPEG in a folder with one loaded model,
 * writes each heatmap as <name>-heatmap.png and a CSV of the results (results.csv) into the --out folder. Progress:
 * a bar on stderr when it is a terminal, else a line per image at most every few seconds (and the last).
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { PerturbationCurve } from '../evaluation/pixel-flipping';
import { channelSum, heatmapRgba } from '../models/heatmap';
import type { ExplainCommand } from './args';
import { explainAndEvaluate } from './evaluate';
import { openSession } from './explain';
import { ExplainError, readInput } from './explain';
import { encodePng } from './image-io';

const IMAGE = /\.(png|jpe?g)$/i;
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
  try {
    for (const [i, name] of names.entries()) {
      try {
        const { x, info } = await readInput({ ...cmd, image: join(folder, name) }, session.graph, session.card);
        const r = await explainAndEvaluate(session, x, info.shape.length === 4 ? cmd.evaluation : undefined);
        const heatmap = `${stems.get(stem(name))! > 1 ? name.replace(/\./g, '_') : stem(name)}-heatmap.png`;
        await writeFile(join(out, heatmap), encodePng(heatmapRgba(channelSum(r.relevance, r.inputShape))));
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
        failed.push({ file: name, error: message(e) });
        if (stderr.isTTY) stderr.write('\n');
        stderr.write(`lrp-lens: ${name}: ${message(e)}\n`);
      }
      progress.update(i + 1, name);
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
