// Counts the bytes of every HTTP body this process sends and receives through fetch (the service
// client's only transport): what "bytes on the wire" means in the benchmark. Headers are left out.
export interface WireCount {
  requests: number;
  sentBytes: number;
  receivedBytes: number;
}

export const wire: WireCount = { requests: 0, sentBytes: 0, receivedBytes: 0 };

function bodyBytes(body: unknown): number {
  if (body === undefined || body === null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  throw new Error('wire counter: unsupported request body type');
}

let installed = false;

export function installWireCounter(): WireCount {
  if (installed) return wire;
  installed = true;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    wire.requests += 1;
    wire.sentBytes += bodyBytes(init?.body);
    const response = await realFetch(input, init);
    if (!response.body) return response;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          wire.receivedBytes += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  return wire;
}
