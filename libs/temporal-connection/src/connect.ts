// One way to open each kind of Temporal connection, failing with a message that says what to do.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { temporalSettingsFromEnv, unreachableTemporalMessage, type TemporalSettings } from './temporal-settings';

export class TemporalUnreachableError extends Error {
  override name = 'TemporalUnreachableError';
}

/**
 * A client (default: of this process's TEMPORAL_* variables or temporal.toml profile), once the server has
 * answered: a wrong address fails here, after `connectTimeoutMs`, not at the first call.
 */
export async function connectClient(settings: TemporalSettings = temporalSettingsFromEnv(), options: { connectTimeoutMs?: number } = {}): Promise<Client> {
  try {
    const connection = await Connection.connect({ ...settings.connection, connectTimeout: options.connectTimeoutMs ?? 5000 });
    await connection.workflowService.getSystemInfo({});
    return new Client({ connection, namespace: settings.namespace });
  } catch (error) {
    throw new TemporalUnreachableError(unreachableTemporalMessage(settings, error));
  }
}

/** A worker's connection (close it after the workers that use it have stopped). */
export async function connectWorker(settings: TemporalSettings): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(settings.connection);
  } catch (error) {
    throw new TemporalUnreachableError(unreachableTemporalMessage(settings, error));
  }
}
