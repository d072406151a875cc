import { Client, Connection } from '@temporalio/client';
import { connectionOptions, temporalSettingsFromEnv, unreachableTemporalMessage, type TemporalSettings } from '@trellis/worker';

export class TemporalUnreachableError extends Error {}

/** A client for TEMPORAL_ADDRESS (or the given settings), failing with a message that says what to do. */
export async function connectTemporal(settings: TemporalSettings = temporalSettingsFromEnv()): Promise<Client> {
  try {
    const connection = await Connection.connect({ ...connectionOptions(settings), connectTimeout: 5000 });
    await connection.workflowService.getSystemInfo({});
    return new Client({ connection, namespace: settings.namespace });
  } catch (error) {
    throw new TemporalUnreachableError(unreachableTemporalMessage(settings, error));
  }
}
