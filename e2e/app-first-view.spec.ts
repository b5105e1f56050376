// The first impression (issue 17): the preset the page starts with, what a built-in model's classes cover, a whole
// model folder opened at once (which file is used, which are not, the class names beside it, the preprocessing that
// is only a guess), and the small things around them (sample highlight, image size, a link waiting for its files,
// the drop hint). Run against dist/app like app.spec.ts; everything through accessible names where there is one.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from 'playwright/test';
import { encodeShareState } from '../src/share/share-codec';
import type { ShareState } from '../src/share/share-state';
import { BOTH, guardPage, modelMenu, nextExplanation, open } from './helpers';

const here = dirname(fileURLToPath(import.meta.url));
const shared = resolve(here, '..', '../shared');
const goldens = resolve(here, '..', process.env.LRP_LENS_GOLDENS ?? '../shared/goldens');
const RESNET20 = resolve(shared, 'models/resnet20-cifar10');
const CIFAR10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

guardPage();

const predictions = (page: Page) => page.getByRole('list', { name: 'Predictions', exact: true }).getByRole('listitem');
const topClass = (page: Page) => predictions(page).first().locator('.class-name');
const notes = (page: Page) => page.getByRole('list', { name: 'Notes on this model', exact: true });
const guessNotice = (page: Page) => page.getByRole('note', { name: 'The preprocessing is a guess', exact: true });

// ---------------------------------------------------------------------------------------------------------------

test('the page starts with EpsilonPlusFlat, and TinyVGG says its 10 classes have no cat', BOTH, async ({ page }) => {
  await open(page, '?model=tinyvgg&image=chelsea.png');
  const preset = page.getByRole('combobox', { name: 'Preset', exact: true });
  await expect(preset).toHaveValue('EpsilonPlusFlat');
  await expect(preset.locator('option:checked')).toHaveText('EpsilonPlusFlat');
  // Its rules: Flat on the first layer, ZPlus on the other convolutions.
  await expect(page.getByRole('combobox', { name: 'Rule for conv_1_1', exact: true })).toHaveValue('flat');
  await expect(page.getByRole('combobox', { name: 'Rule for conv_2_1', exact: true })).toHaveValue('zplus');
  // The menu's names fit it, and the full name is its title.
  await expect(modelMenu(page)).toHaveAttribute('title', 'TinyVGG (10 classes)');
  await expect(modelMenu(page).locator('option:checked')).toHaveText('TinyVGG (10 classes)');
  // What its classes cover, from its model card: a cat photo gets one of these 10.
  const classes = page.getByLabel('Classes of this model', { exact: true });
  await expect(classes).toContainText('10 Tiny ImageNet classes');
  await expect(classes).toContainText('no cat');
  // A built-in model's preprocessing comes from its card: no guess to warn about.
  await expect(guessNotice(page)).toHaveCount(0);
});

test('a model folder: X.onnx is opened, its variant and LICENSE are named as not used, classes.json names the classes, and the guessed preprocessing is said', BOTH, async ({ page }) => {
  const n = await open(page, '?model=tinyvgg&image=chelsea.png');
  await page
    .getByLabel('Open model', { exact: true })
    .setInputFiles(['LICENSE', 'classes.json', 'resnet20_cifar10.legacy.onnx', 'resnet20_cifar10.onnx', 'resnet20_cifar10.onnx.data'].map((f) => resolve(RESNET20, f)));
  const m = await nextExplanation(page, n);
  await expect(modelMenu(page)).toHaveValue(/^user:/);
  await expect(modelMenu(page).locator('option:checked')).toHaveText('Your model: resnet20_cifar10.onnx');
  // Which file was opened, with what, and which were not used (and why).
  await expect(notes(page)).toContainText('Opened resnet20_cifar10.onnx with resnet20_cifar10.onnx.data.');
  await expect(notes(page)).toContainText('Class names from classes.json (10).');
  await expect(notes(page)).toContainText('Not used: resnet20_cifar10.legacy.onnx (another export of the same model: of resnet20_cifar10.onnx and its variants, resnet20_cifar10.onnx is opened), LICENSE (not part of a model).');
  // The labels are CIFAR-10's, not "class 3".
  await expect(predictions(page)).toHaveCount(5);
  for (const name of await predictions(page).locator('.class-name').allTextContents()) expect(CIFAR10).toContain(name);
  await expect(page.getByLabel('Classes of this model', { exact: true })).toHaveCount(0);
  // No card.json: the preprocessing is a guess, and the notice says so and where to set it.
  const notice = guessNotice(page);
  await expect(notice).toBeVisible();
  await expect(notice).toContainText('The preprocessing is a guess.');
  await expect(notice).toContainText('Mean [0]');
  await expect(notice).toContainText('Std [1]');
  await expect(notice).toContainText('Set Resize, Scale, Mean and Std below as the model was trained');
  // The notes in order: the file opened, the files not used, the class names.
  await expect(notes(page).getByRole('listitem').nth(0)).toHaveText('Opened resnet20_cifar10.onnx with resnet20_cifar10.onnx.data.');
  await expect(notes(page).getByRole('listitem').nth(1)).toHaveText(/^Not used: resnet20_cifar10\.legacy\.onnx/);
  await expect(notes(page).getByRole('listitem').nth(2)).toHaveText('Class names from classes.json (10).');
  // Setting it as the model was trained (ImageNet's mean and std): the notice goes, and the cat is a cat.
  await notice.getByRole('button', { name: "Fill in ImageNet's mean and std", exact: true }).click();
  await expect(page.getByRole('textbox', { name: 'Mean', exact: true })).toHaveValue('0.485, 0.456, 0.406');
  await expect(page.getByRole('textbox', { name: 'Std', exact: true })).toHaveValue('0.229, 0.224, 0.225');
  await page.getByRole('button', { name: 'Apply preprocessing', exact: true }).click();
  await nextExplanation(page, m);
  await expect(guessNotice(page)).toHaveCount(0);
  await expect(topClass(page)).toHaveText('cat');
});

