// The connect functions against a port nobody listens on: one error that names where and says what to do.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectClient, connectWorker, localTemporalSettings, TemporalUnreachableError } from '../src';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('connecting to a Temporal that is not there', () => {
  it('connectClient fails with TemporalUnreachableError naming the address and namespace', async () => {
    const settings = localTemporalSettings(`127.0.0.1:${await closedPort()}`, 'shop');
    const error = await connectClient(settings, { connectTimeoutMs: 1000 }).then(() => undefined, (failure: unknown) => failure);
    expect(error).toBeInstanceOf(TemporalUnreachableError);
    expect((error as Error).message).toMatch(new RegExp(`^Cannot reach Temporal at ${settings.address} \\(namespace shop\\): `));
  });

  it('connectWorker fails the same way', async () => {
    const settings = localTemporalSettings(`127.0.0.1:${await closedPort()}`);
    const error = await connectWorker(settings).then(() => undefined, (failure: unknown) => failure);
    expect(error).toBeInstanceOf(TemporalUnreachableError);
    expect((error as Error).message).toContain(`Cannot reach Temporal at ${settings.address} (namespace default)`);
  });
});
