/** `lrp-lens evaluate` and `lrp-lens explain --images` (batch): arguments, output, files, errors. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError, type EvaluateCommand, type ExplainCommand } from '../../src/cli/args';
import { csvField, runBatch } from '../../src/cli/batch';
import { formatEvaluation, runEvaluate } from '../../src/cli/evaluate';
import { decodeImage } from '../../src/cli/image-io';
import { aopc } from '../../src/evaluation/pixel-flipping';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const samples = resolve(repoRoot, '..', 'shared', 'samples');
const TINYVGG = join(repoRoot, 'public', 'models', 'tinyvgg', 'model.json');
const tmp = mkdtempSync(join(tmpdir(), 'lrp-evaluate-'));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'lrp-lens.mjs'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 180_000 });
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !/building the CLI/.test(l))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr };
}

/** A stand-in for stderr that records what is written (not a terminal: plain progress lines). */
function recorder(): NodeJS.WriteStream & { text: string } {
  const s = { text: '', isTTY: false, write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

/** CSV lines split into fields (quoted fields may hold commas). */
function parseCsv(text: string): string[][] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const out: string[] = [];
      let cur = '';
      let quoted = false;
      for (let i = 0; i < line.length; i++) {
        const ch = line[i]!;
        if (quoted) {
          if (ch === '"' && line[i + 1] === '"') {
            cur += '"';
            i++;
          } else if (ch === '"') quoted = false;
          else cur += ch;
        } else if (ch === '"') quoted = true;
        else if (ch === ',') {
          out.push(cur);
          cur = '';
        } else cur += ch;
      }
      out.push(cur);
      return out;
    });
}

