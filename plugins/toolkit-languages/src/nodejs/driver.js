'use strict';
// krunner's Node.js interpreter driver.
//
// One long-lived Node.js process per runner. Commands arrive on stdin as JSON lines;
// everything the interpreter produces goes back on stdout as framed records "KIND LEN\n" + LEN
// bytes. Snippets run in one global context, so variables, functions and modules persist. A
// snippet that uses top-level `await` (or returns a promise) finishes when the promise settles.
// `input(prompt)` and `password(prompt)` return promises of the user's answer.

const fs = require('fs');
const vm = require('vm');
const util = require('util');
const readline = require('readline');
const childProcess = require('child_process');
const { createRequire } = require('module');
const path = require('path');

// Snippets see `require` resolving from the session directory, like a script saved there.
globalThis.require = createRequire(path.join(process.cwd(), '<input>'));

const CTL = 1;

function writeAll(buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(CTL, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

// The host takes a record of more than 64 MiB for a corrupt stream (MAX_RECORD in
// plugins/common/repl/src/records.rs): output goes in pieces of at most 1 MiB, and larger rich
// output is refused here.
const MAX_RECORD = 64 * 1024 * 1024;
const PIECE = 1024 * 1024;

function frame(kind, body) {
  return Buffer.concat([Buffer.from(`${kind} ${body.length}\n`, 'ascii'), body]);
}

function send(kind, data) {
  const body = Buffer.isBuffer(data) ? data : Buffer.from(String(data), 'utf8');
  if (kind === 'out' || kind === 'err') {
    let off = 0;
    do {
      writeAll(frame(kind, body.subarray(off, off + PIECE)));
      off += PIECE;
    } while (off < body.length);
  } else if (body.length > MAX_RECORD) {
    writeAll(frame('err', Buffer.from(`krunner: a ${body.length}-byte ${kind} record is over the 64 MiB limit; not shown\n`)));
  } else {
    writeAll(frame(kind, body));
  }
}

function toBuffer(chunk, encoding) {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk);
  return Buffer.from(String(chunk), typeof encoding === 'string' ? encoding : 'utf8');
}

// User output: every write is a record, in order with everything else the interpreter sends.
for (const [stream, kind] of [[process.stdout, 'out'], [process.stderr, 'err']]) {
  stream.write = (chunk, encoding, callback) => {
    send(kind, toBuffer(chunk, encoding));
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (cb) process.nextTick(cb);
    return true;
  };
}

// Child processes must not write raw bytes into the record stream: inherited stdout/stderr
// become pipes whose output is forwarded as records.
function pipedStdio(stdio) {
  const list = stdio === undefined ? null : (typeof stdio === 'string' ? [stdio, stdio, stdio] : Array.from(stdio));
  if (!list) return { stdio, forward: [false, false] };
  const forward = [false, false];
  for (const i of [1, 2]) {
    if (list[i] === 'inherit' || list[i] === i || list[i] === process.stdout || list[i] === process.stderr) {
      list[i] = 'pipe';
      forward[i - 1] = true;
    }
  }
  return { stdio: list, forward };
}

const originalSpawn = childProcess.spawn;
childProcess.spawn = function spawn(command, args, options) {
  if (!Array.isArray(args) && args && typeof args === 'object') {
    options = args;
    args = [];
  }
  const opts = Object.assign({}, options);
  const { stdio, forward } = pipedStdio(opts.stdio);
  opts.stdio = stdio;
  const child = originalSpawn.call(this, command, args || [], opts);
  if (forward[0] && child.stdout) child.stdout.on('data', (d) => send('out', d));
  if (forward[1] && child.stderr) child.stderr.on('data', (d) => send('err', d));
  return child;
};

for (const name of ['spawnSync', 'execSync', 'execFileSync']) {
  const original = childProcess[name];
  childProcess[name] = function (...args) {
    const at = args.findIndex((a) => a && typeof a === 'object' && !Array.isArray(a));
    if (at < 0) return original.apply(this, args);
    const opts = Object.assign({}, args[at]);
    const { stdio, forward } = pipedStdio(opts.stdio);
    if (!forward[0] && !forward[1]) return original.apply(this, args);
    opts.stdio = stdio;
    args[at] = opts;
    let result;
    let failure;
    try {
      result = original.apply(this, args);
    } catch (e) {
      failure = e;
      result = e;
    }
    const out = result && (name === 'spawnSync' ? result.stdout : (failure ? failure.stdout : result));
    const err = result && (name === 'spawnSync' ? result.stderr : (failure ? failure.stderr : null));
    if (forward[0] && out && out.length) send('out', toBuffer(out));
    if (forward[1] && err && err.length) send('err', toBuffer(err));
    if (failure) throw failure;
    return name === 'spawnSync' ? result : (forward[0] ? (opts.encoding && opts.encoding !== 'buffer' ? '' : Buffer.alloc(0)) : result);
  };
}

// Input: the plugin asks the user and answers with an "input" command.
const pendingInputs = [];
function ask(prompt, isPassword) {
  let text = String(prompt === undefined ? '' : prompt);
  if (text.length > PIECE) {
    // Too long for a record: shown as output, like every prompt.
    send('out', text);
    text = '';
  }
  return new Promise((resolve) => {
    pendingInputs.push(resolve);
    send('input', JSON.stringify({ prompt: text, password: isPassword }));
  });
}
globalThis.input = (prompt) => ask(prompt, false);
globalThis.password = (prompt) => ask(prompt === undefined ? 'Password: ' : prompt, true);

// Completion from the live global scope.
function complete(req) {
  const line = String(req.line || req.code || '');
  const col = Number.isInteger(req.col) && req.col >= 0 && req.col <= line.length ? req.col : line.length;
  const m = /([\w$]+(?:\.[\w$]+)*)\.?([\w$]*)$/.exec(line.slice(0, col));
  if (!m) return [];
  const text = line.slice(0, col);
  const dotted = text.endsWith('.') || /\.[\w$]*$/.test(m[0]);
  let base = globalThis;
  let prefix = m[0];
  if (dotted) {
    const parts = m[0].split('.');
    prefix = parts.pop();
    try {
      base = vm.runInThisContext(parts.join('.'));
    } catch (e) {
      return [];
    }
  }
  if (base === null || base === undefined) return [];
  const names = new Set();
  for (let o = Object(base); o; o = Object.getPrototypeOf(o)) {
    for (const k of Object.getOwnPropertyNames(o)) names.add(k);
  }
  if (!dotted) {
    for (const k of ['await', 'async', 'break', 'case', 'catch', 'class', 'const', 'continue', 'else', 'for', 'function', 'if', 'let', 'new', 'return', 'switch', 'throw', 'try', 'typeof', 'var', 'while']) names.add(k);
  }
  return Array.from(names).filter((k) => k.startsWith(prefix) && /^[\w$]+$/.test(k)).sort().slice(0, 200);
}

// Whether a snippet is complete, by V8's parser: a syntax error that more lines can fix (an
// open brace, bracket, string or template) makes it incomplete; any other makes it invalid.
const AsyncFunction = (async () => {}).constructor;
const RECOVERABLE = /Unexpected end of input|Unterminated template literal|missing \) after argument list|Unterminated string constant/;

