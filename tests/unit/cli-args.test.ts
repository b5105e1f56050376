import { describe, expect, it } from 'vitest';
import {
  COMMANDS,
  EVALUATE_OPTIONS,
  EXPLAIN_OPTIONS,
  GOLDEN_OPTIONS,
  optionHelp,
  parseArgs,
  usage,
  USAGE,
  usageHint,
  UsageError,
  type ExplainCommand,
  type ExplainLinkCommand,
  type OptionSpec,
} from '../../src/cli/args';
import { colormaps } from '../../src/models/colormap';
import { composites } from '../../src/rules/composites';

describe('lrp-lens arguments', () => {
  it('parses golden with its options', () => {
    expect(parseArgs(['golden', 'cases.json'])).toEqual({ kind: 'golden', manifest: 'cases.json', backend: 'webgpu', verbose: false });
    expect(parseArgs(['golden', '--backend', 'cpu', 'x/cases.json', '--reference=zennit', '--filter', 'cnn/', '-v'])).toEqual({
      kind: 'golden',
      manifest: 'x/cases.json',
      backend: 'cpu',
      reference: 'zennit',
      filter: 'cnn/',
      verbose: true,
    });
    expect(parseArgs(['golden', '--filter=--odd', '--', '-cases.json'])).toMatchObject({ manifest: '-cases.json', filter: '--odd' });
  });

  it('recognises help, for all commands or one', () => {
    expect(parseArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseArgs(['-h'])).toEqual({ kind: 'help' });
    expect(parseArgs(['help'])).toEqual({ kind: 'help' });
    expect(parseArgs(['golden', 'a.json', '--help'])).toEqual({ kind: 'help', command: 'golden' });
    expect(parseArgs(['explain', '-h'])).toEqual({ kind: 'help', command: 'explain' });
    expect(parseArgs(['help', 'evaluate'])).toEqual({ kind: 'help', command: 'evaluate' });
    // After "--", --help is an argument.
    expect(parseArgs(['golden', '--', '--help'])).toMatchObject({ kind: 'golden', manifest: '--help' });
  });

  const bad: [string[], RegExp][] = [
    [[], /no command/],
    [['bench'], /unknown command "bench" \(commands: explain, evaluate or golden\)/],
    [['--frobnicate'], /unknown option "--frobnicate"/],
    [['golden'], /needs a manifest/],
    [['golden', 'a.json', 'b.json'], /unexpected argument "b.json"/],
    [['golden', 'a.json', '--backend', 'metal'], /--backend must be webgpu, cpu or cpu-fast \(got "metal"\)/],
    [['golden', 'a.json', '--backend'], /--backend needs a value/],
    [['golden', 'a.json', '--reference', 'shap'], /--reference must be captum or zennit \(got "shap"\)/],
    [['golden', 'a.json', '--verbose=yes'], /--verbose takes no value/],
    [['golden', 'a.json', '--fast'], /unknown option "--fast" for golden/],
    [['golden', 'a.json', '--filtr', 'x'], /unknown option "--filtr" for golden; did you mean --filter\?/],
    [['golden', 'a.json', '--model', 'm.onnx'], /unknown option "--model" for golden/],
    [['golden', 'a.json', '-x'], /unknown option "-x" for golden/],
    [['golden', 'a.json', '--filter', 'a', '--filter', 'b'], /--filter given twice/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects ${JSON.stringify(argv)}`, () => {
      expect(() => parseArgs(argv)).toThrow(UsageError);
      expect(() => parseArgs(argv)).toThrow(message);
    });
  }
});

describe('the options the app has (parity)', () => {
  const explain = (...args: string[]) => parseArgs(['explain', '--model', 'm.onnx', '--image', 'a.png', ...args]) as ExplainCommand;

  it('--contrast, --batchnorm, --colormap, --clip, --layer and --layer-out', () => {
    expect(explain('--target', '3', '--contrast', '5', '--batchnorm', 'keep', '--colormap', 'seismic', '--clip', '99.5', '--layer', 'conv2', '--layer-out', 'l.npy')).toMatchObject({
      kind: 'explain',
      target: 3,
      contrast: 5,
      batchnorm: 'keep',
      colormap: 'seismic',
      clip: 99.5,
      layer: 'conv2',
      layerOut: 'l.npy',
    });
    expect(explain('--batchnorm=merge', '--clip=50', '--colormap=magnitude')).toMatchObject({ batchnorm: 'merge', clip: 50, colormap: 'magnitude' });
    expect(explain('--clip', '99.99').clip).toBe(99.99);
    // Defaults: bwr, no clip, BatchNorm as the composite says (undefined), the EpsilonPlusFlat composite (undefined).
    const d = explain();
    expect([d.colormap, d.clip, d.batchnorm, d.composite, d.contrast, d.layer]).toEqual(['bwr', null, undefined, undefined, undefined, undefined]);
  });

  it('a composite is matched in any letter case and kept by its id', () => {
    expect(explain('--composite', 'epsilonplusflat').composite).toBe('EpsilonPlusFlat');
    expect(explain('--composite', 'CAPTUM-DEFAULT').composite).toBe('captum-default');
  });

  it('the parity options on evaluate and explain --images; --layer-out with --link', () => {
    expect(parseArgs(['evaluate', '--model', 'm', '--image', 'a.png', '--contrast', '2', '--batchnorm', 'keep'])).toMatchObject({ kind: 'evaluate', contrast: 2, batchnorm: 'keep' });
    expect(parseArgs(['explain', '--model', 'm', '--images', 'in', '--out', 'o', '--colormap', 'coldnhot', '--clip', '98'])).toMatchObject({ images: 'in', colormap: 'coldnhot', clip: 98 });
    const link = parseArgs(['explain', '--link', 'x', '--layer', 'fc', '--layer-out', 'fc.npy']) as ExplainLinkCommand;
    expect(link).toMatchObject({ kind: 'explain-link', layer: 'fc', layerOut: 'fc.npy' });
  });

  it.each([
    [['evaluate', '--model', 'm', '--image', 'a.png', '--out', 'h.png'], /unknown option "--out" for evaluate/],
    [['evaluate', '--model', 'm', '--image', 'a.png', '--colormap', 'bwr'], /unknown option "--colormap" for evaluate/],
    [['explain', '--link', 'x', '--colormap', 'bwr'], /--colormap cannot be used with --link: the link holds .* the view/],
    [['explain', '--link', 'x', '--contrast', '2'], /--contrast cannot be used with --link/],
    [['explain', '--link', 'x', '--batchnorm', 'keep'], /--batchnorm cannot be used with --link/],
    [['explain', '--link', 'x', '--clip', '99'], /--clip cannot be used with --link/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('the help is generated from the option tables', () => {
  const tables: [string, readonly OptionSpec[]][] = [
    ['explain', EXPLAIN_OPTIONS],
    ['evaluate', EVALUATE_OPTIONS],
    ['golden', GOLDEN_OPTIONS],
  ];

  it.each(tables)('%s --help lists every option of its table with its value, default and choices', (command, options) => {
    const text = usage(command as 'explain' | 'evaluate' | 'golden');
    for (const o of options) {
      for (const line of optionHelp(o)) expect(text).toContain(line);
      const label = optionHelp(o)[0]!;
      expect(label).toMatch(new RegExp(`^  --${o.name}\\b`));
      if (o.type === 'string') expect(label).toMatch(/<.+>/);
      const flat = text.replace(/\s+/g, ' ');
      if (o.default !== undefined) expect(flat).toContain(`(default: ${o.default})`);
      for (const c of o.choices ?? []) expect(flat).toContain(c);
    }
  });

  it('every option the parser takes is in the table, and every table option is parsed', () => {
    // An option outside the table is unknown; each option of the table is accepted (with a valid value).
    const sample: Record<string, string> = {
      target: '1',
      contrast: '2',
      top: '3',
      patch: '4',
      steps: '5',
      clip: '99',
      rule: 'a=flat',
      composite: 'EpsilonPlusFlat',
      colormap: 'bwr',
      batchnorm: 'keep',
      backend: 'cpu',
      baseline: 'mean',
      reference: 'zennit',
      method: 'gradient',
      samples: '3',
      'noise-level': '0.1',
      seed: '7',
      integration: 'trapezoid',
      concept: 'conv1:0',
    };
    for (const [command, options] of tables) {
      for (const o of options) {
        if (o.name === 'help') continue;
        const flag = [`--${o.name}`, ...(o.type === 'boolean' ? [] : [sample[o.name] ?? 'x'])];
        let args: string[];
        if (command === 'golden') args = ['golden', 'c.json', ...flag];
        else if (o.name === 'link') args = [command, ...flag];
        else if (o.name === 'images' || (command === 'explain' && ['patch', 'steps', 'baseline'].includes(o.name))) {
          args = [command, '--model', 'm', '--images', 'd', '--out', 'o', ...(o.name === 'images' ? [] : flag)];
        } else {
          // --model and one input are needed; the option itself may be one of them.
          const model = o.name === 'model' ? [] : ['--model', 'm'];
          const input = o.name === 'image' || o.name === 'input' ? [] : ['--image', 'a.png'];
          const pair =
            o.name === 'layer' ? ['--layer-out', 'l.npy'] : o.name === 'layer-out' ? ['--layer', 'l'] : ['samples', 'noise-level', 'seed'].includes(o.name)
                ? ['--method', 'smoothgrad']
                : o.name === 'integration'
                  ? ['--method', 'integrated-gradients']
                  : [];
          args = [command, ...model, ...input, ...flag, ...pair];
        }
        expect(() => parseArgs(args), `${args.join(' ')}`).not.toThrow();
      }
      expect(() => parseArgs(command === 'golden' ? ['golden', 'c.json', '--not-in-the-table'] : [command, '--model', 'm', '--image', 'a.png', '--not-in-the-table'])).toThrow(
        /unknown option "--not-in-the-table"/,
      );
    }
  });

  it('the full help names every command and its synopsis; the default composite is EpsilonPlusFlat', () => {
    for (const c of COMMANDS) {
      expect(USAGE).toContain(`${c.name} options:`);
      for (const s of c.synopsis) expect(USAGE).toContain(`lrp-lens ${s}`);
    }
    const composite = EXPLAIN_OPTIONS.find((o) => o.name === 'composite')!;
    expect(composite.default).toBe('EpsilonPlusFlat');
    expect(composite.choices).toEqual(composites.map((c) => c.id));
    expect(usage('explain').replace(/\s+/g, ' ')).toContain('(default: EpsilonPlusFlat)');
    expect(EXPLAIN_OPTIONS.find((o) => o.name === 'colormap')!.choices).toEqual(colormaps.map((c) => c.id));
    // The full help names evaluate's options that are explain's instead of repeating them.
    expect(USAGE).toMatch(/evaluate options:\n {2}as explain: --model, /);
    // A usage error prints the synopsis and where the options are, not the whole help.
    expect(usageHint('golden')).toBe(`Usage:\n  lrp-lens ${COMMANDS.find((c) => c.name === 'golden')!.synopsis[0]}\nOptions: lrp-lens golden --help`);
    expect(usageHint()).toMatch(/^Usage:\n {2}lrp-lens explain .*\nOptions: lrp-lens <command> --help$/s);
    // No help line is wider than the terminal-friendly width.
    for (const line of USAGE.split('\n')) expect(line.length, line).toBeLessThanOrEqual(130);
  });
});