describe('evaluate and batch arguments', () => {
  it('parses evaluate with its options and defaults', () => {
    expect(parseArgs(['evaluate', '--model', 'm.json', '--image', 'a.png', '--patch', '16', '--baseline', 'noise', '--steps', '8', '--json'])).toMatchObject({
      kind: 'evaluate',
      model: 'm.json',
      image: 'a.png',
      json: true,
      evaluation: { patch: 16, baseline: 'noise', steps: 8 },
    });
    const cmd = parseArgs(['evaluate', '--model', 'm.json', '--image', 'a.png', '--composite', 'EpsilonGammaBox', '--rule', 'conv1=gamma']) as EvaluateCommand;
    expect(cmd.evaluation).toEqual({ patch: 8, baseline: 'blur', steps: 16 });
    expect(cmd.composite).toBe('EpsilonGammaBox');
    expect(cmd.rules).toEqual([{ layer: 'conv1', rule: 'gamma', params: {} }]);
  });

  it('parses explain --images with an output folder', () => {
    const cmd = parseArgs(['explain', '--model', 'm.json', '--images', 'in', '--out', 'out', '--steps', '4']) as ExplainCommand;
    expect(cmd).toMatchObject({ kind: 'explain', images: 'in', out: 'out', evaluation: { patch: 8, baseline: 'blur', steps: 4 } });
    // A single-image explain is unchanged: no evaluation, no images.
    const one = parseArgs(['explain', '--model', 'm.json', '--image', 'a.png']) as ExplainCommand;
    expect(one.images).toBeUndefined();
    expect(one.evaluation).toBeUndefined();
  });

  it.each([
    [['evaluate', '--model', 'm.json'], /evaluate needs one of --image/],
    [['evaluate', '--image', 'a.png'], /evaluate needs --model/],
    [['evaluate', '--model', 'm.json', '--image', 'a.png', '--patch', '0'], /--patch must be a whole number from 1/],
    [['evaluate', '--model', 'm.json', '--image', 'a.png', '--patch', '2.5'], /--patch must be a whole number/],
    [['evaluate', '--model', 'm.json', '--image', 'a.png', '--steps', '1000'], /--steps must be a whole number from 1 to 256/],
    [['evaluate', '--model', 'm.json', '--image', 'a.png', '--baseline', 'grey'], /--baseline must be blur, mean, noise or zero/],
    [['evaluate', '--model', 'm.json', '--images', 'dir'], /unknown option "--images"/],
    [['explain', '--model', 'm.json', '--images', 'dir'], /--images needs --out <folder>/],
    [['explain', '--model', 'm.json', '--images', 'dir', '--image', 'a.png', '--out', 'o'], /cannot be combined/],
    [['explain', '--model', 'm.json', '--image', 'a.png', '--patch', '8'], /are for evaluate/],
  ])('rejects %j', (args, why) => {
    expect(() => parseArgs(args)).toThrow(UsageError);
    expect(() => parseArgs(args)).toThrow(why);
  });

  it('quotes CSV fields that need it', () => {
    expect(csvField('espresso')).toBe('espresso');
    expect(csvField('tabby, tabby cat')).toBe('"tabby, tabby cat"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField(3)).toBe('3');
    expect(csvField(0.123456789)).toBe('0.123457');
  });
});

describe('evaluate', () => {
  it('reports both curves and their AOPC (tinyvgg, CPU backend)', async () => {
    const cmd = parseArgs(['evaluate', '--model', TINYVGG, '--image', join(samples, 'coffee.png'), '--backend', 'cpu', '--patch', '16', '--steps', '4']) as EvaluateCommand;
    const r = await runEvaluate(cmd);
    expect(r.evaluation).toEqual({ patch: 16, baseline: 'blur', steps: 4, regions: 16, score: 'logit' });
    expect(r.relevanceOrder.fractions).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(r.relevanceOrder.scores).toHaveLength(5);
    // The curve starts at the explained logit, and both orders end with everything removed.
    expect(r.relevanceOrder.scores[0]).toBeCloseTo(r.explained.logit, 4);
    expect(r.randomOrder.scores[0]).toBeCloseTo(r.explained.logit, 4);
    expect(r.relevanceOrder.scores[4]).toBeCloseTo(r.randomOrder.scores[4]!, 4);
    expect(r.relevanceOrder.aopc).toBeCloseTo(aopc(r.relevanceOrder.scores), 10);
    const text = formatEvaluation(r).join('\n');
    expect(text).toMatch(/AOPC relevance order: -?\d+\.\d{4}/);
    expect(text).toMatch(/AOPC random order: +-?\d+\.\d{4}/);
    expect(text).toContain('16 patches of 16x16, baseline blur, 4 steps');
  }, 120_000);

  it('prints the AOPC from the command line, and fails with one line on a bad input', () => {
    const r = cli(['evaluate', '--model', TINYVGG, '--image', join(samples, 'chelsea.png'), '--backend', 'cpu', '--patch', '16', '--steps', '4', '--baseline', 'mean']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/AOPC relevance order: -?\d+\.\d{4}\nAOPC random order: +-?\d+\.\d{4}/);
    expect(r.stdout.trim().split('\n').slice(-5)).toHaveLength(5);

    const json = cli(['evaluate', '--model', TINYVGG, '--image', join(samples, 'chelsea.png'), '--backend', 'cpu', '--patch', '16', '--steps', '2', '--json']);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as { relevanceOrder: { aopc: number; scores: number[] }; randomOrder: { aopc: number } };
    expect(report.relevanceOrder.scores).toHaveLength(3);
    expect(Number.isFinite(report.randomOrder.aopc)).toBe(true);

    const missing = cli(['evaluate', '--model', TINYVGG, '--image', join(tmp, 'nope.png'), '--backend', 'cpu']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`lrp-lens: cannot read the image ${join(tmp, 'nope.png')}: no such file`);

    const tooBig = cli(['evaluate', '--model', TINYVGG, '--image', join(samples, 'chelsea.png'), '--backend', 'cpu', '--patch', '100']);
    expect(tooBig.status).toBe(1);
    expect(tooBig.stderr).toBe('lrp-lens: pixel flipping: patch must be an integer from 1 to 64');

    const usage = cli(['evaluate', '--model', TINYVGG, '--image', join(samples, 'chelsea.png'), '--baseline', 'grey']);
    expect(usage.status).toBe(2);
    expect(usage.stderr.split('\n')[0]).toBe('lrp-lens: --baseline must be blur, mean, noise or zero (got "grey")');
  }, 240_000);
});

describe('explain --images (batch)', () => {
  it('explains every sample photo: 4 heatmap PNGs and a CSV with 4 rows', async () => {
    const out = join(tmp, 'batch');
    const cmd = parseArgs(['explain', '--model', TINYVGG, '--images', samples, '--out', out, '--backend', 'cpu', '--patch', '16', '--steps', '4']) as ExplainCommand;
    const err = recorder();
    const r = await runBatch(cmd, err);
    expect(r.failed).toEqual([]);
    const files = readdirSync(out).sort();
    expect(files).toEqual(['astronaut-heatmap.png', 'chelsea-heatmap.png', 'coffee-heatmap.png', 'results.csv', 'rocket-heatmap.png']);
    for (const f of files.filter((f) => f.endsWith('.png'))) {
      const img = decodeImage(new Uint8Array(readFileSync(join(out, f))), f);
      expect([img.width, img.height]).toEqual([64, 64]);
    }
    const rows = parseCsv(readFileSync(join(out, 'results.csv'), 'utf8'));
    expect(rows[0]).toEqual(['file', 'top_class', 'top_label', 'probability', 'target', 'target_label', 'relevance_sum', 'aopc', 'aopc_random']);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg']);
    for (const row of rows.slice(1)) {
      expect(row).toHaveLength(9);
      const [, top, , p, target, , sum, a, ar] = row.map(Number);
      expect(Number.isInteger(top)).toBe(true);
      expect(target).toBe(top);
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThanOrEqual(1);
      for (const v of [sum, a, ar]) expect(Number.isFinite(v)).toBe(true);
    }
    expect(rows[1]).toEqual(expect.arrayContaining([r.rows[0]!.topLabel]));
    // Not a terminal: plain progress lines, the last one saying all were explained.
    expect(err.text.trim().split('\n').at(-1)).toBe('lrp-lens: 4/4 images explained (rocket.jpg)');
  }, 240_000);

  it('fails with one line for a missing or empty folder, and goes on past an unreadable image', async () => {
    const base = ['explain', '--model', TINYVGG, '--backend', 'cpu', '--out', join(tmp, 'o')];
    await expect(runBatch(parseArgs([...base, '--images', join(tmp, 'absent')]) as ExplainCommand, recorder())).rejects.toThrow(
      `cannot read the folder ${join(tmp, 'absent')}: no such folder`,
    );
    mkdirSync(join(tmp, 'empty'));
    await expect(runBatch(parseArgs([...base, '--images', join(tmp, 'empty')]) as ExplainCommand, recorder())).rejects.toThrow(
      `no PNG or JPEG images in ${join(tmp, 'empty')}`,
    );
    const mixed = join(tmp, 'mixed');
    mkdirSync(mixed);
    writeFileSync(join(mixed, 'broken.png'), 'not a png');
    writeFileSync(join(mixed, 'cat.png'), readFileSync(join(samples, 'chelsea.png')));
    const err = recorder();
    const r = await runBatch(parseArgs([...base, '--images', mixed, '--steps', '2']) as ExplainCommand, err);
    expect(r.rows.map((x) => x.file)).toEqual(['cat.png']);
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]!.file).toBe('broken.png');
    expect(err.text).toContain('lrp-lens: broken.png: ');
  }, 120_000);
});
