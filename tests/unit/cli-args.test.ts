import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args';

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

  it('recognises help', () => {
    expect(parseArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseArgs(['-h'])).toEqual({ kind: 'help' });
    expect(parseArgs(['golden', 'a.json', '--help'])).toEqual({ kind: 'help' });
  });

  const bad: [string[], RegExp][] = [
    [[], /no command/],
    [['bench'], /unknown command "bench"/],
    [['--frobnicate'], /unknown option "--frobnicate"/],
    [['golden'], /needs a manifest/],
    [['golden', 'a.json', 'b.json'], /unexpected argument "b.json"/],
    [['golden', 'a.json', '--backend', 'metal'], /--backend must be webgpu or cpu/],
    [['golden', 'a.json', '--backend'], /--backend needs a value/],
    [['golden', 'a.json', '--reference', 'shap'], /--reference must be captum or zennit/],
    [['golden', 'a.json', '--verbose=yes'], /takes no value/],
    [['golden', 'a.json', '--fast'], /unknown option "--fast"/],
  ];
  for (const [argv, message] of bad) {
    it(`rejects ${JSON.stringify(argv)}`, () => {
      expect(() => parseArgs(argv)).toThrow(UsageError);
      expect(() => parseArgs(argv)).toThrow(message);
    });
  }
});
