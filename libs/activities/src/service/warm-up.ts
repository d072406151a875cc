// Makes sure a GPU container has the model loaded before this asset's real work is queued, so a cold
// start (2-2.5 min on an A100) is paid once and visible as its own step in the Web UI.
import { cancellationSignal } from '@temporalio/activity';
import { A100_COLD_START_SECONDS, usageOf, type Usage } from '@trellis/contracts';
import type { TrellisClient } from '@trellis/trellis-client';

export interface WarmUpResult {
  device: string;
  backend: string;
  coldStart: boolean;
  loadSeconds: number | null;
  usage: Usage;
}

/** The call may wait minutes for a container; it runs under keepAlive, so a dead worker cannot hide that long. */
export async function warmUp(client: TrellisClient): Promise<WarmUpResult> {
  const response = await client.warmup({ signal: cancellationSignal() });
  const timing = response.server_timing;
  const usage = response.cold_start
    ? usageOf(response.load_seconds ?? timing.compute_seconds, response.device, A100_COLD_START_SECONDS)
    : usageOf(0, response.device, 0);
  return {
    device: response.device,
    backend: response.backend,
    coldStart: response.cold_start,
    loadSeconds: response.load_seconds,
    usage,
  };
}
