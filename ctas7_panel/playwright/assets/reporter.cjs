// ctas7: a Playwright reporter that streams test results to the ctas7 dashboard while the run
// goes on. Written by `ctas7 playwright init` (re-run it with --force to update).
//
// Events (the same shapes as `ctas7 ingest` and the pytest plugin; docs/test-events.schema.json):
//   test_run_status            onBegin (status "running") and onEnd (the run's summary)
//   playwright_test_started    onTestBegin, for every attempt (retry 0, 1, ...)
//   playwright_test_completed  onTestEnd, for every attempt; `final: false` when a retry follows
// They go to the bridge's ingress: options.bridgeUrl, else CTAS7_BRIDGE_URL, else
// ws://127.0.0.1:8002/telemetry_bridge, with CTAS7_ADMIN_TOKEN (else CTAS7_TOKEN) as a bearer
// token. When the bridge cannot take them the run goes on; at the end one warning names the
// file holding what was not delivered (CTAS7_HOME/spill, default ./.ctas7/spill), which
// `ctas7 ingest FILE` sends afterwards.
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const { BridgeSender, redact } = require('./client.cjs');

const DEFAULT_BRIDGE_URL = 'ws://127.0.0.1:8002/telemetry_bridge';
const MAX_MESSAGE = 500;
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const RUN_STATUS = { passed: 'finished', failed: 'failed', timedout: 'timedout', interrupted: 'interrupted' };

