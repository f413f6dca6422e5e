/**
 * HTTP/1.1 message framing for the router's data plane (RFC 9112): message heads and the length of the body that
 * follows. Strict where leniency lets a proxy and a server disagree about where a message ends or where it goes
 * (request smuggling, cache poisoning): obsolete line folding, bare LF or CR, whitespace before a colon, conflicting
 * Content-Length values, and in a request more than one Host or Content-Length, or Content-Length together with
 * Transfer-Encoding, are all refused. No I/O here.
 */

/** A message the router refuses; `status` is what the client gets (400, 431, 501, 505; 502 for an upstream's). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The most a message head may take, request line and headers together (as Node's and nginx's defaults). */
export const MAX_HEAD_BYTES = 16 * 1024;

export interface Head {
  /** Request method; '' for a response. */
  method: string;
  /** Request target as sent; '' for a response. */
  target: string;
  /** Response status; 0 for a request. */
  status: number;
  reason: string;
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** Header fields as sent, flat: [name, value, name, value, …]; values trimmed. */
  headers: string[];
  /** Lower-cased tokens of the Connection header(s). */
  connection: string[];
  /** Body length from Content-Length; -1 when there is none. */
  contentLength: number;
  /** The body is chunked (Transfer-Encoding ends in chunked). */
  chunked: boolean;
  /** A Transfer-Encoding other than chunked last: a response body then runs until the connection closes. */
  otherCoding: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Visible ASCII, obs-text, space and tab only: no CR, LF, NUL or other controls inside a field value.
const BAD_VALUE = /[\0-\x08\n-\x1f\x7f]/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\0-\x20\x7f]+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\0-\x08\n-\x1f\x7f]*))?$/;

/**
 * Parses a message head: `text` is its bytes decoded as Latin-1, without the blank line that ends it.
 * Throws HttpError saying what is wrong.
 */
export function parseHead(text: string, kind: 'request' | 'response'): Head {
  const bad = (what: string) => new HttpError(kind === 'request' ? 400 : 502, `${kind === 'request' ? 'bad request' : 'bad upstream response'}: ${what}`);
  const lines = text.split('\r\n');
  const first = lines[0]!;
  const head: Head = { method: '', target: '', status: 0, reason: '', minor: 1, headers: [], connection: [], contentLength: -1, chunked: false, otherCoding: false };
  if (kind === 'request') {
    const m = REQUEST_LINE.exec(first);
    if (!m) {
      if (/^\S+ \S+ HTTP\/\d/.test(first) && !/HTTP\/1\.[01]$/.test(first)) throw new HttpError(505, 'HTTP version not supported: only HTTP/1.0 and HTTP/1.1');
      throw bad('malformed request line');
    }
    head.method = m[1]!;
    head.target = m[2]!;
    head.minor = m[3] === '0' ? 0 : 1;
  } else {
    const m = STATUS_LINE.exec(first);
    if (!m) throw bad('malformed status line');
    head.minor = m[1] === '0' ? 0 : 1;
    head.status = Number(m[2]);
    head.reason = m[3] ?? '';
  }
  let te: string | undefined;
  let cl: string | undefined;
  let hosts = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) throw bad('obsolete line folding');
    if (colon <= 0) throw bad(`header line without a name: ${JSON.stringify(line.slice(0, 40))}`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw bad(`invalid header name ${JSON.stringify(name.slice(0, 40))}`);
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw bad(`invalid character in header ${name}`);
    head.headers.push(name, value);
    switch (name.length) {
      case 4:
        // RFC 9112 §3.2: two Host lines leave the stage a request is for open to whoever reads it.
        if (kind === 'request' && name.toLowerCase() === 'host' && ++hosts > 1) throw bad('more than one Host header');
        break;
      case 10:
        if (name.toLowerCase() === 'connection') for (const t of value.split(',')) head.connection.push(t.trim().toLowerCase());
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          // A request has one Content-Length with one value; in a response, repeated or listed values must all agree
          // (RFC 9112 §6.3 lets a recipient refuse either).
          if (kind === 'request' && (cl !== undefined || value.includes(','))) throw bad('more than one Content-Length');
          for (const v of value.split(',')) {
            const t = v.trim();
            if (!/^\d{1,15}$/.test(t) || (cl !== undefined && t !== cl)) throw bad('invalid or conflicting Content-Length');
            cl = t;
          }
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') te = te === undefined ? value : `${te}, ${value}`;
        break;
    }
  }
  if (te !== undefined) {
    const codings = te.toLowerCase().split(',').map((c) => c.trim());
    head.chunked = codings.at(-1) === 'chunked';
    if (codings.slice(0, -1).includes('chunked')) throw bad('chunked must be the last transfer coding, and only once');
    if (kind === 'request') {
      if (head.minor === 0) throw bad('Transfer-Encoding in an HTTP/1.0 request');
      if (!head.chunked) throw new HttpError(501, 'not implemented: request Transfer-Encoding other than chunked');
      if (cl !== undefined) throw bad('both Content-Length and Transfer-Encoding');
    } else head.otherCoding = !head.chunked;
  } else if (cl !== undefined) head.contentLength = Number(cl);
  return head;
}

