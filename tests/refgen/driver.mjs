// One long-lived postgres-meta process answering many one-shot type generations.
//
//   node driver.mjs <project dir>          (e.g. tests/refgen/0.99.0)
//
// `supabase gen types` runs postgres-meta's dist/server/server.js once per output: the module
// reads its PG_META_* settings (constants.js) at load, and `getTypeOutput()` generates the
// types and prints them. Starting Node and loading the server for every comparison is most
// of the differential test's time, so this driver loads the installed version once and runs
// *that version's own* `getTypeOutput` for each request:
//
// - the function's text is taken verbatim from the installed server.js;
// - its free names are bound to what server.js imports, from the same modules;
// - constants.js is evaluated afresh for each request (a new module instance, `?request=N`)
//   with the request's PG_META_* variables in process.env, so the settings are derived from
//   the environment exactly as in one-shot mode.
//
// Protocol: one JSON object per line on stdin, {"id": N, "env": {"PG_META_...": "..."}};
// one per line on stdout, {"id": N, "ok": true, "stdout": "..."} (what one-shot mode prints:
// the output and a newline, as console.log writes it) or {"id": N, "ok": false, "stderr":
// "TypeError: ..."} (the error one-shot mode dies with). Requests run concurrently; only the
// environment + constants step is serialised. Anything the generator itself logs with
// console.log goes into that request's stdout, as it would in one-shot mode (requests that
// overlap in time could then mix; the generators log nothing). The first line written is
// {"ready": true, "version": "..."}.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import readline from 'node:readline'
import { pathToFileURL } from 'node:url'
import util from 'node:util'

const project = path.resolve(process.argv[2] ?? '.')
const packageDir = path.join(project, 'node_modules', '@supabase', 'postgres-meta')
const serverJs = path.join(packageDir, 'dist', 'server', 'server.js')
const source = readFileSync(serverJs, 'utf8')
const version = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')).version

const fnMatch = source.match(/^async function getTypeOutput\(\) \{\n[\s\S]*?\n\}\n/m)
if (!fnMatch) {
  throw new Error(`no 'async function getTypeOutput()' in ${serverJs}: driver.mjs needs updating`)
}
const fnText = fnMatch[0]
const uses = (name) => new RegExp(`(?<![\\w$])${name.replace(/\$/g, '\\$')}(?![\\w$])`).test(fnText)

const requireFromServer = createRequire(serverJs)
const resolveSpec = (spec) =>
  spec.startsWith('.')
    ? pathToFileURL(path.resolve(path.dirname(serverJs), spec)).href
    : pathToFileURL(requireFromServer.resolve(spec)).href

// the named imports of server.js whose names getTypeOutput uses (constants.js: per request)
const fixed = {}
let constantsUrl = null
const constantNames = []
for (const m of source.matchAll(/^import \{([^}]*)\} from '([^']+)';$/gm)) {
  const items = m[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [imported, local] = s.split(/\s+as\s+/)
      return { imported, local: local ?? imported }
    })
    .filter(({ local }) => uses(local))
  if (items.length === 0) continue
  if (m[2] === './constants.js') {
    constantsUrl = resolveSpec(m[2])
    constantNames.push(...items)
    continue
  }
  const mod = await import(resolveSpec(m[2]))
  for (const { imported, local } of items) fixed[local] = mod[imported]
}
if (constantsUrl === null) {
  throw new Error(`getTypeOutput in ${serverJs} reads no constants: driver.mjs needs updating`)
}

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor
const fixedNames = Object.keys(fixed)
const localNames = constantNames.map(({ local }) => local)
const make = new AsyncFunction(
  ...fixedNames,
  ...localNames,
  `"use strict";\n${fnText}\nreturn await getTypeOutput();`,
)

const write = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// console.log during a request goes to the request's output (one-shot mode prints it)
let capture = null
console.log = (...args) => {
  const text = util.format(...args) + '\n'
  if (capture !== null) capture.push(text)
  else process.stderr.write(text)
}

let envChain = Promise.resolve()
let counter = 0
const loadConstants = (env) => {
  const step = envChain.then(async () => {
    for (const key of Object.keys(process.env)) {
      if (key.startsWith('PG_META_')) delete process.env[key]
    }
    Object.assign(process.env, env)
    counter += 1
    return await import(`${constantsUrl}?request=${counter}`)
  })
  envChain = step.catch(() => {})
  return step
}

const handle = async (request) => {
  const printed = []
  try {
    const constants = await loadConstants(request.env ?? {})
    const values = constantNames.map(({ imported }) => constants[imported])
    capture = printed
    const result = await make(...fixedNames.map((n) => fixed[n]), ...values)
    printed.push(util.format(result) + '\n')
    write({ id: request.id, ok: true, stdout: printed.join('') })
  } catch (err) {
    const text = err instanceof Error ? (err.stack ?? String(err)) : util.format(err)
    write({ id: request.id, ok: false, stderr: text })
  } finally {
    capture = null
  }
}

write({ ready: true, version })
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
const pending = new Set()
lines.on('line', (line) => {
  if (!line.trim()) return
  let request
  try {
    request = JSON.parse(line)
  } catch (err) {
    write({ id: null, ok: false, stderr: `driver: bad request line: ${err}` })
    return
  }
  const job = handle(request)
  pending.add(job)
  job.finally(() => pending.delete(job))
})
lines.on('close', async () => {
  await Promise.allSettled([...pending])
  process.exit(0)
})
