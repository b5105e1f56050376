#!/usr/bin/env node
// The pixel-flipping numbers and curves in docs/evaluation.md: darknet-tiny on the four sample photos, for the
// four presets, through the CLI's batch mode (`lrp-lens explain --images ... --json`, one run per preset).
// Writes docs/evaluation-results.json, one SVG per photo (docs/evaluation-<photo>.svg: the four presets' curves
// and the random order) and prints the AOPC table as Markdown.
//
//   node scripts/evaluation-report.mjs [--steps 16] [--patch 16] [--baseline blur] [--backend cpu] [--jobs 2]
//   node scripts/evaluation-report.mjs --render      (SVGs and table again from docs/evaluation-results.json)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const docs = join(root, 'docs');
const resultsFile = join(docs, 'evaluation-results.json');
const PRESETS = ['captum-default', 'EpsilonPlusFlat', 'EpsilonGammaBox', 'EpsilonAlpha2Beta1Flat'];
const COLORS = { 'captum-default': '#8e44ad', EpsilonPlusFlat: '#c0392b', EpsilonGammaBox: '#2471a3', EpsilonAlpha2Beta1Flat: '#27ae60' };

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Runs the CLI; resolves with its stdout. */
function lrpLens(args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'lrp-lens.mjs'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`lrp-lens ${args.join(' ')} failed (exit ${code})`))));
  });
}

async function compute() {
  const settings = { patch: Number(option('--patch', '16')), steps: Number(option('--steps', '16')), baseline: option('--baseline', 'blur') };
  const backend = option('--backend', 'cpu');
  const out = mkdtempSync(join(tmpdir(), 'lrp-evaluation-'));
  const jobs = Number(option('--jobs', '2'));
  const runs = [];
  const one = async (preset) => {
    const args = [
      'explain',
      '--model', join(root, 'public', 'models', 'darknet-tiny', 'model.json'),
      '--images', resolve(root, '..', 'shared', 'samples'),
      '--out', join(out, preset),
      '--composite', preset,
      '--patch', String(settings.patch), '--steps', String(settings.steps), '--baseline', settings.baseline,
      '--backend', backend, '--json',
    ];
    const t0 = Date.now();
    const report = JSON.parse(await lrpLens(args));
    console.error(`${preset}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    runs.push({ preset, seconds: report.seconds, rows: report.rows });
  };
  // A few presets at a time (each run loads the model once and explains the four photos).
  const queue = [...PRESETS];
  await Promise.all(Array.from({ length: jobs }, async () => {
    while (queue.length) await one(queue.shift());
  }));
  runs.sort((a, b) => PRESETS.indexOf(a.preset) - PRESETS.indexOf(b.preset));
  const results = { model: 'darknet-tiny', backend, jobs, settings, date: new Date().toISOString().slice(0, 10), runs };
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 1)}\n`);
  return results;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function svgFor(photo, curves, title) {
  const W = 580, H = 300, L = 56, R = 220, T = 30, B = 42;
  const w = W - L - R, h = H - T - B;
  const ys = curves.flatMap((c) => c.scores);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  const m = (y1 - y0) * 0.05 || 1;
  y0 -= m;
  y1 += m;
  const sx = (x) => L + x * w;
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * h;
  const step = (() => {
    const raw = (y1 - y0) / 5;
    const mag = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw);
  })();
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${L}" y="${T}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
  ];
  for (let v = Math.ceil(y0 / step) * step; v <= y1; v += step) {
    parts.push(`<line x1="${L - 4}" x2="${L + w}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${L - 6}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${+v.toFixed(6)}</text>`);
  }
  for (let k = 0; k <= 4; k++) parts.push(`<text x="${sx(k / 4).toFixed(1)}" y="${T + h + 15}" text-anchor="middle">${k * 25}%</text>`);
  parts.push(`<text x="${L + w / 2}" y="${H - 6}" text-anchor="middle">patches removed (most relevant first)</text>`);
  parts.push(`<text transform="translate(14 ${T + h / 2}) rotate(-90)" text-anchor="middle">target logit</text>`);
  curves.forEach((c, i) => {
    const d = c.fractions.map((x, k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(c.scores[k]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${c.color}" stroke-width="2"${c.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    const ly = T + 10 + i * 18;
    parts.push(`<line x1="${L + w + 12}" x2="${L + w + 32}" y1="${ly}" y2="${ly}" stroke="${c.color}" stroke-width="2"${c.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    parts.push(`<text x="${L + w + 36}" y="${ly + 4}">${esc(c.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function render(results) {
  const photos = results.runs[0].rows.map((r) => r.file);
  const row = (preset, photo) => results.runs.find((r) => r.preset === preset).rows.find((r) => r.file === photo);
  const lines = [];
  lines.push(`| photo (class explained) | ${PRESETS.join(' | ')} | random order |`);
  lines.push(`| --- | ${PRESETS.map(() => '---:').join(' | ')} | ---: |`);
  const means = Object.fromEntries([...PRESETS, 'random'].map((p) => [p, 0]));
  for (const photo of photos) {
    const first = row(PRESETS[0], photo);
    const cells = PRESETS.map((p) => {
      means[p] += row(p, photo).aopc / photos.length;
      return row(p, photo).aopc.toFixed(3);
    });
    means.random += first.aopcRandom / photos.length;
    lines.push(`| ${photo} (${first.targetLabel}) | ${cells.join(' | ')} | ${first.aopcRandom.toFixed(3)} |`);
    const curves = PRESETS.map((p) => ({ label: `${p} (${row(p, photo).aopc.toFixed(2)})`, color: COLORS[p], ...row(p, photo).relevanceOrder }));
    curves.push({ label: `random (${first.aopcRandom.toFixed(2)})`, color: '#7f8c8d', dashed: true, ...first.randomOrder });
    const stem = photo.replace(/\.[^.]+$/, '');
    writeFileSync(join(docs, `evaluation-${stem}.svg`), svgFor(photo, curves, `darknet-tiny, ${photo}: ${first.targetLabel}`));
  }
  lines.push(`| mean | ${PRESETS.map((p) => means[p].toFixed(3)).join(' | ')} | ${means.random.toFixed(3)} |`);
  console.log(lines.join('\n'));
  console.log(`\n${results.runs.map((r) => `${r.preset}: ${r.seconds.toFixed(0)} s`).join(', ')}`);
}

render(process.argv.includes('--render') ? JSON.parse(readFileSync(resultsFile, 'utf8')) : await compute());
