#!/usr/bin/env node
// npm run test:package: the `lrp-lens` package as a consumer gets it (docs/api.md).
//  1. builds it (npm run build:lib: the library into dist/lib, the CLI into dist/cli) and packs it (npm pack);
//  2. installs the tarball into a fresh project in a temporary folder (npm install <tarball>, from the npm cache),
//     beside a link to ../shared, so that docs/api.md's paths (../shared/goldens/...) hold there;
//  3. type-checks a TypeScript consumer against the shipped declarations (moduleResolution nodenext and bundler);
//  4. runs docs/api.md's Node example, taken from the page, with plain `node` on the CPU backend and (where Dawn
//     can find an adapter, through scripts/with-dawn-env.mjs) on WebGPU, and checks its relevance against the
//     golden case below within the goldens' tolerance (relL2 <= max(1e-4, 4 f32_rel_err));
//  5. runs the installed CLI once (lrp-lens explain --json);
//  6. bundles docs/api.md's browser example with esbuild, serves it on port 4175 (node:http) and opens it in
//     headless Chromium (playwright, /usr/bin/chromium): the URL-loaded explanation is checked against the golden
//     case, then the file picker gets cnn.onnx and cnn.onnx.data as File objects.
// Options: --no-build (use dist/ as it is), --keep (keep the temporary folder). Exit status 0 when all passed.
// Chromium is shared with other Playwright runs: run it as `flock /tmp/e2e.lock npm run test:package` there.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHROMIUM_LIB_DIR, DAWN_NODE_FLAGS, SWIFTSHADER_ICD, SYSTEM_ICD_DIRS } from './dawn-env.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const shared = resolve(root, '..', 'shared');
const goldens = join(shared, 'goldens');
const CASE_ID = 'cnn/zennit/EpsilonPlusFlat/top';
const PORT = 4175;
const args = new Set(process.argv.slice(2));
const t0 = Date.now();

let failures = 0;
const log = (line) => console.log(`test-package: ${line}`);
const pass = (what) => log(`PASS  ${what}`);
const fail = (what) => {
  failures++;
  log(`FAIL  ${what}`);
};
const seconds = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;

