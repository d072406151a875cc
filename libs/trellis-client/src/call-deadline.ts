// One call's time limit combined with the caller's AbortSignal, and what an interrupted call throws.
import { TrellisServiceError } from './errors';

/** Accepted by every client method. */
export interface CallOptions {
  /** Cancels the call; the abort reason is rethrown as is (not wrapped), so Temporal cancellation works. */
  signal?: AbortSignal;
  /** Overrides the method's default time limit. */
  timeoutMs?: number;
}

/**
 * Defaults per kind of call. Warm-up covers a cold start (2-2.5 min on Modal, more if the image is pulled),
 * and Modal's 303 redirect keeps it going past 150 s.
 */
export const defaultTimeoutsMs = {
  health: 10_000,
  warmup: 10 * 60_000,
  /**
   * Job submit and status polls: the service answers these at once, so a request still unanswered after
   * 15 s is hung; it is cut and retried well inside an activity's 30 s heartbeat timeout.
   */
  job: 15_000,
  /**
   * The first try of a job submit, poll or result download (until its headers): a hung request is cut
   * after this; each retry gets twice as long, up to `job` or `download` (so a cold front end that
   * answers in 6 s still gets through on the second try).
   */
  firstTry: 4_000,
  /** The wait for the headers of a job result or a preview (the body then runs under `downloadIdle`). */
  download: 20_000,
  /**
   * Idle limit of a result body (tens of MB): no byte for this long aborts it. An idle limit, not a total
   * one, so a slow but moving download is never cut and a stalled one is cut in seconds, not minutes.
   */
  downloadIdle: 20_000,
} as const;

export type TimeoutKind = keyof typeof defaultTimeoutsMs;

const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Our own timer (clearable, unlike AbortSignal.timeout) joined with the caller's signal by AbortSignal.any.
 * A download clears the timer once headers arrive: the body then lives as long as it keeps moving (the
 * idle limit, `watchIdle`, when set) and is still cancelled by the caller's signal.
 */
export class CallDeadline {
  readonly signal: AbortSignal;
  private readonly timer = new AbortController();
  private readonly handle: NodeJS.Timeout | undefined;
  private idleMs: number | undefined;
  private idleHandle: NodeJS.Timeout | undefined;
  private idleFired = false;
  private idleMsFired = 0;

  /** `timeoutMs` Infinity: no time limit, only the caller's signal. */
  constructor(
    readonly timeoutMs: number,
    private readonly callerSignal?: AbortSignal,
  ) {
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be a positive number of milliseconds, not ${timeoutMs}`);
    // setTimeout fires at once for delays over 2^31-1 ms (~24.8 days): treat those as "no limit".
    if (timeoutMs <= MAX_TIMER_DELAY_MS) {
      this.handle = setTimeout(() => this.timer.abort(new DOMException('call timed out', 'TimeoutError')), timeoutMs);
      this.handle.unref();
    }
    this.signal = callerSignal ? AbortSignal.any([callerSignal, this.timer.signal]) : this.timer.signal;
  }

  get timedOut(): boolean {
    return this.timer.signal.aborted;
  }

  /** Stops the timer; the caller's signal keeps applying. */
  clear(): void {
    clearTimeout(this.handle);
  }

  /**
   * From now on the call is aborted when `touch()` is not called for `idleMs` (a body that stopped
   * flowing). The signal stays the same one fetch was given, so aborting it also errors the body stream.
   */
  watchIdle(idleMs: number): void {
    if (!(idleMs > 0)) throw new RangeError(`idleTimeoutMs must be a positive number of milliseconds, not ${idleMs}`);
    this.idleMs = idleMs;
    this.touch();
  }

  /** Bytes arrived: the idle limit starts again. */
  touch(): void {
    const idleMs = this.idleMs;
    if (idleMs === undefined || this.timer.signal.aborted) return;
    clearTimeout(this.idleHandle);
    this.idleHandle = setTimeout(() => {
      this.idleFired = true;
      this.idleMsFired = idleMs;
      this.timer.abort(new DOMException('no bytes within the idle limit', 'TimeoutError'));
    }, idleMs);
    this.idleHandle.unref();
  }

  /** The body ended (read to the end, failed or cancelled): nothing left to watch. */
  stopIdle(): void {
    clearTimeout(this.idleHandle);
    this.idleMs = undefined;
  }

  /**
   * What to throw for an error raised while sending or reading: the caller's abort as is; our timer as
   * `timeout`; a TrellisServiceError as is; anything else (ECONNREFUSED, socket hang up, `fetch failed`)
   * as `connection_error`. Both of the latter are retryable.
   */
  interpret(error: unknown, route: string, url: string): unknown {
    if (this.callerSignal?.aborted) return error;
    if (error instanceof TrellisServiceError) return error;
    if (this.timedOut) {
      const what = this.idleFired
        ? `the body from ${url} stalled (no bytes for ${formatSeconds(this.idleMsFired)})`
        : `no answer from ${url} within ${formatSeconds(this.timeoutMs)}`;
      return new TrellisServiceError(`${route}: ${what}`, {
        code: 'timeout',
        route,
        retryable: true,
      });
    }
    const reason = networkReason(error);
    return new TrellisServiceError(
      `${route}: could not reach ${url} (${reason}); check TRELLIS2_API_URL and that the service is running`,
      { code: 'connection_error', route, retryable: true, cause: error },
    );
  }
}

/** `ECONNREFUSED`, `UND_ERR_SOCKET: other side closed`, ... from undici's `fetch failed` and its cause chain. */
function networkReason(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? `${code}: ${current.message}` : current.message);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(' <- ') : String(error);
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
