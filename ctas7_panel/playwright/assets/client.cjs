// ctas7: the bridge client of the Playwright reporter. Written by `ctas7 playwright init`
// (re-run it with --force to update). Plain Node (>= 18): `net`, `tls`, `crypto`, `fs`; no package.
//
// - connectWebSocket(url, options): a small RFC 6455 client (text frames, ping/pong, close),
//   because Node 20 has no WebSocket without a flag and its WebSocket cannot send headers;
// - BridgeSender: events go to the bridge's ingress (CTAS7_BRIDGE_URL) in small batches, one
//   event per frame, each answered {"ack": id} or {"error": ...}. When the bridge cannot take
//   them they wait (bounded) and are retried every `retryMs`; what is still undelivered at the
//   end, and a snapshot of it while the bridge is down, is written atomically to `spillPath`
//   as JSON lines of events, which `ctas7 ingest` accepts (event ids are stable: nothing is
//   stored twice).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_FRAME = 1 << 20;

function encodeFrame(opcode, payload) {
  const len = payload.length;
  let header;
  if (len < 126) {
    header = Buffer.alloc(2);
    header[1] = 0x80 | len;
  } else if (len < 65536) {
    header = Buffer.alloc(4);
    header[1] = 0x80 | 126;
    header.writeUInt16BE(len, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(len), 2);
  }
  header[0] = 0x80 | opcode;
  const mask = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([header, mask, body]);
}

/** Parse complete frames off the front of `buf`; returns [frames, rest]. Throws on bad input. */
function decodeFrames(buf) {
  const frames = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const b0 = buf[at];
    const b1 = buf[at + 1];
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - at < 10) break;
      const big = buf.readBigUInt64BE(at + 2);
      if (big > BigInt(MAX_FRAME)) throw new Error(`frame of ${big} bytes is over ${MAX_FRAME}`);
      len = Number(big);
      head = 10;
    }
    if (len > MAX_FRAME) throw new Error(`frame of ${len} bytes is over ${MAX_FRAME}`);
    const masked = (b1 & 0x80) !== 0;
    const need = head + (masked ? 4 : 0) + len;
    if (buf.length - at < need) break;
    let payload = buf.subarray(at + head + (masked ? 4 : 0), at + need);
    if (masked) {
      const mask = buf.subarray(at + head, at + head + 4);
      payload = Buffer.from(payload);
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    }
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload });
    at += need;
  }
  return [frames, buf.subarray(at)];
}

/**
 * Open a websocket. Resolves to {send(text), close(), onmessage, onclose} or rejects with an
 * Error whose message says what went wrong (connection refused, HTTP 401 ..., timed out).
 */