/** Runs a command; its output is returned (and shown when it fails). Throws on failure unless `allowFail`. */
function run(command, argv, { cwd = root, env = process.env, timeout = 180_000, allowFail = false } = {}) {
  const r = spawnSync(command, argv, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if ((r.status !== 0 || r.error) && !allowFail) {
    throw new Error(`${[command, ...argv].join(' ')} (in ${cwd}) ${r.error ? `failed: ${r.error.message}` : `exited with ${r.status ?? r.signal}`}\n${out.trim()}`);
  }
  return { status: r.status, out, stdout: r.stdout ?? '' };
}

/** As run(), without blocking the event loop (the HTTP server below answers the child). */
function runAsync(command, argv, { cwd = root, timeout = 120_000 } = {}) {
  return new Promise((done) => {
    const child = spawn(command, argv, { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      done({ status: status ?? signal, stdout, out: stdout + stderr });
    });
  });
}

/** The code block following `<!-- example: NAME ... -->` in docs/api.md. */
function docExample(name) {
  const doc = readFileSync(join(root, 'docs/api.md'), 'utf8');
  const m = new RegExp(`<!-- example: ${name}\\b[^>]*-->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!m) throw new Error(`docs/api.md has no code block after <!-- example: ${name} -->`);
  return m[1];
}

if (!existsSync(join(goldens, 'cases.json'))) {
  console.error(`test-package: ${join(goldens, 'cases.json')} is missing: the golden cases live in ../shared beside this repository`);
  process.exit(1);
}
const manifest = JSON.parse(readFileSync(join(goldens, 'cases.json'), 'utf8'));
const golden = manifest.cases.find((c) => c.id === CASE_ID);
if (!golden) throw new Error(`${CASE_ID} is not in ${join(goldens, 'cases.json')}`);
const tolerance = typeof golden.f32_rel_err === 'number' ? Math.max(1e-4, 4 * golden.f32_rel_err) : 1e-3;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// 1. Build and pack -----------------------------------------------------------------------------------------------
if (!args.has('--no-build')) {
  log('building the package (npm run build:lib)');
  run(npm, ['run', 'build:lib', '--silent'], { timeout: 300_000 });
}
for (const f of ['dist/lib/index.js', 'dist/lib/node.js', 'dist/lib/index.d.ts', 'dist/lib/node.d.ts', 'dist/cli/lrp-lens.mjs']) {
  if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run npm run build:lib`);
}
const tmp = mkdtempSync(join(tmpdir(), 'lrp-lens-package-'));
const project = join(tmp, 'project');
let server;
let browser;
try {
  const packed = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', tmp]).stdout)[0];
  const tarball = join(tmp, packed.filename);
  const shipped = new Set(packed.files.map((f) => f.path));
  const needed = ['package.json', 'dist/lib/index.js', 'dist/lib/node.js', 'dist/lib/index.d.ts', 'dist/lib/node.d.ts', 'dist/lib/types.d.ts', 'dist/cli/lrp-lens.mjs', 'bin/lrp-lens.mjs', 'scripts/launch-bundle.mjs', 'scripts/dawn-env.mjs'];
  const missing = needed.filter((f) => !shipped.has(f));
  const extra = [...shipped].filter((f) => /^(src|app|tests|public|node_modules)\//.test(f));
  if (missing.length || extra.length) fail(`npm pack: ${missing.length ? `missing ${missing.join(', ')}` : ''}${extra.length ? ` ships ${extra.slice(0, 5).join(', ')}...` : ''}`);
  else pass(`npm pack: ${packed.filename}, ${packed.files.length} files, ${(packed.size / 1e6).toFixed(1)} MB`);

  // 2. A fresh project, beside ../shared ------------------------------------------------------------------------
  mkdirSync(project);
  symlinkSync(shared, join(tmp, 'shared'), 'dir');
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'lrp-lens-consumer', private: true, type: 'module' }, null, 2)}\n`);
  log(`installing ${packed.filename} into ${project}`);
  run(npm, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, timeout: 300_000 });
  pass(`npm install <tarball> in a fresh project (${seconds()})`);

  // 3. Types ----------------------------------------------------------------------------------------------------
  writeFileSync(
    join(project, 'consumer.ts'),
    [
      "import { loadModel, parseNpy, PRESETS, LrpLensError, type Explanation, type LrpModel, type RuleAssignment } from 'lrp-lens';",
      "import { loadModel as loadFromPath, readNpy, webgpuEnvironment } from 'lrp-lens/node';",
      "const rules: RuleAssignment = { preset: 'EpsilonPlusFlat', layers: [{ layer: '#0', rule: 'gamma', gamma: 0.25 }] };",
      "const byLayer: RuleAssignment = { preset: 'EpsilonGammaBox', presetParams: { low: -3, high: 3 }, layers: { conv1: { rule: 'flat' } } };",
      'export async function main(files: File[]): Promise<number> {',
      "  const a: LrpModel = await loadModel(files, { backend: 'auto', batchNorm: 'layer' });",
      "  const b: LrpModel = await loadFromPath('model.onnx', { backend: 'cpu', modelData: 'model.onnx.data' });",
      '  const x = (await readNpy(\'x.npy\')).data;',
      "  const e: Explanation = await a.explain(x, { target: 1, contrastTarget: 2, rules, layers: ['conv1'] });",
      '  await b.explain(parseNpy(new ArrayBuffer(0)).data, { rules: byLayer, layers: true });',
      '  const env: Readonly<Record<string, string>> | null = webgpuEnvironment().env;',
      '  // @ts-expect-error: not a backend',
      "  await loadModel('m.onnx', { backend: 'metal' });",
      '  return e.relevance.length + e.layers.length + PRESETS.length + (env ? 1 : 0) + (new LrpLensError(\'x\') instanceof Error ? 1 : 0);',
      '}',
      '',
    ].join('\n'),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const [module, resolution] of [['nodenext', 'nodenext'], ['esnext', 'bundler']]) {
    // No @types here: the declarations must stand on their own (ES2023 and DOM only).
    const compilerOptions = { noEmit: true, strict: true, skipLibCheck: false, target: 'es2022', lib: ['es2023', 'dom'], types: [], module, moduleResolution: resolution };
    writeFileSync(join(project, `tsconfig.${resolution}.json`), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }, null, 2));
    const r = run(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], { cwd: project, allowFail: true });
    if (r.status === 0) pass(`TypeScript consumer type-checks against the declarations (moduleResolution ${resolution})`);
    else fail(`TypeScript consumer (moduleResolution ${resolution}):\n${r.out.trim()}`);
  }

  // 4. docs/api.md's Node example --------------------------------------------------------------------------------
  const nodeCheck = `
