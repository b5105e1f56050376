// Browser tests in Debian's Chromium (headless), whose WebGPU runs on SwiftShader where there is no GPU.
// `npm run test:e2e` builds the app (dist/app) and the test pages (dist/e2e) first; the two preview servers below
// serve them. scripts/ensure-chromium.mjs installs /usr/bin/chromium when it is missing.
import { defineConfig } from 'playwright/test';

const CI = !!process.env.CI;
export const CHROMIUM = process.env.LRP_LENS_CHROMIUM ?? '/usr/bin/chromium';

/** Flags that give headless Chromium a WebGPU adapter (SwiftShader's Vulkan on a machine without a GPU). */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const APP_PORT = 4173;
const HARNESS_PORT = 4174;

/**
 * The two screens of issue 17: a laptop, and a phone. The phone has touch (hasTouch: the page sees `pointer: coarse`
 * and `hover: none`) but not isMobile: the page's meta viewport (width=device-width) makes the layout 390 px wide
 * either way, and without isMobile Chromium applies none of a phone's viewport scaling, so a page too wide for the
 * phone stays a plain sideways scroll, which app-layout.spec.ts measures.
 */
export const LAPTOP = { width: 1366, height: 768 };
export const PHONE = { width: 390, height: 844 };
/** The tag of the tests that run at both sizes (issue 17's items): the 'app-phone' project runs only these. */
export const BOTH_SIZES = '@both-sizes';

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  outputDir: 'test-results',
  // Two cores and a CPU WebGPU driver: one browser at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: CI,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
    trace: 'retain-on-failure',
  },
  projects: [
    // Every app test at the laptop's size; the tests tagged @both-sizes again at the phone's.
    { name: 'app', testMatch: 'app*.spec.ts', use: { baseURL: `http://localhost:${APP_PORT}`, viewport: LAPTOP } },
    {
      name: 'app-phone',
      testMatch: 'app*.spec.ts',
      grep: new RegExp(BOTH_SIZES),
      use: { baseURL: `http://localhost:${APP_PORT}`, viewport: PHONE, hasTouch: true },
    },
    {
      name: 'engine',
      testMatch: ['webgpu.spec.ts', 'golden-browser.spec.ts'],
      use: { baseURL: `http://localhost:${HARNESS_PORT}` },
    },
  ],
  webServer: [
    {
      command: `npx vite preview --port ${APP_PORT} --strictPort`,
      url: `http://localhost:${APP_PORT}/`,
      reuseExistingServer: !CI,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
      command: `npx vite preview --config vite.e2e.config.ts --port ${HARNESS_PORT} --strictPort`,
      url: `http://localhost:${HARNESS_PORT}/e2e/webgpu-smoke.html`,
      reuseExistingServer: !CI,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
  ],
});
