// The finishing worker: channel files from finished GLBs, on the finish task queue. Activities only (no
// workflows, no service client), with limits of its own: one SKU at a time holds a source GLB of up to
// ~30 MB plus glTF-Transform's copies, so it runs beside (not inside) the worker that orchestrates GPU
// jobs within 300 MB. `npm run worker` starts it as a child process; TRELLIS_WORKER_ROLE splits them.
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createFinishActivities } from '@trellis/activities';
import { finishTaskQueueFrom } from '@trellis/contracts';

export interface FinishWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** Default: `TRELLIS_FINISH_TASK_QUEUE`, else `TRELLIS_TASK_QUEUE` + "-finish". */
  taskQueue?: string;
  /** SKUs finished at once; each is CPU bound (default 1). */
  maxConcurrentActivityTaskExecutions?: number;
  shutdownGraceTime?: string;
}

export async function createFinishWorker(options: FinishWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? finishTaskQueueFrom(process.env),
    activities: createFinishActivities(),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 1,
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
  });
}
