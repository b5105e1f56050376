/**
 * docs/operators.md is generated from the importer and rule tables; this test fails when it drifts from them.
 * `npm run docs:operators` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { operatorTableMarkdown } from '../../src/engine/onnx/operator-table';
import { SUPPORTED_ONNX_OPS } from '../../src/engine/onnx/import-onnx';
import { ONNX_TABLE } from '../../src/engine/onnx/onnx-table';

const file = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'docs', 'operators.md');

it('docs/operators.md is the table the importers implement', () => {
  const generated = operatorTableMarkdown();
  if (process.env.UPDATE_DOCS === '1') writeFileSync(file, generated);
  expect(readFileSync(file, 'utf8')).toBe(generated);
});

it('every ONNX operator the importer accepts is in the table or folded at load', () => {
  const doc = operatorTableMarkdown();
  for (const op of SUPPORTED_ONNX_OPS) expect(doc, op).toMatch(new RegExp(`(\\| ${op} \\||(^|[ ,])${op}([,.]|$))`, 'm'));
  // Every table entry is a real mapping (no op is listed without one).
  for (const [op, entry] of ONNX_TABLE) expect(typeof entry.mapping.map, op).toBe('function');
});

it('every op is registered under its own name (OpType is the registry\'s keys)', async () => {
  const { ops } = await import('../../src/engine/ops/registry');
  for (const [key, def] of Object.entries(ops)) expect(def.op).toBe(key);
});
