/**
 * Per-epoch training progress, like the seed's `tqdm(dataloader)` bars.
 *
 * On a TTY a `cli-progress` bar shows the epoch, batches done/total, the running loss,
 * samples/s and the ETA, redrawn in place; at `finish` the bar is cleared and one plain
 * summary line is written. On anything else (CI logs, pipes, files) there is no bar and no
 * carriage return or escape sequence: only plain `\n`-terminated lines, one per epoch at
 * `finish`, plus (opt-in) one line at each quarter of the batches.
 */
import cliProgress from "cli-progress";

/** Where progress is written: `process.stdout`, `process.stderr` or any writable stream. */
export type ProgressStream = NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number };

/** Options of {@link createEpochProgress}. */
export interface EpochProgressOptions {
  /** Epoch number being run, 1-based (shown as `epoch 3/20`). */
  readonly epoch: number;
  /** Total number of epochs. */
  readonly epochs: number;
  /** Number of batches in this epoch. */
  readonly totalBatches: number;
  /** Output stream (default `process.stdout`). A bar is drawn only when `stream.isTTY` is true. */
  readonly stream?: ProgressStream;
  /**
   * Without a TTY, also write a line when 25 %, 50 % and 75 % of the batches are done
   * (default false: one line per epoch only).
   */
  readonly milestones?: boolean;
  /** Clock in milliseconds, for tests (default `performance.now`). */
  readonly now?: () => number;
}

/** What the training loop reports after each batch. */
export interface BatchStats {
  /** Running (mean so far) loss of the epoch. */
  readonly loss: number;
  /** Throughput, in samples per second. */
  readonly samplesPerSecond: number;
}

/** Progress of one epoch. */
export interface EpochProgress {
  /**
   * Reports that the batch of 0-based index `batchIndex` is done
   * (so `batchIndex + 1` batches of `totalBatches` are done).
   */
  update(batchIndex: number, stats: BatchStats): void;
  /**
   * Ends the epoch: stops and clears the bar (TTY) and writes one line
   * `epoch E/N  B/T batches  <time>  <rate> samples/s  <summary>`. Idempotent.
   */
  finish(summary: string): void;
}

/** Formats a loss for display: 4 decimals, or exponent notation for tiny/huge values. */
export function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss);
  const a = Math.abs(loss);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? loss.toExponential(3) : loss.toFixed(4);
}

/** Formats a throughput: 3 significant digits below 100, else a grouped integer (`12,345`). */
export function formatRate(rate: number): string {
  if (!Number.isFinite(rate) || rate < 0) return "-";
  if (rate < 100) return rate.toPrecision(3);
  return String(Math.round(rate)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Formats a duration in milliseconds: `0.42s`, `12.3s`, `2m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(2)}s`;
  if (s < 60) return `${s.toFixed(1)}s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(sec).padStart(2, "0")}s`;
}

/**
 * Creates the progress display of one epoch. Call `update` after every batch and
 * `finish` once at the end (on a TTY the bar holds a redraw timer until `finish`).
 */
export function createEpochProgress(options: EpochProgressOptions): EpochProgress {
  const { epoch, epochs, totalBatches, milestones = false } = options;
  const stream: ProgressStream = options.stream ?? process.stdout;
  const now = options.now ?? (() => performance.now());
  if (!Number.isInteger(totalBatches) || totalBatches < 0) {
    throw new Error(`progress: totalBatches must be a non-negative integer, got ${totalBatches}`);
  }
  const epochTag = `epoch ${String(epoch).padStart(String(epochs).length)}/${epochs}`;
  const start = now();
  let done = 0;
  let last: BatchStats = { loss: Number.NaN, samplesPerSecond: Number.NaN };
  let finished = false;

  const tty = stream.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  if (tty) {
    bar = new cliProgress.SingleBar({
      stream,
      format: `${epochTag} {bar} {value}/{total} | loss {loss} | {rate} samples/s | ETA {eta_formatted}`,
      barCompleteChar: "\u2588",
      barIncompleteChar: "\u2591",
      barsize: 30,
      hideCursor: false,
      clearOnComplete: true,
      gracefulExit: false,
      etaBuffer: 50,
    });
    bar.start(totalBatches, 0, { loss: "-", rate: "-" });
  }

  // Quarter marks already written (non-TTY milestones).
  let nextQuarter = 1;

  return {
    update(batchIndex, stats) {
      if (finished) return;
      done = Math.min(Math.max(done, batchIndex + 1), totalBatches);
      last = stats;
      if (bar !== undefined) {
        bar.update(done, { loss: formatLoss(stats.loss), rate: formatRate(stats.samplesPerSecond) });
        return;
      }
      if (!milestones || totalBatches === 0) return;
      while (nextQuarter <= 3 && done * 4 >= nextQuarter * totalBatches) {
        // Only the last quarter crossed by this update is written.
        const crossed = nextQuarter;
        nextQuarter++;
        if (nextQuarter <= 3 && done * 4 >= nextQuarter * totalBatches) continue;
        stream.write(
          `${epochTag}  batch ${done}/${totalBatches} (${crossed * 25}%)  ` +
            `loss ${formatLoss(stats.loss)}  ${formatRate(stats.samplesPerSecond)} samples/s\n`,
        );
      }
    },
    finish(summary) {
      if (finished) return;
      finished = true;
      if (bar !== undefined) bar.stop();
      const elapsed = now() - start;
      const parts = [
        epochTag,
        `${done}/${totalBatches} batches`,
        formatDuration(elapsed),
        `${formatRate(last.samplesPerSecond)} samples/s`,
      ];
      if (summary !== "") parts.push(summary);
      stream.write(`${parts.join("  ")}\n`);
    },
  };
}
