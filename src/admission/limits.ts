/**
 * How many reviews the webhook holds at once, and how much memory they may take. Pure
 * bookkeeping (no I/O): app.ts asks for a lease when a review's headers arrive and sizes it
 * again once its body is in, and answers 429 when the budget says no.
 *
 * Memory is the scarce thing: a replica runs under the Deployment's 256Mi limit, and the
 * cost of a review is not its body size. JSON.parse of 4 MiB of `{},{},…` builds 1.4
 * million objects, about 90 MB of heap (21 bytes per body byte); 4 MiB of long strings
 * costs about 7 MB. So each review reserves an estimate of what it will hold: its raw body
 * while it arrives, then what its parsed JSON will take, estimated from the body's bytes
 * before it is parsed (parsedSizeEstimate). docs/webhook.md ("Limits") has the figures the
 * defaults come from.
 */

export interface ReviewLimits {
  /** POST /inject requests being received, parsed or answered at once. */
  maxInFlight: number;
  /** Estimated bytes those requests may hold at once (raw bodies and parsed JSON). */
  memoryBytes: number;
  /** A body over this many bytes is large: large reviews together never take the last `smallReserveBytes`. */
  largeBodyBytes: number;
  /** The part of memoryBytes kept for reviews whose body is not large. */
  smallReserveBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_REVIEW_LIMITS: Readonly<ReviewLimits> = Object.freeze({
  // Each request in flight costs about 20 KB beyond its body (socket, parser, request and
  // reply objects): 256 of them are 5 MB. A review takes about 0.1 ms of CPU (0.5 ms for a
  // 64 KB pod), so 256 queued reviews are answered within a fraction of a second; a replica
  // with more waiting than that is saturated, and the API server retries a 429 on its own.
  maxInFlight: 256,
  // What the Deployment's 256Mi leaves once the process (about 95 MiB charged to its
  // cgroup in cluster mode after a warm-up, node 24) and 256 idle connections (about 25
  // MiB) are counted, with room for what V8 lets pile up before it collects: garbage in the
  // heap up to 1.5 times its live size (--heap-growing-percent=50), and garbage buffers
  // (a body's socket chunks, its joined copy) up to 64 MB beyond the external memory of
  // the last collection (V8's external allocation soft limit, which no flag changes).
  // gc.ts collects that garbage early. Under the e2e attacks
  // (test/e2e/cluster-memory-limit.test.ts) a replica then peaked at 189-202 MiB.
  memoryBytes: 32 * MiB,
  // Every pod the bench and the e2e tests send is under 64 KiB; a pod over it is rare (long
  // env lists, big annotations). A flood of 4 MiB bodies (each reserving 12 MiB raw) then
  // cannot take the whole budget: 8 MiB stays for ordinary reviews, about 25 at once at the
  // worst-case estimate of a 4 KB review and hundreds at its measured one. Large reviews
  // share 24 MiB: a 1.5 MiB pod (etcd's limit) of env entries reserves about 14 MiB, 4 MiB
  // of small objects cannot fit and is refused with 413.
  largeBodyBytes: 64 * 1024,
  smallReserveBytes: 8 * MiB,
});


// Estimated heap bytes per body byte (parsedSizeEstimate). Measured with
// `process.memoryUsage().heapUsed` around JSON.parse of 4 MiB bodies on node 20: an empty
// object costs 56 bytes plus its 8-byte slot in its parent, an empty array 40, a number in
// an array 10-29, a string 16 plus its characters. The model charges every byte 1 (string
// characters), and, outside strings, 64 more per `{` or `[` and 32 more per `,` (another
// member or element and its slot); it overestimates every measured shape, by 1.5x (`{},`)
// to 3.4x (`0,`), and the 64 KB bench pod by 1.9x.
const CONTAINER_COST = 64;
const MEMBER_COST = 32;
const STRUCTURE_COST = (() => {
  const w = new Uint8Array(256);
  w[0x7b] = CONTAINER_COST; // {
  w[0x5b] = CONTAINER_COST; // [
  w[0x2c] = MEMBER_COST; // ,
  return w;
})();
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The most parsedSizeEstimate can give per body byte (a body of `[[[[…`). */
export const MAX_PARSED_BYTES_PER_BODY_BYTE = 1 + CONTAINER_COST;

/**
 * An upper estimate of the heap JSON.parse will use for `body`, in one pass over its bytes
 * (a few ns a byte: tens of µs for a typical review, about 10 ms for 4 MiB). Inside
 * strings (an annotation of 60,000 commas is one string) bytes cost 1; a backslash skips
 * the byte it escapes. Not a validator: what is not JSON is refused by JSON.parse after.
 */
export function parsedSizeEstimate(body: Uint8Array): number {
  let total = body.length;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else {
      total += STRUCTURE_COST[c]!;
    }
  }
  return total;
}

export type Refusal = 'inFlight' | 'memory' | 'tooLarge';

/**
 * Copies of the raw body alive while it is read and parsed: the socket's chunks, the one
 * buffer they are joined into, and the string JSON.parse reads.
 */
export const RAW_BODY_COPIES = 3;

/** What one review holds of the budget; release it exactly once, when its answer is gone. */
export interface ReviewLease {
  /** Bytes reserved now. */
  readonly bytes: number;
  /** Sets this review's reservation to `bytes`; on a refusal the reservation is unchanged. */
  resize(bytes: number): 'granted' | Exclude<Refusal, 'inFlight'>;
  release(): void;
}

/**
 * Bodies up to this size reserve the cheap bound of their parsed size (at most 1 MiB each,
 * no pass over the body). A larger body reserves its estimate: the cheap bound of a 64 KB
 * review is 4 MiB, and 16 such reviews at once would take the budget from each other.
 */
export const CHEAP_BOUND_BODY_BYTES = 16 * 1024;

/** Sizes `lease` for `body` once it is in: its raw copies plus what JSON.parse will build. */
export function reserveParsed(lease: ReviewLease, body: Uint8Array): 'granted' | Exclude<Refusal, 'inFlight'> {
  const raw = lease.bytes;
  if (body.length <= CHEAP_BOUND_BODY_BYTES && lease.resize(raw + body.length * MAX_PARSED_BYTES_PER_BODY_BYTE) === 'granted') return 'granted';
  return lease.resize(raw + parsedSizeEstimate(body));
}

export class ReviewBudget {
  private inFlightCount = 0;
  private reservedBytes = 0;
  private reservedLarge = 0;
  private readonly largeCap: number;

  constructor(readonly limits: Readonly<ReviewLimits>) {
    if (!(limits.maxInFlight >= 1 && limits.memoryBytes >= 1)) throw new RangeError('review limits must be at least 1');
    if (!(limits.smallReserveBytes >= 0 && limits.smallReserveBytes < limits.memoryBytes)) {
      throw new RangeError('the small-review reserve must be below the memory budget');
    }
    this.largeCap = limits.memoryBytes - limits.smallReserveBytes;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  get reserved(): number {
    return this.reservedBytes;
  }

  /**
   * A lease for a review with a body of `bodyBytes` (its Content-Length), holding
   * RAW_BODY_COPIES times that, or the reason there is none.
   */
  admit(bodyBytes: number): ReviewLease | Refusal {
    const large = bodyBytes > this.limits.largeBodyBytes;
    const cap = large ? this.largeCap : this.limits.memoryBytes;
    const fits = (held: number, next: number): Refusal | undefined => {
      if (next > cap) return 'tooLarge';
      if (this.reservedBytes - held + next > this.limits.memoryBytes) return 'memory';
      if (large && this.reservedLarge - held + next > this.largeCap) return 'memory';
      return undefined;
    };
    const bytes = bodyBytes * RAW_BODY_COPIES;
    if (bytes > cap) return 'tooLarge';
    if (this.inFlightCount >= this.limits.maxInFlight) return 'inFlight';
    const refused = fits(0, bytes);
    if (refused !== undefined) return refused;
    let held = 0;
    const take = (next: number): void => {
      this.reservedBytes += next - held;
      if (large) this.reservedLarge += next - held;
      held = next;
    };
    this.inFlightCount += 1;
    take(bytes);
    let released = false;
    return {
      get bytes() {
        return held;
      },
      resize: (next: number): 'granted' | Exclude<Refusal, 'inFlight'> => {
        if (released) throw new Error('resize of a released review lease');
        const why = fits(held, next);
        if (why === 'tooLarge' || why === 'memory') return why;
        take(next);
        return 'granted';
      },
      release: (): void => {
        if (released) return;
        released = true;
        this.inFlightCount -= 1;
        take(0);
      },
    };
  }
}