function isComplete(code) {
  const source = String(code === undefined ? '' : code);
  if (!source.trim()) return { status: 'complete' };
  const parse = (text) => {
    try {
      new vm.Script(text, { filename: '<input>' });
      return null;
    } catch (e) {
      return e;
    }
  };
  let error;
  if (/\bawait\b/.test(source)) {
    // Snippets with top-level await run as an async function's body (see execute). Its
    // closing brace hides an open one, so what more lines could fix is asked of the source
    // with `await` read as another unary operator.
    try {
      new AsyncFunction(source);
    } catch (e) {
      error = parse(source.replace(/\bawait\b/g, 'void ')) || e;
    }
  } else {
    error = parse(source);
  }
  if (error) {
    if (!(error instanceof SyntaxError)) return { status: 'unknown' };
    if (!RECOVERABLE.test(error.message)) return { status: 'invalid' };
    const last = source.split('\n').pop();
    let indent = /^\s*/.exec(last)[0];
    if (/[{([]\s*$/.test(last)) indent += '  ';
    return { status: 'incomplete', indent };
  }
  return { status: 'complete' };
}

// Running snippets.
let running = null; // { id, interrupt(reason) }

function show(value) {
  if (value === undefined) return;
  process.stdout.write(util.inspect(value, { colors: false }) + '\n');
}

function report(error) {
  if (error && error.stack && typeof error.stack === 'string') {
    // Keep the user's frames: drop Node's internals and this driver.
    const lines = error.stack
      .split('\n')
      .filter((l) => !/^\s+at /.test(l) || !(/\(node:|^\s+at node:|krunner_driver|\[_/.test(l)));
    process.stderr.write(lines.join('\n') + '\n');
  } else {
    process.stderr.write('Uncaught ' + util.inspect(error) + '\n');
  }
}

async function execute(job) {
  let code = 0;
  const interrupted = new Promise((resolve) => {
    running = { id: job.id, interrupt: () => resolve('interrupted') };
  });
  try {
    let source = String(job.code || '');
    let value;
    if (/\bawait\b/.test(source)) {
      source = `(async () => {\n${source}\n})()`;
    }
    value = vm.runInThisContext(source, { filename: '<input>', breakOnSigint: true });
    if (value && typeof value.then === 'function') {
      const outcome = await Promise.race([value.then((v) => ({ v }), (e) => ({ e })), interrupted]);
      if (outcome === 'interrupted') {
        process.stderr.write('Interrupted\n');
        code = 130;
      } else if ('e' in outcome && outcome.e && outcome.e.krunnerExit !== undefined) {
        code = outcome.e.krunnerExit;
      } else if ('e' in outcome) {
        report(outcome.e);
        code = 1;
      } else if (!/\bawait\b/.test(String(job.code || ''))) {
        show(outcome.v);
      }
    } else {
      show(value);
    }
  } catch (e) {
    if (e && e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') {
      process.stderr.write('Interrupted\n');
      code = 130;
    } else if (e && e.krunnerExit !== undefined) {
      code = e.krunnerExit;
    } else {
      report(e);
      code = 1;
    }
  }
  running = null;
  send('done', JSON.stringify({ id: job.id, exit: code }));
}

// process.exit() in a snippet ends the snippet with that code, not the interpreter.
const realExit = process.exit.bind(process);
process.exit = (status) => {
  const e = new Error('exit');
  e.krunnerExit = Number.isInteger(status) ? status : (Number.isInteger(process.exitCode) ? process.exitCode : 0);
  throw e;
};

process.on('SIGINT', () => {
  // Unanswered input requests belong to the interrupted snippet.
  pendingInputs.length = 0;
  if (running) running.interrupt();
});
process.on('uncaughtException', (e) => {
  if (e && e.krunnerExit !== undefined) return;
  report(e);
});
process.on('unhandledRejection', (e) => report(e));

const queue = [];
let busy = false;
async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length) {
    await execute(queue.shift());
  }
  busy = false;
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return;
  }
  if (cmd.op === 'exec') {
    queue.push(cmd);
    pump();
  } else if (cmd.op === 'input') {
    const resolve = pendingInputs.shift();
    if (resolve) resolve(String(cmd.text === undefined ? '' : cmd.text));
  } else if (cmd.op === 'interrupt') {
    // The same as SIGINT, for a snippet waiting in the event loop (a SIGINT can be swallowed
    // as a snippet's synchronous part ends); ignored once that snippet is over.
    if (running && running.id === cmd.id) {
      pendingInputs.length = 0;
      running.interrupt();
    }
  } else if (cmd.op === 'input-cancel') {
    // The snippet was interrupted while asking; its question is dropped.
    pendingInputs.shift();
  } else if (cmd.op === 'complete') {
    let suggestions = [];
    try {
      suggestions = complete(cmd);
    } catch (e) {
      suggestions = [];
    }
    send('completion', JSON.stringify({ id: cmd.id, suggestions }));
  } else if (cmd.op === 'is-complete') {
    let verdict;
    try {
      verdict = isComplete(cmd.code);
    } catch (e) {
      verdict = { status: 'unknown' };
    }
    send('is-complete', JSON.stringify(Object.assign({ id: cmd.id }, verdict)));
  }
});
rl.on('close', () => realExit(0));
send('ready', '');