import { readNpy as __readNpy } from 'lrp-lens/node';
{
  const __ref = (await __readNpy(${JSON.stringify(`../shared/goldens/${golden.relevance}`)})).data;
  let __d = 0, __n = 0;
  for (let i = 0; i < __ref.length; i++) { __d += (explanation.relevance[i] - __ref[i]) ** 2; __n += __ref[i] ** 2; }
  console.log('LRP_CHECK ' + JSON.stringify({ relL2: explanation.relevance.length === __ref.length ? Math.sqrt(__d / __n) : null, target: explanation.target, backend: explanation.backend, values: explanation.relevance.length }));
}
`;
  writeFileSync(join(project, 'explain.mjs'), `${docExample('node')}\n${nodeCheck}`);
  const checkNode = (backend, r) => {
    const line = r.stdout.split('\n').find((l) => l.startsWith('LRP_CHECK '));
    if (r.status !== 0 || !line) return fail(`docs/api.md Node example on ${backend}: exit ${r.status}\n${r.out.trim()}`);
    const c = JSON.parse(line.slice('LRP_CHECK '.length));
    const ok = c.relL2 !== null && c.relL2 <= tolerance && c.target === golden.target && c.backend === backend;
    (ok ? pass : fail)(`docs/api.md Node example (plain node, backend ${c.backend}) reproduces ${CASE_ID}: relL2 ${c.relL2?.toExponential(2)} (tolerance ${tolerance.toExponential(2)}), class ${c.target}`);
  };
  checkNode('cpu', run(process.execPath, ['explain.mjs', 'cpu'], { cwd: project, allowFail: true, timeout: 60_000 }));
  const adapterExpected = Boolean(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES || existsSync(SWIFTSHADER_ICD) || SYSTEM_ICD_DIRS.some((d) => existsSync(d) && readdirSync(d).length > 0));
  if (adapterExpected) {
    const r = run(process.execPath, [join(root, 'scripts/with-dawn-env.mjs'), process.execPath, ...DAWN_NODE_FLAGS, 'explain.mjs', 'webgpu'], { cwd: project, allowFail: true, timeout: 120_000 });
    checkNode('webgpu', r);
  } else {
    log(`SKIP  docs/api.md Node example on webgpu: no Vulkan driver here (neither ${SWIFTSHADER_ICD} from ${CHROMIUM_LIB_DIR} nor VK_ICD_FILENAMES)`);
  }

  // 4b. Loading from a TF.js path, and the error messages of the Node entry ------------------------------------------
  {
    const tfjs = JSON.parse(readFileSync(join(goldens, 'tfjs', 'cases.json'), 'utf8'));
    const tcase = tfjs.cases.find((c) => c.id === 'tinyvgg/zennit/EpsilonPlusFlat');
    mkdirSync(join(project, 'lonely'));
    copyFileSync(join(goldens, 'cnn.onnx'), join(project, 'lonely', 'cnn.onnx'));
    writeFileSync(
      join(project, 'checks.mjs'),
      // String.raw: the regular expressions below keep their backslashes.
      String.raw`import { readFileSync } from 'node:fs';
