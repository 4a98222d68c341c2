// ctas7: the CTAS7-SchemaAudit setup project. It runs `ctas7 audit` (VERIFIED or REGENERATED:
// the types on disk are the ones the live schema generates) before the projects that depend on
// it, and fails with the audit's one-line reason when it FAILED (database unreachable,
// generation failed), so no test runs against unverified types. Written by
// `ctas7 playwright init` (re-run it with --force to update).
//
// The audit reads its settings from the environment (CTAS7_DATABASE_URL, CTAS_SCHEMA_PATH,
// CTAS_HASH_CACHE_PATH, ...). PLAYWRIGHT_SCHEMA_AUDIT_ENABLED=false skips it.
'use strict';

const { spawn } = require('node:child_process');
const { test } = require('@playwright/test');

const OFF = new Set(['0', 'false', 'no', 'off']);

/** Run the audit; resolves to {ok, line, reason, status, stage}. */
function runAudit({ command = ['ctas7'], args = [], timeoutMs = 120000 } = {}) {
  return new Promise((resolve) => {
    const [bin, ...pre] = command;
    let stdout = '';
    let stderr = '';
    let child;
    try {
      child = spawn(bin, [...pre, 'audit', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve(notFound(bin, err));
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve(notFound(bin, err));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() || '';
      let result = null;
      try {
        result = JSON.parse(line);
      } catch (_) {
        result = null;
      }
      if (signal) {
        resolve({ ok: false, reason: `ctas7 audit did not finish within ${timeoutMs} ms (killed)` });
      } else if (result && typeof result.status === 'string') {
        const ok = code === 0 && result.status !== 'FAILED';
        const reason = result.reason || result.message;
        resolve({ ok, status: result.status, stage: result.stage, reason, line: `${result.status}: ${result.message}` });
      } else {
        const said = (stderr.trim() || stdout.trim()).split('\n').pop() || `exit code ${code}`;
        resolve({ ok: false, reason: `ctas7 audit failed (exit ${code}): ${said}` });
      }
    });
  });
}

function notFound(bin, err) {
  const why = err && err.code === 'ENOENT' ? 'not found' : (err && err.message) || String(err);
  return {
    ok: false,
    reason:
      `cannot run ${bin} (${why}): install ctas7-panel (pip install ctas7-panel) and put ctas7 on ` +
      `PATH, or pass withCtas7(config, { audit: { command: ['/path/to/ctas7'] } })`,
  };
}

test('ctas7 schema audit', async ({}, testInfo) => {
  const raw = (process.env.PLAYWRIGHT_SCHEMA_AUDIT_ENABLED || '').trim().toLowerCase();
  test.skip(OFF.has(raw), 'PLAYWRIGHT_SCHEMA_AUDIT_ENABLED is off');
  const options = (testInfo.project.metadata && testInfo.project.metadata.ctas7Audit) || {};
  const result = await runAudit(options);
  if (!result.ok) {
    const stage = result.stage ? ` (${result.stage})` : '';
    const error = new Error(`ctas7 schema audit FAILED${stage}: ${result.reason}`);
    error.stack = error.message; // the reason is the whole story: no stack trace
    throw error;
  }
  testInfo.annotations.push({ type: 'ctas7 audit', description: result.line });
});

module.exports = { runAudit };
