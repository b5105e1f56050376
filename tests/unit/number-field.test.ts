// The number boxes' check on commit (app/components/NumberField.tsx).
import { describe, expect, it } from 'vitest';
import { numberProblem, parseNumberList } from '../../app/components/NumberField';

describe('numberProblem', () => {
  it('accepts decimal numbers within the range', () => {
    for (const t of ['99.5', ' 50 ', '99.99', '.5e2', '7.5E1']) expect(numberProblem(t, 50, 99.99), t).toBeNull();
  });
  it('names what is wrong otherwise', () => {
    expect(numberProblem('', 50, 99.99)).toBe('Enter a number from 50 to 99.99.');
    expect(numberProblem('abc', 50, 99.99)).toBe('“abc” is not a number: enter one from 50 to 99.99.');
    expect(numberProblem('0x10', 0, 100)).toMatch(/not a number/);
    expect(numberProblem('Infinity', 0, 100)).toMatch(/not a number/);
    expect(numberProblem('9', 50, 99.99)).toBe('9 is out of range: enter a number from 50 to 99.99.');
    expect(numberProblem('100', 50, 99.99)).toMatch(/out of range/);
    expect(numberProblem('1e999', 0, 1e6)).toMatch(/not a finite number/);
  });
});

describe('parseNumberList', () => {
  it('takes one number or one per channel', () => {
    expect(parseNumberList('-2.1', 3)).toEqual({ value: -2.1 });
    expect(parseNumberList('-2.1, -2 ,-1.8', 3)).toEqual({ value: [-2.1, -2, -1.8] });
    expect(parseNumberList('1 2 3', 3)).toEqual({ value: [1, 2, 3] });
  });
  it('says what is wrong otherwise', () => {
    expect(parseNumberList('', 3)).toEqual({ problem: 'Enter one number, or 3 (one per channel).' });
    expect(parseNumberList('1, x', 3)).toEqual({ problem: '“x” is not a number: enter one number, or 3 (one per channel), separated by commas.' });
    expect(parseNumberList('1, 2', 3)).toEqual({ problem: '2 numbers: enter one number, or 3 (one per channel).' });
    expect(parseNumberList('1, 2', 1)).toEqual({ problem: '2 numbers: enter one number.' });
  });
});