import { loadModel, readNpy, LrpLensError } from 'lrp-lens/node';
const out = (name, ok, detail) => console.log('LRP_CHECK ' + JSON.stringify({ name, ok, detail }));
const rejects = async (name, f, re, type = Error) => {
  try {
    await f();
    out(name, false, 'did not fail');
  } catch (e) {
    out(name, e instanceof type && re.test(e.message), e.name + ': ' + e.message);
  }
};
const tcase = ${JSON.stringify(tcase ? { ...tcase, modelFile: tfjs.models[tcase.model].tfjs.file } : null)};
if (tcase) {
  const model = await loadModel('../shared/goldens/tfjs/' + tcase.modelFile, { backend: 'cpu' });
  const x = await readNpy('../shared/goldens/tfjs/' + tcase.input);
  const e = await model.explain(x.data, { target: tcase.target, rules: { preset: tcase.composite } });
  const ref = (await readNpy('../shared/goldens/tfjs/' + tcase.relevance)).data;
  let d = 0, n = 0;
  for (let i = 0; i < ref.length; i++) { d += (e.relevance[i] - ref[i]) ** 2; n += ref[i] ** 2; }
  const relL2 = Math.sqrt(d / n);
  out('TF.js model.json from a path (shards beside it) reproduces ' + tcase.id + ' on cpu', e.relevance.length === ref.length && relL2 <= 1e-3 && e.target === tcase.target, model.format + ', relL2 ' + relL2.toExponential(2) + ' (tolerance 1e-3)');
  model.dispose();
}
await rejects('a path that does not exist', () => loadModel('../shared/goldens/no-such-model.onnx', { backend: 'cpu' }), /^cannot read the model \.\.\/shared\/goldens\/no-such-model\.onnx: no such file$/, LrpLensError);
await rejects('an .onnx without its external data beside it', () => loadModel('lonely/cnn.onnx', { backend: 'cpu' }), /cnn\.onnx keeps its weights in cnn\.onnx\.data, which is not beside it/, LrpLensError);
await rejects('an .onnx given as bytes without its external data', () => loadModel([{ name: 'cnn.onnx', bytes: readFileSync('lonely/cnn.onnx') }], { backend: 'cpu' }), /keeps its weights in cnn\.onnx\.data, which was not given/);
const model = await loadModel('../shared/goldens/cnn.onnx', { backend: 'cpu' });
await rejects('an input of the wrong size', () => model.explain(new Float32Array(10)), /the input has 10 values; the model takes 768 \(shape \[1, 3, 16, 16\]\)/, LrpLensError);
await rejects('an unknown layer', () => model.explain(new Float32Array(768), { layers: ['conv9'] }), /no layer named "conv9"/, LrpLensError);
await rejects('an unknown rule', () => model.explain(new Float32Array(768), { rules: { layers: { conv1: { rule: 'nonsense' } } } }), /unknown rule "nonsense"/);
await rejects('an unknown preset', () => model.explain(new Float32Array(768), { rules: { preset: 'Nonsense' } }), /unknown preset "Nonsense"/);
const byName = await model.explain(new Float32Array(768).fill(0.5), { target: 4, rules: { preset: 'EpsilonPlusFlat', layers: { conv1: { rule: 'flat' } } } });
out('rules.layers as an object keyed by layer', byName.relevance.length === 768 && byName.target === 4, 'ok');
model.dispose();
await rejects('a disposed model', () => model.explain(new Float32Array(768)), /the model was disposed/, LrpLensError);
try {
  const m = await loadModel('../shared/goldens/cnn.onnx', { backend: 'webgpu' });
  out("backend 'webgpu' (plain node)", m.backend === 'webgpu', 'an adapter without the SwiftShader environment: ' + m.backendDescription);
  m.dispose();
} catch (e) {
  out("backend 'webgpu' without an adapter fails with the reason", e instanceof LrpLensError && /^backend 'webgpu' was asked for, but WebGPU is not available: no WebGPU adapter/.test(e.message), e.message);
}
`,
    );
    const r = run(process.execPath, ['checks.mjs'], { cwd: project, allowFail: true, timeout: 120_000 });
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('LRP_CHECK '));
    for (const l of lines) {
      const c = JSON.parse(l.slice('LRP_CHECK '.length));
      (c.ok ? pass : fail)(`lrp-lens/node: ${c.name}: ${c.detail}`);
    }
    if (r.status !== 0 || lines.length < 10) fail(`lrp-lens/node checks: exit ${r.status}, ${lines.length} checks\n${r.out.trim()}`);
  }

  // 5. The installed CLI -----------------------------------------------------------------------------------------
  {
    const bin = join(project, 'node_modules', 'lrp-lens', 'bin', 'lrp-lens.mjs');
    const r = run(process.execPath, [bin, 'explain', '--model', `../shared/goldens/${manifest.models.cnn.onnx.file}`, '--input', `../shared/goldens/${manifest.models.cnn.input}`, '--composite', golden.composite, '--target', String(golden.target), '--backend', 'cpu', '--json'], {
      cwd: project,
      allowFail: true,
      timeout: 60_000,
    });
    let report = null;
    try {
      report = JSON.parse(r.stdout);
    } catch {
      // reported below
    }
    const sum = report?.relevanceSum;
    const ok = r.status === 0 && report?.explained?.class === golden.target && Math.abs(sum - golden.relevance_sum) <= 1e-4 * Math.max(1e-3, Math.abs(golden.relevance_sum));
    (ok ? pass : fail)(`installed CLI: lrp-lens explain --backend cpu${ok ? `: class ${report.explained.class}, relevance sum ${sum.toPrecision(6)} (reference ${golden.relevance_sum.toPrecision(6)})` : `: exit ${r.status}\n${r.out.trim()}`}`);
  }

  // 6. docs/api.md's browser example, bundled with esbuild, in headless Chromium ------------------------------------
  const web = join(project, 'web');
  mkdirSync(join(web, 'models'), { recursive: true });
  for (const f of ['cnn.onnx', 'cnn.onnx.data', 'cnn.input.npy']) copyFileSync(join(goldens, f), join(web, 'models', f));
  copyFileSync(join(goldens, golden.relevance), join(web, 'models', 'expected.npy'));
  const browserCheck = `
