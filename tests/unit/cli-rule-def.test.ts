/**
 * `explain --rule-def file.json`: custom rules from files (one definition or a list), their errors (the path, JSON
 * syntax with the line and column, validation), and a re-defined built-in rule giving the built-in's relevance.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseArgs, type ExplainCommand } from '../../src/cli/args';
import { ExplainError, readRuleDefs, runExplain } from '../../src/cli/explain';
import { EXAMPLE_RULE_SPECS } from '../../src/rules/custom-rules';
import { runExplainLink } from '../../src/cli/link';
import { encodeShareState } from '../../src/share/share-codec';
import type { ShareState } from '../../src/share/share-state';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TINYVGG = join(repoRoot, 'public', 'models', 'tinyvgg', 'model.json');
const COFFEE = join(repoRoot, 'public', 'samples', 'coffee.png');
const tmp = mkdtempSync(join(tmpdir(), 'lrp-rule-def-'));

const write = (name: string, text: string): string => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};
const [EPSILON, ZPLUS, GAMMA] = EXAMPLE_RULE_SPECS;
const one = write('gamma.json', JSON.stringify(GAMMA, null, 2));
const list = write('two.json', JSON.stringify([EPSILON, ZPLUS], null, 2));

const explain = (args: string[]): ExplainCommand => {
  const cmd = parseArgs(['explain', '--backend', 'cpu', ...args]);
  if (cmd.kind !== 'explain') throw new Error('not explain');
  return cmd;
};

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ExplainError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('--rule-def', () => {
  it('is repeatable and kept in order', () => {
    const cmd = explain(['--model', 'm.onnx', '--image', 'x.png', '--rule-def', one, '--rule-def=' + list]);
    expect(cmd.ruleDefFiles).toEqual([one, list]);
    expect(explain(['--model', 'm.onnx', '--image', 'x.png']).ruleDefFiles).toBeUndefined();
  });

  it('reads one definition or a list; names the file for what is wrong', async () => {
    expect((await readRuleDefs([one, list])).map((d) => d.id)).toEqual(['my.gamma', 'my.epsilon', 'my.zplus']);
    expect(await failure(readRuleDefs([join(tmp, 'nope.json')]))).toBe(`cannot read the rule definitions ${join(tmp, 'nope.json')}: no such file`);
    const syntax = write('syntax.json', '{\n  "id": "my.x",\n  "label": "X",,\n}');
    expect(await failure(readRuleDefs([syntax]))).toMatch(new RegExp(`^--rule-def ${syntax.replace(/[.]/g, '\\.')}: not valid JSON at line 3, column 16 \\(`));
    const invalid = write('invalid.json', JSON.stringify({ ...EPSILON, program: { groups: [{ terms: [{ input: 'identity', weight: 'abs' }], bias: 'identity', stabilizer: { epsilon: 1e-6 } }] } }));
    expect(await failure(readRuleDefs([invalid]))).toMatch(/invalid\.json "my\.epsilon": program\.groups\[0\]\.terms\[0\]\.weight "abs" is not a parameter modifier/);
    expect(await failure(readRuleDefs([one, write('again.json', JSON.stringify(GAMMA))]))).toMatch(/again\.json: rule "my\.gamma" is already defined in .*gamma\.json/);
  });

  it('a re-defined ZPlus and Gamma give the built-in relevance, bit for bit; an undefined custom rule is named', async () => {
    const run = async (name: string, args: string[]) => {
      const rel = join(tmp, `${name}.npy`);
      const r = await runExplain(explain(['--model', TINYVGG, '--image', COFFEE, '--target', '3', '--relevance-out', rel, ...args]));
      return { report: r, bytes: readFileSync(rel) };
    };
    const builtin = await run('builtin', ['--rule', '#1=zplus', '--rule', '#2=gamma:gamma=0.5']);
    const custom = await run('custom', ['--rule-def', one, '--rule-def', list, '--rule', '#1=my.zplus', '--rule', '#2=my.gamma:gamma=0.5']);
    expect(custom.report.rules.map((r) => r.rule)).toEqual(['my.zplus', 'my.gamma']);
    expect(custom.report.relevanceSum).toBe(builtin.report.relevanceSum);
    expect(Buffer.compare(custom.bytes, builtin.bytes)).toBe(0);
    expect(await failure(runExplain(explain(['--model', TINYVGG, '--image', COFFEE, '--rule', '#1=my.zplus'])))).toMatch(
      /unknown rule "my\.zplus"$/,
    );
  });
});

describe('explain --link with custom rules', () => {
  it("a link's custom rules (version 4) give the relevance of the built-in rules they re-define", async () => {
    const state = (overrides: ShareState['overrides'], ruleDefs?: ShareState['ruleDefs']): ShareState => ({
      version: 1,
      model: { kind: 'builtin', id: 'tinyvgg' },
      image: { kind: 'sample', id: 'coffee.png' },
      target: 4,
      contrast: null,
      preset: 'EpsilonPlusFlat',
      presetParams: {},
      overrides,
      mergeBatchNorm: true,
      view: { colormap: 'bwr', opacity: 0.7, clip: false, clipPercentile: 99.5, inspect: null },
      ...(ruleDefs ? { ruleDefs } : {}),
    });
    const run = async (name: string, s: ShareState) => {
      const rel = join(tmp, `link-${name}.npy`);
      const cmd = parseArgs(['explain', '--backend', 'cpu', '--link', `http://localhost:4173/#${encodeShareState(s)}`, '--relevance-out', rel]);
      if (cmd.kind !== 'explain-link') throw new Error('not explain --link');
      const warnings: string[] = [];
      await runExplainLink(cmd, (l) => warnings.push(l));
      return { bytes: readFileSync(rel), warnings };
    };
    const builtin = await run('builtin', state({ conv_1_2: { rule: 'gamma', params: { gamma: 0.5 } } }));
    const custom = await run('custom', state({ conv_1_2: { rule: 'my.gamma', params: { gamma: 0.5 } } }, [GAMMA!]));
    expect(custom.warnings.filter((w) => /left out|warning/.test(w))).toEqual([]);
    expect(Buffer.compare(custom.bytes, builtin.bytes)).toBe(0);
  });
});