function connectWebSocket(url, { headers = {}, timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    let u;
    try {
      u = new URL(url);
    } catch (err) {
      reject(new Error(`not a URL: ${url}`));
      return;
    }
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
      reject(new Error(`not a ws:// or wss:// URL: ${redact(url)}`));
      return;
    }
    const secure = u.protocol === 'wss:';
    const port = Number(u.port || (secure ? 443 : 80));
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const key = crypto.randomBytes(16).toString('base64');
    const lines = [
      `GET ${u.pathname || '/'}${u.search} HTTP/1.1`,
      `Host: ${u.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
      : net.connect({ host, port });
    let settled = false;
    let buf = Buffer.alloc(0);
    let open = false;
    let text = [];
    const conn = {
      onmessage: null,
      onclose: null,
      closed: false,
      send(data) {
        if (conn.closed) throw new Error('connection closed');
        socket.write(encodeFrame(0x1, Buffer.from(data, 'utf8')));
      },
      close() {
        if (conn.closed) return;
        conn.closed = true;
        try {
          socket.write(encodeFrame(0x8, Buffer.from([0x03, 0xe8])));
        } catch (_) {
          // already gone
        }
        socket.end();
        setTimeout(() => socket.destroy(), 500).unref();
      },
    };
    const timer = setTimeout(() => fail(new Error('timed out')), timeoutMs);
    timer.unref();

    function fail(err) {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
        return;
      }
      finish(err.message);
    }
    function finish(reason) {
      if (!conn.closed) conn.closed = true;
      socket.destroy();
      const cb = conn.onclose;
      conn.onclose = null;
      if (cb) cb(reason);
    }
    socket.setNoDelay(true);
    socket.on(secure ? 'secureConnect' : 'connect', () => {
      socket.write(lines.join('\r\n') + '\r\n\r\n');
    });
    socket.on('error', (err) => fail(new Error(describeError(err))));
    socket.on('close', () => {
      if (!settled) fail(new Error('connection closed during the handshake'));
      else finish('connection closed');
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > 16384) fail(new Error('handshake reply too long'));
          return;
        }
        const head = buf.subarray(0, end).toString('latin1').split('\r\n');
        const status = head[0] || '';
        const m = /^HTTP\/1\.[01] (\d{3})(.*)$/.exec(status);
        if (!m || m[1] !== '101') {
          const body = buf.subarray(end + 4).toString('utf8').trim().split('\n')[0];
          fail(new Error(`HTTP ${m ? m[1] + m[2] : status.slice(0, 60)}${body ? ': ' + body : ''}`));
          return;
        }
        const accept = head
          .map((l) => /^sec-websocket-accept:\s*(.+)$/i.exec(l))
          .find(Boolean);
        const want = crypto.createHash('sha1').update(key + GUID).digest('base64');
        if (!accept || accept[1].trim() !== want) {
          fail(new Error('bad Sec-WebSocket-Accept in the handshake reply'));
          return;
        }
        open = true;
        settled = true;
        clearTimeout(timer);
        buf = buf.subarray(end + 4);
        resolve(conn);
      }
      let frames;
      try {
        [frames, buf] = decodeFrames(buf);
      } catch (err) {
        finish(err.message);
        return;
      }
      for (const f of frames) {
        if (f.opcode === 0x9) {
          if (!conn.closed) socket.write(encodeFrame(0xa, f.payload));
        } else if (f.opcode === 0x8) {
          const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
          conn.close();
          finish(`closed by the server (${code}${f.payload.length > 2 ? ' ' + f.payload.subarray(2).toString('utf8') : ''})`);
          return;
        } else if (f.opcode === 0x1 || (f.opcode === 0x0 && text.length)) {
          text.push(f.payload);
          if (f.fin) {
            const message = Buffer.concat(text).toString('utf8');
            text = [];
            if (conn.onmessage) {
              try {
                conn.onmessage(message);
              } catch (err) {
                finish(`reply handler failed: ${err.message || err}`);
                return;
              }
            }
          }
        }
      }
    });
  });
}

function describeError(err) {
  if (err && err.code === 'ECONNREFUSED') return 'connection refused';
  if (err && err.code === 'ENOTFOUND') return `host not found (${err.hostname})`;
  if (err && err.code === 'ECONNRESET') return 'connection reset';
  return (err && (err.message || String(err))) || 'unknown error';
}

/** The URL without a password or a token in its query (for messages). */
function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('token')) u.searchParams.set('token', '***');
    return u.toString();
  } catch (_) {
    return String(url);
  }
}

/** Write `data` to `file` atomically: a temp file in the same folder, then rename. */
function atomicWrite(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

class BridgeSender {
  /**
   * @param {object} o url, token, spillPath, and optional batch (events per batch, 50),
   *   flushMs (wait to fill a batch, 0: the next tick), connectTimeoutMs (2000), replyTimeoutMs (5000),
   *   retryMs (2000), maxPending (100000), spillEveryMs (2000).
   */
  constructor(o) {
    this.url = o.url;
    this.token = o.token || null;
    this.spillPath = o.spillPath || null;
    this.batch = o.batch || 50;
    this.flushMs = o.flushMs ?? 0;
    this.connectTimeoutMs = o.connectTimeoutMs || 2000;
    this.replyTimeoutMs = o.replyTimeoutMs || 5000;
    this.retryMs = o.retryMs || 2000;
    this.maxPending = o.maxPending || 100000;
    this.spillEveryMs = o.spillEveryMs || 2000;
    this.pending = [];
    this.delivered = 0;
    this.refused = 0;
    this.dropped = 0;
    this.firstRejection = null;
    this.error = null; // the last failure, cleared by a success
    this.everFailed = false;
    this._conn = null;
    this._pump = null;
    this._timer = null;
    this._retryAt = 0;
    this._spilledAt = 0;
    this._spilled = false;
    this._closing = false;
  }

  /** Queue one event (never throws, never blocks). */
  submit(event) {
    this.pending.push(event);
    if (this.pending.length > this.maxPending) {
      this.pending.shift();
      this.dropped += 1;
    }
    this._schedule(this.pending.length >= this.batch ? 0 : this.flushMs);
  }

  _schedule(delayMs) {
    if (this._pump || this._closing) return;
    const wait = Math.max(delayMs, this._retryAt - Date.now(), 0);
    if (this._timer) {
      if (wait > 0) return; // a flush is already planned
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      this._run();
    }, wait);
    this._timer.unref();
  }

  _run() {
    if (this._pump) return this._pump;
    this._pump = this._drain().finally(() => {
      this._pump = null;
      if (this.pending.length && !this._closing) this._schedule(0);
    });
    return this._pump;
  }

  async _connect() {
    if (this._conn && !this._conn.closed) return this._conn;
    const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    const conn = await connectWebSocket(this.url, { headers, timeoutMs: this.connectTimeoutMs });
    conn.onclose = () => {
      if (this._conn === conn) this._conn = null;
    };
    this._conn = conn;
    return conn;
  }

  /** Send batches until nothing is pending or the bridge fails (then retry in retryMs). */
  async _drain() {
    while (this.pending.length) {
      const chunk = this.pending.slice(0, this.batch);
      let answered = 0;
      try {
        const conn = await this._connect();
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('timed out waiting for acks')), this.replyTimeoutMs);
          timer.unref();
          conn.onmessage = (text) => {
            if (answered >= chunk.length) return; // nothing is waiting for it
            let reply;
            try {
              reply = JSON.parse(text);
            } catch (_) {
              reply = { error: `unreadable reply: ${text.slice(0, 80)}` };
            }
            const event = chunk[answered];
            if (reply && reply.ack === event.event_id) this.delivered += 1;
            else {
              this.refused += 1;
              if (this.firstRejection === null) this.firstRejection = String((reply && reply.error) || text);
            }
            answered += 1;
            if (answered === chunk.length) {
              clearTimeout(timer);
              conn.onmessage = null;
              resolve();
            }
          };
          conn.onclose = (reason) => {
            if (this._conn === conn) this._conn = null;
            clearTimeout(timer);
            reject(new Error(reason));
          };
          for (const e of chunk) conn.send(JSON.stringify(e));
        });
        this.pending.splice(0, chunk.length);
        this.error = null;
      } catch (err) {
        this.pending.splice(0, answered); // answered ones are done either way
        this.error = err.message || String(err);
        this.everFailed = true;
        this._retryAt = Date.now() + this.retryMs;
        if (this._conn) {
          this._conn.close();
          this._conn = null;
        }
        this._snapshot(false);
        return;
      }
    }
    if (this._spilled) this._snapshot(true);
  }

  /** While the bridge is down, keep the spill file equal to what is pending (throttled). */
  _snapshot(force) {
    if (!this.spillPath) return;
    const now = Date.now();
    if (!force && now - this._spilledAt < this.spillEveryMs) return;
    this._spilledAt = now;
    try {
      if (this.pending.length) {
        atomicWrite(this.spillPath, this.pending.map((e) => JSON.stringify(e)).join('\n') + '\n');
        this._spilled = true;
      } else if (this._spilled) {
        fs.rmSync(this.spillPath, { force: true });
        this._spilled = false;
      }
    } catch (err) {
      this.spillError = err.message || String(err);
    }
  }

  /**
   * Deliver what is pending (one more try even while backing off), within `deadlineMs`;
   * then write what is left to the spill file (or remove a stale one). Returns a summary.
   */
  async close(deadlineMs = 10000) {
    this._closing = true;
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    const end = Date.now() + deadlineMs;
    let lastTry = false;
    while (this.pending.length && Date.now() < end) {
      if (this._pump) {
        await within(this._pump, end - Date.now());
        continue;
      }
      if (this.error !== null) {
        if (lastTry) break;
        lastTry = true; // the bridge failed before: one more try, no waiting
      }
      await within(this._run(), end - Date.now());
    }
    if (this._conn) {
      this._conn.close();
      this._conn = null;
    }
    const leftover = this.pending.slice();
    if (leftover.length && this.error === null) this.error = `not flushed within ${deadlineMs} ms`;
    this._snapshot(true);
    return {
      delivered: this.delivered,
      refused: this.refused,
      dropped: this.dropped,
      undelivered: leftover.length,
      firstRejection: this.firstRejection,
      error: leftover.length ? this.error : null,
      spillPath: this._spilled ? this.spillPath : null,
      spillError: this.spillError || null,
    };
  }
}

/** Wait for `promise`, at most `ms` (the timer is cleared, so it never holds the process). */
function within(promise, ms) {
  let timer;
  const limit = new Promise((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

module.exports = { connectWebSocket, BridgeSender, atomicWrite, redact, encodeFrame, decodeFrames };
