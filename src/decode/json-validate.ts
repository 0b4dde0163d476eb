/**
 * Says whether bytes are one JSON text (RFC 8259) without building it. Sluice forwards record bytes
 * untouched, so on the ingest path JSON.parse served only as a validator: for a 200-byte device record it
 * costs ~1.6 µs (a string, an object with its fields, garbage), this scan ~0.4 µs. It accepts exactly what
 * JSON.parse accepts for bytes already checked to be UTF-8 (`json-validate.test.ts` compares the two on
 * random and mutated texts); callers that need a value, or JSON.parse's error message, still call it.
 */

// Byte values of JSON's structural characters; json-records.ts splits bodies with the same ones.
export const SPACE = 0x20,
  TAB = 0x09,
  LF = 0x0a,
  CR = 0x0d;
export const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COMMA = 0x2c;
const COLON = 0x3a,
  MINUS = 0x2d,
  PLUS = 0x2b,
  DOT = 0x2e;
export const OPEN_BRACE = 0x7b,
  CLOSE_BRACE = 0x7d,
  OPEN_BRACKET = 0x5b,
  CLOSE_BRACKET = 0x5d;
const ZERO = 0x30,
  NINE = 0x39,
  LOWER_E = 0x65,
  UPPER_E = 0x45;
const IN_OBJECT = 1,
  IN_ARRAY = 2;

/** Escapes allowed after a backslash, besides `u`: " \ / b f n r t. */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
/** Bytes that stand for themselves inside a string: all but `"`, `\` and control characters. */
const PLAIN = new Uint8Array(256).fill(1);
for (let c = 0; c < 0x20; c++) PLAIN[c] = 0;
PLAIN[0x22] = 0;
PLAIN[0x5c] = 0;

// Open containers of the text being checked; grows for deeper nesting (JSON.parse has no depth limit).
let stack = new Uint8Array(64);

export const isWs = (c: number) => c === SPACE || c === LF || c === CR || c === TAB;

function skipWs(b: Uint8Array, i: number, end: number): number {
  while (i < end && isWs(b[i])) i++;
  return i;
}

/** `i` at the opening quote; returns the index after the closing one, or -1. */
function skipString(b: Uint8Array, i: number, end: number): number {
  i++;
  while (i < end) {
    while (i < end && PLAIN[b[i]] === 1) i++; // most of a record's bytes
    if (i >= end) return -1;
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const e = b[i + 1];
      if (i + 1 < end && SIMPLE_ESCAPE[e] === 1) i += 2;
      else if (
        e === 0x75 /* u */ &&
        i + 5 < end &&
        HEX[b[i + 2]] === 1 &&
        HEX[b[i + 3]] === 1 &&
        HEX[b[i + 4]] === 1 &&
        HEX[b[i + 5]] === 1
      )
        i += 6;
      else return -1;
    } else {
      return -1; // control characters must be escaped
    }
  }
  return -1;
}

const isDigit = (c: number) => c >= ZERO && c <= NINE;

/** `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; returns the index after it, or -1. */
function skipNumber(b: Uint8Array, i: number, end: number): number {
  if (b[i] === MINUS) i++;
  if (i >= end) return -1;
  if (b[i] === ZERO) i++;
  else if (isDigit(b[i])) while (i < end && isDigit(b[i])) i++;
  else return -1;
  if (i < end && b[i] === DOT) {
    i++;
    if (i >= end || !isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  if (i < end && (b[i] === LOWER_E || b[i] === UPPER_E)) {
    i++;
    if (i < end && (b[i] === PLUS || b[i] === MINUS)) i++;
    if (i >= end || !isDigit(b[i])) return -1;
    while (i < end && isDigit(b[i])) i++;
  }
  return i;
}

function skipLiteral(b: Uint8Array, i: number, end: number, word: string): number {
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** `i` at a key's opening quote; returns the index of the value after `"key" :`, or -1. */
function skipKey(b: Uint8Array, i: number, end: number): number {
  if (i >= end || b[i] !== QUOTE) return -1;
  i = skipWs(b, skipString(b, i, end), end);
  if (i < 0 || i >= end || b[i] !== COLON) return -1;
  return skipWs(b, i + 1, end);
}

/** True when b[start, end) is exactly one JSON value, with optional whitespace around it. */
export function isJsonText(b: Uint8Array, start: number, end: number): boolean {
  let depth = 0;
  let i = skipWs(b, start, end);
  for (;;) {
    // A value starts at i.
    if (i >= end) return false;
    const c = b[i];
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      i = skipWs(b, i + 1, end);
      if (i < end && b[i] === close) {
        i++;
      } else {
        if (depth === stack.length) {
          const deeper = new Uint8Array(stack.length * 2);
          deeper.set(stack);
          stack = deeper;
        }
        stack[depth++] = c === OPEN_BRACE ? IN_OBJECT : IN_ARRAY;
        if (c === OPEN_BRACE && (i = skipKey(b, i, end)) < 0) return false;
        continue; // the first member's value
      }
    } else if (c === QUOTE) {
      i = skipString(b, i, end);
    } else if (c === MINUS || isDigit(c)) {
      i = skipNumber(b, i, end);
    } else if (c === 0x74 /* t */) {
      i = skipLiteral(b, i, end, 'true');
    } else if (c === 0x66 /* f */) {
      i = skipLiteral(b, i, end, 'false');
    } else if (c === 0x6e /* n */) {
      i = skipLiteral(b, i, end, 'null');
    } else {
      return false;
    }
    if (i < 0) return false;
    // A value ended at i: a comma for the next one, or the end of its containers.
    for (;;) {
      i = skipWs(b, i, end);
      if (depth === 0) return i === end;
      if (i >= end) return false;
      const inObject = stack[depth - 1] === IN_OBJECT;
      if (b[i] === COMMA) {
        i = skipWs(b, i + 1, end);
        if (inObject && (i = skipKey(b, i, end)) < 0) return false;
        break;
      }
      if (b[i] !== (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) return false;
      depth--;
      i++;
    }
  }
}