test('several unrelated models at once are refused, naming them; the model before stays open', BOTH, async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none');
  await expect(modelMenu(page)).toHaveValue('tinyvgg');
  await page.getByLabel('Open model', { exact: true }).setInputFiles([resolve(goldens, 'cnn.onnx'), resolve(goldens, 'cnn.onnx.data'), resolve(goldens, 'lenet.onnx'), resolve(goldens, 'lenet.onnx.data')]);
  const alert = page.getByRole('alert').filter({ hasText: 'several models were given (cnn.onnx, lenet.onnx)' });
  await expect(alert).toBeVisible();
  await expect(alert).toContainText('open one model at a time');
  await expect(alert).toContainText('TinyVGG');
  await expect(modelMenu(page)).toHaveValue('tinyvgg');
});

test('a model opened from its file alone gets a preprocessing notice and unnamed classes said so', BOTH, async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none');
  await expect(modelMenu(page)).toHaveValue('tinyvgg');
  await page.getByLabel('Open model', { exact: true }).setInputFiles(resolve(RESNET20, 'resnet20_cifar10.legacy.onnx'));
  await expect(modelMenu(page)).toHaveValue(/^user:/, { timeout: 60_000 });
  await expect(guessNotice(page)).toBeVisible();
  await expect(page.getByLabel('Classes of this model', { exact: true })).toContainText('10 classes without names');
});

test('a photo given under a sample’s name does not light up the sample; the sample itself does', BOTH, async ({ page }) => {
  let n = await open(page, '?model=tinyvgg&image=coffee.png');
  const chelsea = page.getByRole('button', { name: 'Chelsea the cat', exact: true });
  await expect(chelsea).toHaveAttribute('aria-pressed', 'false');
  // coffee.png's bytes, dropped as "chelsea.png".
  await page.evaluate(async () => {
    const blob = await (await fetch('/samples/coffee.png')).blob();
    const data = new DataTransfer();
    data.items.add(new File([blob], 'chelsea.png', { type: blob.type }));
    const target = document.querySelector('.app')!;
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  n = await nextExplanation(page, n);
  await expect(page.getByText(/^Image: chelsea\.png \(\d+ x \d+\)$/)).toBeVisible();
  await expect(chelsea).toHaveAttribute('aria-pressed', 'false');
  await expect(page.getByRole('button', { name: 'A cup of coffee', exact: true })).toHaveAttribute('aria-pressed', 'false');
  await chelsea.click();
  await nextExplanation(page, n);
  await expect(chelsea).toHaveAttribute('aria-pressed', 'true');
});

test('the drop hint hides the page under it: an opaque background', BOTH, async ({ page }) => {
  await page.goto('/?model=tinyvgg&image=none');
  await expect(modelMenu(page)).toHaveValue('tinyvgg');
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(['x'], 'photo.png', { type: 'image/png' }));
    document.querySelector('.app')!.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  const hint = page.locator('.drop-hint');
  await expect(hint).toBeVisible();
  const alpha = await hint.evaluate((e) => {
    const m = /rgba?\(([^)]+)\)/.exec(getComputedStyle(e).backgroundColor)!;
    const parts = m[1]!.split(',').map(Number);
    return parts.length === 4 ? parts[3]! : 1;
  });
  expect(alpha).toBeGreaterThanOrEqual(0.9);
});

test('a link with its sender’s own model says what it waits for; its image’s size is said once', BOTH, async ({ page }) => {
  const rgb = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 37) % 256);
  const state: ShareState = {
    version: 1,
    model: { kind: 'user', name: 'my-net.onnx', sha256: 'ab'.repeat(32) },
    image: { kind: 'pixels', width: 64, height: 64, rgb },
    target: null,
    contrast: null,
    preset: 'EpsilonPlusFlat',
    presetParams: {},
    overrides: {},
    mergeBatchNorm: true,
    view: { colormap: 'bwr', opacity: 0.7, clip: false, clipPercentile: 99.5, inspect: null },
  };
  await page.goto(`/#${encodeShareState(state)}`);
  await expect(modelMenu(page).locator('option:checked')).toHaveText('(waiting for your files: my-net.onnx)');
  await expect(page.getByText('Image: shared image (64 x 64)', { exact: true })).toBeVisible();
  // The menu never claims to be opening something while it waits for the user.
  await expect(modelMenu(page).locator('option', { hasText: 'opening' })).toHaveCount(0);
});