function sha(text) {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** Stable ids: re-sending (or ingesting a spill file twice) stores nothing twice. */
function eventId(runId, ...parts) {
  return 'evt_pw_' + sha([runId, ...parts].join('|')).slice(0, 24);
}

function clean(text) {
  if (text === undefined || text === null) return null;
  const plain = String(text).replace(ANSI, '').trim();
  if (!plain) return null;
  return plain.split(/\r\n|\r|\n/)[0].trim().slice(0, MAX_MESSAGE);
}

function toPosix(p) {
  return p.split(path.sep).join('/');
}

function projectOf(test) {
  return (test.parent && test.parent.project && test.parent.project()) || null;
}

/** `file::describe::title[project]`, as `ctas7 ingest` names a Playwright test. */
function nodeidOf(test, rootDir) {
  const file = toPosix(path.relative(rootDir, test.location.file));
  const titles = [];
  for (let s = test.parent; s && s.type === 'describe'; s = s.parent) titles.unshift(s.title);
  const project = projectOf(test);
  const base = [file, ...titles.filter(Boolean), test.title].join('::');
  return project && project.name ? `${base}[${project.name}]` : base;
}

function browserOf(project) {
  if (!project) return null;
  const use = project.use || {};
  return use.browserName || use.defaultBrowserType || project.name || null;
}

/** Did this attempt fail in a way Playwright retries? Then it is not the test's last word. */
function isFinal(test, result) {
  const unexpected =
    result.status !== 'skipped' && result.status !== 'interrupted' && result.status !== test.expectedStatus;
  return !(unexpected && result.retry < test.retries);
}

/** The test's outcome in ctas7's words (ingest.py's _pw_outcome): [outcome, flaky]. */
function outcomeOf(test) {
  const o = test.outcome();
  if (o === 'flaky') return ['passed', true];
  if (o === 'skipped') return ['skipped', false];
  if (o === 'unexpected') return ['failed', false];
  if (test.expectedStatus === 'failed') return ['xfailed', false];
  if (test.expectedStatus === 'skipped') return ['skipped', false];
  return ['passed', false];
}

function messageOf(test, result, outcome, flaky) {
  if (outcome === 'skipped') {
    const notes = (test.annotations || []).filter((a) => a.type === 'skip' || a.type === 'fixme');
    return notes.length ? clean(notes[0].description) : null;
  }
  if (outcome === 'passed' && !flaky) return null;
  const failing = test.results.slice(0, result.retry + 1).filter((r) => r.status !== 'passed');
  const last = failing[failing.length - 1];
  if (!last) return null;
  const err = last.error || (last.errors && last.errors[0]) || {};
  return clean(err.message) || clean(err.value) || clean(last.status);
}

class Ctas7Reporter {
  constructor(options = {}) {
    const env = process.env;
    this.options = options;
    this.bridgeUrl = options.bridgeUrl || env.CTAS7_BRIDGE_URL || DEFAULT_BRIDGE_URL;
    this.token = options.token || env.CTAS7_ADMIN_TOKEN || env.CTAS7_TOKEN || null;
    this.sourceNode = options.sourceNode || 'playwright';
    this.spillDir = path.resolve(options.spillDir || path.join(env.CTAS7_HOME || '.ctas7', 'spill'));
    this.runId = `pw-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${crypto.randomBytes(4).toString('hex')}`;
    this.counts = { passed: 0, flaky: 0, failed: 0, skipped: 0, xfailed: 0 };
    this.rootDir = process.cwd();
    this.sender = null;
  }

  printsToStdio() {
    return false;
  }

  _emit(type, id, payload, timestamp) {
    this.sender.submit({
      event_id: id,
      event_type: type,
      timestamp: (timestamp === undefined ? Date.now() : timestamp) / 1000,
      source_node: this.sourceNode,
      payload,
    });
  }

  onBegin(config, suite) {
    this._guard('onBegin', () => this._start(config, suite));
  }

  _start(config, suite) {
    this.rootDir = config.rootDir || process.cwd();
    this.started = Date.now();
    this.planned = suite.allTests().length;
    // the projects this run has tests in (after --project, --grep, ...), in config order
    this.projects = suite.suites.filter((s) => s.allTests().length).map((s) => s.title);
    this.spillPath = path.join(this.spillDir, `playwright-${this.runId}.jsonl`);
    this.sender = new BridgeSender({
      url: this.bridgeUrl,
      token: this.token,
      spillPath: this.spillPath,
      batch: this.options.batch,
      flushMs: this.options.flushMs,
    });
    // sent with the first test: a run that starts none (--list, everything filtered) sends nothing
    this._opening = () => this._emit('test_run_status', eventId(this.runId, 'run', 'running'), {
      status: 'running',
      message: `running ${this.planned} tests in ${this.projects.length} projects (${this.projects.join(', ')})`,
      run_id: this.runId,
      exit_code: null,
      tests: this.planned,
      projects: this.projects,
    }, this.started);
  }

  _common(test, result) {
    const project = projectOf(test);
    return {
      nodeid: nodeidOf(test, this.rootDir),
      browser: browserOf(project),
      project: project && project.name ? project.name : null,
      run_id: this.runId,
      retry: result.retry,
      worker: result.workerIndex >= 0 ? String(result.workerIndex) : null,
      file: toPosix(path.relative(this.rootDir, test.location.file)),
      line: test.location.line,
    };
  }

  /** A reporter bug must not break the run: it becomes part of the one warning. */
  _guard(hook, fn) {
    try {
      fn();
    } catch (err) {
      if (!this.failure) this.failure = `${hook}: ${(err && err.message) || err}`;
    }
  }

  onTestBegin(test, result) {
    this._guard('onTestBegin', () => this._begin(test, result));
  }

  onTestEnd(test, result) {
    this._guard('onTestEnd', () => this._end(test, result));
  }

  _begin(test, result) {
    if (!this.sender) return;
    if (this._opening) {
      this._opening();
      this._opening = null;
    }
    this._emit(
      'playwright_test_started',
      eventId(this.runId, test.id, result.retry, 'started'),
      this._common(test, result),
      +result.startTime || Date.now(),
    );
  }

  _end(test, result) {
    if (!this.sender) return;
    const final = isFinal(test, result);
    let outcome = 'failed';
    let flaky = false;
    if (final) {
      [outcome, flaky] = outcomeOf(test);
      this.counts[flaky ? 'flaky' : outcome] += 1;
    }
    const attempts = test.results.slice(0, result.retry + 1);
    this._emit('playwright_test_completed', eventId(this.runId, test.id, result.retry, 'completed'), {
      ...this._common(test, result),
      outcome,
      duration_ms: attempts.reduce((sum, r) => sum + Math.max(0, r.duration || 0), 0),
      message: messageOf(test, result, outcome, flaky),
      retries: result.retry,
      flaky,
      final,
    });
  }

  async onEnd(result) {
    if (!this.sender) {
      if (this.failure) process.stderr.write(`ctas7: warning: the reporter failed in ${this.failure}\n`);
      return;
    }
    this._guard('onEnd', () => this._summary(result));
    const summary = await this.sender.close(this.options.closeTimeoutMs || 10000);
    this.summary = summary;
    const warning = warningOf({ ...summary, failure: this.failure }, this.bridgeUrl);
    if (warning) process.stderr.write(`${warning}\n`);
  }

  _summary(result) {
    if (this._opening) return; // no test began
    const c = this.counts;
    const done = c.passed + c.flaky + c.failed + c.skipped + c.xfailed;
    const status = RUN_STATUS[result.status] || result.status;
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    const parts = [`${c.passed} passed`, `${c.flaky} flaky`, `${c.failed} failed`, `${c.skipped} skipped`];
    if (c.xfailed) parts.push(`${c.xfailed} expected to fail`);
    if (this.planned > done) parts.push(`${this.planned - done} did not run`);
    this._emit('test_run_status', eventId(this.runId, 'run', 'end'), {
      status,
      message: `${parts.join(', ')} in ${seconds} s (${this.projects.join(', ')})`,
      run_id: this.runId,
      exit_code: null,
      tests: this.planned,
      projects: this.projects,
      counts: { ...c, did_not_run: Math.max(0, this.planned - done) },
      duration_ms: Date.now() - this.started,
    });
  }
}

/** The one warning line for a run whose events did not all reach the bridge (or null). */
function warningOf(summary, bridgeUrl) {
  const problems = [];
  if (summary.undelivered) {
    const where = summary.spillPath
      ? `; saved in ${summary.spillPath}: send them with \`ctas7 ingest ${summary.spillPath}\``
      : `; they could not be saved either (${summary.spillError || 'no spill file'})`;
    problems.push(`${summary.undelivered} test event(s) not delivered (${summary.error})${where}`);
  }
  if (summary.dropped) problems.push(`${summary.dropped} event(s) dropped (too many pending)`);
  if (summary.refused) problems.push(`${summary.refused} event(s) refused: ${summary.firstRejection}`);
  if (summary.failure) problems.push(`the reporter failed in ${summary.failure}`);
  if (!problems.length) return null;
  return `ctas7: warning: bridge ${redact(bridgeUrl)}: ${problems.join('; ')} - the tests were not affected`;
}

module.exports = Ctas7Reporter;
module.exports.default = Ctas7Reporter;
module.exports.eventId = eventId;
module.exports.nodeidOf = nodeidOf;
module.exports.warningOf = warningOf;