import { parseNpy as __parseNpy } from 'lrp-lens';
{
  const __ref = __parseNpy(await (await fetch('models/expected.npy')).arrayBuffer()).data;
  let __d = 0, __n = 0;
  for (let i = 0; i < __ref.length; i++) { __d += (explanation.relevance[i] - __ref[i]) ** 2; __n += __ref[i] ** 2; }
  window.__lrpCheck = { relL2: explanation.relevance.length === __ref.length ? Math.sqrt(__d / __n) : null, target: explanation.target, backend: explanation.backend, result: document.querySelector('#result').textContent };
}
`;
  writeFileSync(join(project, 'main.js'), `${docExample('browser')}\n${browserCheck}`);
  const html = docExample('browser-html');
  const scriptSrc = /<script type="module" src="([^"]+)"/.exec(html)?.[1];
  if (!scriptSrc) throw new Error('the browser-html example of docs/api.md has no <script type="module" src=...>');
  writeFileSync(join(web, 'index.html'), html);
  const esbuild = await import(pathToFileURL(join(root, 'node_modules', 'esbuild', 'lib', 'main.js')).href);
  const built = await esbuild.build({
    absWorkingDir: project,
    entryPoints: ['main.js'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: join(web, scriptSrc),
    logLevel: 'error',
    metafile: true,
  });
  const bundleText = readFileSync(join(web, scriptSrc), 'utf8');
  // From esbuild's own account of the bundle (not a grep: the cpu-fast worker's source text names node:worker_threads
  // inside a string): no import left to a Node module or to the webgpu package, and no file of it bundled.
  const nodeImports = Object.values(built.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path)).filter((p) => /^node:|^webgpu$/.test(p));
  const nodeInputs = Object.keys(built.metafile.inputs).filter((p) => /node_modules\/webgpu\//.test(p));
  if (nodeImports.length || nodeInputs.length) fail(`the browser bundle refers to Node modules or the webgpu package: ${[...nodeImports, ...nodeInputs].join(', ')}`);
  else pass(`esbuild bundles docs/api.md's browser example from the installed package (${(bundleText.length / 1e6).toFixed(2)} MB, no Node modules)`);

  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.onnx': 'application/octet-stream', '.data': 'application/octet-stream', '.npy': 'application/octet-stream' };
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const file = join(web, path === '/' ? 'index.html' : path);
    if (!file.startsWith(web) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise((ok, ko) => {
    server.once('error', (e) => ko(new Error(`cannot serve the browser example on port ${PORT}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`)));
    server.listen(PORT, '127.0.0.1', ok);
  });
  // The neutral entry in Node: a model from a URL, with its external data fetched from beside it.
  {
    writeFileSync(
      join(project, 'url-check.mjs'),
      String.raw`import { loadModel, parseNpy } from 'lrp-lens';
const base = 'http://127.0.0.1:${PORT}/models/';
const model = await loadModel(base + 'cnn.onnx');
const x = parseNpy(await (await fetch(base + 'cnn.input.npy')).arrayBuffer());
const e = await model.explain(x.data, { target: 4 });
let sum = 0;
for (const v of e.relevance) sum += v;
let missing = '';
try {
  await loadModel(base + 'no-such-model.onnx');
} catch (err) {
  missing = err.name + ': ' + err.message;
}
console.log('LRP_CHECK ' + JSON.stringify({ backend: model.backend, target: e.target, sum, missing }));
model.dispose();
`,
    );
    const r = await runAsync(process.execPath, ['url-check.mjs'], { cwd: project });
    const line = r.stdout.split('\n').find((l) => l.startsWith('LRP_CHECK '));
    const c = line ? JSON.parse(line.slice('LRP_CHECK '.length)) : null;
    const ok =
      c !== null &&
      c.backend === 'cpu-fast' &&
      c.target === golden.target &&
      Math.abs(c.sum - golden.relevance_sum) <= 1e-4 * Math.abs(golden.relevance_sum) &&
      /^LrpLensError: cannot fetch the model http:\/\/127\.0\.0\.1:\d+\/models\/no-such-model\.onnx: HTTP 404/.test(c.missing);
    (ok ? pass : fail)(`lrp-lens (the neutral entry) in Node: a model from a URL, backend 'auto' without navigator.gpu: ${c ? `${c.backend}, class ${c.target}, relevance sum ${c.sum.toPrecision(6)}; a missing URL: "${c.missing}"` : `exit ${r.status}\n${r.out.trim()}`}`);
  }

  const { chromium } = await import(pathToFileURL(join(root, 'node_modules', 'playwright', 'index.mjs')).href);
  if (!existsSync('/usr/bin/chromium')) throw new Error("/usr/bin/chromium is missing: install Debian's chromium package (npm run ensure-chromium)");
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(`http://127.0.0.1:${PORT}/`);
  const check = await page
    .waitForFunction(() => window.__lrpCheck, undefined, { timeout: 90_000 })
    .then((h) => h.jsonValue())
    .catch(() => null);
  if (!check) {
    fail(`docs/api.md browser example: no explanation within 90 s${errors.length ? `\n${errors.join('\n')}` : ''}`);
  } else {
    const ok = check.relL2 !== null && check.relL2 <= tolerance && check.target === golden.target;
    (ok ? pass : fail)(`docs/api.md browser example (esbuild bundle, Chromium, backend ${check.backend}) reproduces ${CASE_ID} from a URL: relL2 ${check.relL2?.toExponential(2)} (tolerance ${tolerance.toExponential(2)}); the page says "${check.result}"`);
    // The file picker: File objects.
    await page.setInputFiles('#model-files', [join(web, 'models', 'cnn.onnx'), join(web, 'models', 'cnn.onnx.data')]);
    const picked = await page
      .waitForFunction(() => document.querySelector('#picked')?.textContent || null, undefined, { timeout: 60_000 })
      .then((h) => h.jsonValue())
      .catch(() => null);
    const m = picked ? /class (\d+), relevance sum (\S+)/.exec(picked) : null;
    const sum = m ? Number(m[2]) : NaN;
    const okPicked = m !== null && Number(m[1]) === golden.target && Math.abs(sum - golden.relevance_sum) <= 1e-3 * Math.abs(golden.relevance_sum);
    (okPicked ? pass : fail)(`docs/api.md browser example, file picker (cnn.onnx + cnn.onnx.data as File objects): "${picked ?? 'nothing shown within 60 s'}" (reference: class ${golden.target}, relevance sum ${golden.relevance_sum.toPrecision(6)})`);
  }
  if (errors.length && check) log(`browser messages:\n${errors.join('\n')}`);
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
} finally {
  await browser?.close().catch(() => undefined);
  await new Promise((ok) => (server ? server.close(ok) : ok()));
  if (args.has('--keep')) log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}

log(`${failures === 0 ? 'all passed' : `${failures} failed`} (${seconds()})`);
process.exit(failures === 0 ? 0 : 1);
