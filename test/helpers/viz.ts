/** A reader of the visualizer's event stream for tests: await the records you expect, no sleeping. */
import type { Hello, Update } from '../../runtime/viz/model.js';

export interface VizStream {
  readonly hello: Promise<Hello>;
  /** Everything received after the hello, in order. */
  readonly updates: Update[];
  /** Resolves with the first update (already received or still to come) that matches; rejects after `ms`. */
  next<U extends Update>(match: (u: Update) => u is U, ms?: number): Promise<U>;
  next(match: (u: Update) => boolean, ms?: number): Promise<Update>;
  close(): void;
}

export const openVizStream = (baseUrl: string): VizStream => {
  const abort = new AbortController();
  const updates: Update[] = [];
  const waiters: Array<{ match: (u: Update) => boolean; resolve: (u: Update) => void }> = [];
  let settleHello!: (h: Hello) => void;
  let failHello!: (e: unknown) => void;
  const hello = new Promise<Hello>((res, rej) => {
    settleHello = res;
    failHello = rej;
  });
  const deliver = (u: Update) => {
    updates.push(u);
    for (const w of [...waiters]) {
      if (w.match(u)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(u);
      }
    }
  };
  const onMessage = (event: string, data: string) => {
    if (event === 'hello') settleHello(JSON.parse(data) as Hello);
    else if (event === 'updates') for (const u of JSON.parse(data) as Update[]) deliver(u);
  };
  void (async () => {
    try {
      const res = await fetch(new URL('api/stream', baseUrl), { signal: abort.signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) onMessage(event, data.join('\n'));
        }
      }
    } catch (err) {
      failHello(err);
    }
  })();
  return {
    hello,
    updates,
    next: (match: (u: Update) => boolean, ms = 20_000) => {
      const seen = updates.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<Update>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(entry), 1);
          reject(new Error(`no matching update within ${ms} ms (${updates.length} received)`));
        }, ms);
        const entry = {
          match,
          resolve: (u: Update) => {
            clearTimeout(timer);
            resolve(u);
          },
        };
        waiters.push(entry);
      });
    },
    close: () => abort.abort(),
  } as VizStream;
};
