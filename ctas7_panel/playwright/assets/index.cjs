// ctas7 for Playwright: wrap the config in withCtas7(...) and the suite gets the schema audit as
// a setup project and live results on the ctas7 dashboard. Written by `ctas7 playwright init`
// (re-run it with --force to update).
//
//   import { withCtas7 } from './ctas7/index.cjs';
//   export default withCtas7(defineConfig({ ... }));
//
// withCtas7(config, options) returns the config with
// - the ctas7 reporter added to the reporters already there (the default list/dot one if none);
// - a setup project "CTAS7-SchemaAudit" that runs `ctas7 audit` and fails with the audit's
//   reason when the audit fails, and every other project depending on it (so no test runs
//   against unverified types; `--project=desktop` still runs the audit first);
// options: { reporter: {bridgeUrl, token, spillDir, sourceNode},
//            audit: false | {command: ['ctas7'], args: [], timeoutMs: 120000} }
'use strict';

const path = require('node:path');

const SETUP_PROJECT = 'CTAS7-SchemaAudit';
const REPORTER = path.join(__dirname, 'reporter.cjs');

function reportersOf(reporter) {
  if (reporter === undefined || reporter === null) return [[process.env.CI ? 'dot' : 'list']];
  if (typeof reporter === 'string') return [[reporter]];
  return reporter.map((r) => (typeof r === 'string' ? [r] : r));
}

function withCtas7(config, options = {}) {
  const out = { ...config };
  const reporters = reportersOf(config.reporter).filter((r) => r[0] !== REPORTER);
  out.reporter = [...reporters, [REPORTER, options.reporter || {}]];
  if (options.audit === false) return out;
  const setup = {
    name: SETUP_PROJECT,
    testDir: __dirname,
    testMatch: /schema-audit\.setup\.cjs$/,
    retries: 0,
    metadata: { ctas7Audit: options.audit || {} },
  };
  const projects = (config.projects && config.projects.length ? config.projects : [{}])
    .filter((p) => p.name !== SETUP_PROJECT)
    .map((p) => {
      const deps = p.dependencies || [];
      return deps.includes(SETUP_PROJECT) ? p : { ...p, dependencies: [...deps, SETUP_PROJECT] };
    });
  out.projects = [setup, ...projects];
  return out;
}

module.exports = { withCtas7, SETUP_PROJECT, REPORTER };
