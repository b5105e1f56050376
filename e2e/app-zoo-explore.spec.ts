import { resolve } from 'node:path';
import { test } from 'playwright/test';
for (const name of ['densenet', 'inception_v3', 'efficientnet_b0', 'mobilenet_v3_small', 'regnet_y_400mf', 'convnext_opset17']) {
test('explore ' + name, async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none&backend=cpu');
  await page.getByLabel('Open model', { exact: true }).setInputFiles(resolve(`tests/fixtures/zoo/${name}.onnx`));
  await page.waitForTimeout(3000);
  await page.getByRole('button', { name: 'Expand all groups' }).click().catch(() => console.log('no expand'));
  const rows = await page.locator('table.layers tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.children).map((c) => { const s = c.querySelector('select'); return s ? `${(s as HTMLSelectElement).value} [${Array.from((s as HTMLSelectElement).options).map(o=>o.value).join(',')}]` : c.textContent; })));
  const byOp = new Map<string, string>();
  for (const r of rows) if (r.length >= 4 && !byOp.has(r[1]!)) byOp.set(r[1]!, r.join(' | '));
  console.log(name, '\n' + [...byOp.values()].join('\n'));
  console.log(await page.locator('.layer-tools').textContent());
});
}
