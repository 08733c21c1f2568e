/**
 * The `node` flags every launch of the webhook passes (package.json `start`, the Deployment's
 * `command`, scripts/kube-testenv.sh, the bench); test/unit/admission-node-flags.test.ts
 * checks that they all agree with this list.
 *
 * Why: after a concurrency-64 load the webhook sat above its memory target, and the excess
 * was V8's heap sizing, not live data: the young generation grows to its largest
 * semi-spaces, and old space grows to a multiple of its live size before a mark-compact.
 * With these two flags the same load stays under the target at the same reviews/s within
 * noise. BENCHMARKS.md (item 8) has the figures, the heap analysis and the alternatives
 * tried.
 *
 * They must be on the node command line: V8 fixes the semi-space size when it sets up the
 * heap, so `v8.setFlagsFromString` at start-up is too late, and `NODE_OPTIONS` does not
 * accept `--heap-growing-percent`.
 */
export const WEBHOOK_NODE_FLAGS: readonly string[] = Object.freeze([
  // Young generation at most 2 × 8 MB instead of 2 × 16 MB. Smaller (2 or 4) does not
  // help: the objects of 64 requests in flight get promoted and old space grows instead.
  '--max-semi-space-size=8',
  // Old space may grow by 50 % over its live size before the next mark-compact (by
  // default V8 lets it grow to several times that). 20 leaves the same memory and more
  // mark-compacts.
  '--heap-growing-percent=50',
]);

/**
 * The WEBHOOK_NODE_FLAGS that `execArgv` (normally `process.execArgv`) lacks, in their order.
 * Exact string match per flag: another value (`--max-semi-space-size=4`), V8's underscore
 * spelling (`--max_semi_space_size=8`) or a separate value argument counts as missing. The
 * result only decides whether a start-up notice is logged, so a false "missing" costs one
 * log line and nothing more.
 */
export function missingNodeFlags(execArgv: readonly string[]): string[] {
  return WEBHOOK_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
