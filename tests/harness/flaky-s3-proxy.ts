// A small HTTP proxy in front of the S3 server that breaks a share of requests the ways object storage
// does: a 503 SlowDown answer (the request never reached storage), a reset connection (before or after the
// server did the work: the client cannot tell), or a slow answer. Seeded, so a failing run can be replayed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3Faults {
  /** Share of requests answered 503 SlowDown without being forwarded. */
  slowDown?: number;
  /** Share of requests whose connection is reset: half before forwarding, half after the server answered. */
  reset?: number;
  /** Share of answers delayed by `delayMs`. */
  slow?: number;
  delayMs?: number;
  seed?: number;
}

export interface FlakyS3Proxy {
  endpoint: string;
  injected: { slowDown: number; resetBefore: number; resetAfter: number; slow: number; forwarded: number };
  setFaults(faults: S3Faults): void;
  stop(): Promise<void>;
}

/** mulberry32: a tiny seeded generator, so the same seed breaks the same requests. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFlakyS3Proxy(target: string): Promise<FlakyS3Proxy> {
  const upstream = new URL(target);
  let faults: S3Faults = {};
  let random = seeded(0);
  const injected = { slowDown: 0, resetBefore: 0, resetAfter: 0, slow: 0, forwarded: 0 };

  const server = http.createServer((request, response) => {
    const roll = random();
    const slowDown = faults.slowDown ?? 0;
    const reset = faults.reset ?? 0;
    const slow = faults.slow ?? 0;
    if (roll < slowDown) {
      injected.slowDown += 1;
      request.resume();
      response.writeHead(503, { 'content-type': 'application/xml' });
      response.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    if (roll < slowDown + reset / 2) {
      injected.resetBefore += 1;
      request.socket.destroy();
      return;
    }
    const resetAfter = roll < slowDown + reset;
    const delay = roll >= slowDown + reset && roll < slowDown + reset + slow ? (faults.delayMs ?? 1500) : 0;
    injected.forwarded += 1;
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        if (resetAfter) {
          // The server did the work; the client never hears of it.
          injected.resetAfter += 1;
          answer.resume();
          answer.once('end', () => request.socket.destroy());
          return;
        }
        const send = () => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        };
        if (delay > 0) {
          injected.slow += 1;
          setTimeout(send, delay);
        } else send();
      },
    );
    forward.on('error', () => request.socket.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    setFaults(next) {
      faults = next;
      random = seeded(next.seed ?? 0);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
