// Written by `ctas7 playwright init`: the CTAS7 schema audit runs first (setup project
// CTAS7-SchemaAudit), then the desktop, phone and tablet projects; every result streams live
// to the ctas7 dashboard (ctas7/reporter.cjs). Edit freely: ctas7 never rewrites this file
// without --force.
import fs from 'node:fs';
import { defineConfig, devices } from '@playwright/test';
import { withCtas7 } from './ctas7/index.cjs';

// Chromium: CTAS7_CHROMIUM, else the system's /usr/bin/chromium when present (no browser
// download needed), else the one `npx playwright install chromium` fetches.
const chromium =
  process.env.CTAS7_CHROMIUM || (fs.existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);
const flags = [
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []), // root (containers)
];

export default withCtas7(
  defineConfig({
    testDir: './tests',
    fullyParallel: true,
    forbidOnly: !!process.env.CI,
    retries: process.env.CI ? 2 : 0,
    reporter: process.env.CI ? 'dot' : 'list',
    use: {
      baseURL: process.env.CTAS_BASE || 'http://localhost:3000',
      trace: 'on-first-retry',
      launchOptions: chromium ? { executablePath: chromium, args: flags } : { args: flags },
    },
    projects: [
      { name: 'desktop', use: { ...devices['Desktop Chrome'] } },
      { name: 'mobile', use: { ...devices['Pixel 7'] } },
      { name: 'tablet', use: { ...devices['Galaxy Tab S9'] } },
    ],
  }),
);