/** Which body follows a head. */
export type BodyKind = { kind: 'none' } | { kind: 'length'; n: number } | { kind: 'chunked' } | { kind: 'close' };

export function requestBody(h: Head): BodyKind {
  if (h.chunked) return { kind: 'chunked' };
  return h.contentLength > 0 ? { kind: 'length', n: h.contentLength } : { kind: 'none' };
}

/** RFC 9112 §6.3: HEAD answers, 1xx, 204 and 304 have no body; otherwise chunked, a length, or until close. */
export function responseBody(h: Head, requestMethod: string): BodyKind {
  if (requestMethod === 'HEAD' || h.status < 200 || h.status === 204 || h.status === 304) return { kind: 'none' };
  if (h.chunked) return { kind: 'chunked' };
  if (h.otherCoding) return { kind: 'close' };
  return h.contentLength >= 0 ? (h.contentLength === 0 ? { kind: 'none' } : { kind: 'length', n: h.contentLength }) : { kind: 'close' };
}

const enum Chunk {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailer,
  TrailerLf,
  Done,
}

/**
 * Follows a body as it streams by, to find where it ends; the bytes themselves are passed on unchanged.
 * For chunked bodies it can also hand out just the data (for HTTP/1.0 clients, who do not know chunked).
 */
export class BodyScanner {
  private state = Chunk.Size;
  private remaining: number;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private lineEmpty = true;
  done: boolean;
  /** The body ends when the connection does. */
  get untilClose(): boolean {
    return this.body.kind === 'close';
  }

  constructor(
    private readonly body: BodyKind,
    private readonly what: 'request' | 'response',
  ) {
    this.remaining = body.kind === 'length' ? body.n : 0;
    this.done = body.kind === 'none';
  }

  /**
   * Takes bytes from `buf` starting at `from`; returns how many belong to this body (the rest, if any, is the next
   * message). `data` receives the chunk payloads of a chunked body.
   */
  feed(buf: Buffer, from = 0, data?: (b: Buffer) => void): number {
    if (this.done) return 0;
    const avail = buf.length - from;
    switch (this.body.kind) {
      case 'length': {
        const take = Math.min(avail, this.remaining);
        this.remaining -= take;
        if (this.remaining === 0) this.done = true;
        return take;
      }
      case 'close':
        return avail;
      case 'chunked':
        return this.chunked(buf, from, data) - from;
      default:
        return 0;
    }
  }

  private fail(what: string): never {
    throw new HttpError(this.what === 'request' ? 400 : 502, `${this.what === 'request' ? 'bad request' : 'bad upstream response'}: ${what}`);
  }

  private chunked(buf: Buffer, from: number, data?: (b: Buffer) => void): number {
    let i = from;
    while (i < buf.length) {
      const c = buf[i]!;
      switch (this.state) {
        case Chunk.Size: {
          const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (v >= 0) {
            if (++this.digits > 12) this.fail('chunk size too large');
            this.size = this.size * 16 + v;
            i++;
          } else if (this.digits === 0) this.fail('chunk size missing');
          else if (c === 13) {
            this.state = Chunk.SizeLf;
            i++;
          } else if (c === 59 || c === 32 || c === 9) {
            this.state = Chunk.Ext;
            this.lineBytes = 0;
            i++;
          } else this.fail('invalid chunk size');
          break;
        }
        case Chunk.Ext:
          if (c === 13) this.state = Chunk.SizeLf;
          else if (c === 10 || ++this.lineBytes > 4096) this.fail('invalid chunk extension');
          i++;
          break;
        case Chunk.SizeLf:
          if (c !== 10) this.fail('chunk size line not ended by CRLF');
          i++;
          if (this.size === 0) {
            this.state = Chunk.Trailer;
            this.lineEmpty = true;
          } else {
            this.state = Chunk.Data;
            this.remaining = this.size;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case Chunk.Data: {
          const take = Math.min(buf.length - i, this.remaining);
          if (data) data(buf.subarray(i, i + take));
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = Chunk.DataCr;
          break;
        }
        case Chunk.DataCr:
          if (c !== 13) this.fail('chunk data not followed by CRLF');
          this.state = Chunk.DataLf;
          i++;
          break;
        case Chunk.DataLf:
          if (c !== 10) this.fail('chunk data not followed by CRLF');
          this.state = Chunk.Size;
          i++;
          break;
        case Chunk.Trailer:
          if (c === 13) this.state = Chunk.TrailerLf;
          else if (c === 10) this.fail('bare LF in trailer');
          else this.lineEmpty = false;
          if (++this.trailerBytes > MAX_HEAD_BYTES) this.fail('trailer too large');
          i++;
          break;
        case Chunk.TrailerLf:
          if (c !== 10) this.fail('trailer line not ended by CRLF');
          i++;
          if (this.lineEmpty) {
            this.state = Chunk.Done;
            this.done = true;
            return i;
          }
          this.state = Chunk.Trailer;
          this.lineEmpty = true;
          break;
        default:
          return i;
      }
    }
    return i;
  }
}
