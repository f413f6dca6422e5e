/** One server-sent event: its `event:` name ('message' when none) and its `data:` lines joined. */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/** The most bytes one event may take before the stream is treated as broken (a server never sends that much per change). */
const MAX_EVENT_BYTES = 1024 * 1024;

/**
 * Reads server-sent events from a response body as they arrive. Comment lines (`:` heartbeats) count as activity: `onActivity`
 * is called for every chunk, so a caller can tell a live but quiet stream from a dead one.
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>, onActivity: () => void): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onActivity();
      buffer += decoder.decode(value, { stream: true });
      if (buffer.length > MAX_EVENT_BYTES) throw new Error(`an event larger than ${MAX_EVENT_BYTES} bytes`);
      let end: number;
      while ((end = eventEnd(buffer)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^(\r\n|\n|\r){2}/, '');
        const parsed = parseBlock(block);
        if (parsed) yield parsed;
      }
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
}

function eventEnd(buffer: string): number {
  const m = /(\r\n|\n|\r){2}/.exec(buffer);
  return m ? m.index : -1;
}

function parseBlock(block: string): ServerSentEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length > 0 ? { event, data: data.join('\n') } : undefined;
}
