// Test processes log Temporal's own messages at WARN and above only, so failures stay readable.
import { DefaultLogger, Runtime } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });
