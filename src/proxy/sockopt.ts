/**
 * The one call Node.js has no API for: getsockopt(SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST)
 * on an accepted socket, through koffi (an FFI package whose npm package carries prebuilt
 * binaries, so nothing is compiled at install). The only code in siding that calls C.
 * One reusable buffer: calls are synchronous and the event loop runs one at a time.
 */
import os from 'node:os';
import koffi from 'koffi';
import { decodeSockaddr, originalDstQuery, SOCKADDR_BYTES, type Endpoint } from './origdst.js';

export interface OriginalDstReader {
  /** The original destination of the connection on `fd`, or why it cannot be had. */
  read(fd: number, localAddress: string): Endpoint | string;
}

// glibc (Debian, siding's image) and musl (Alpine), in that order.
const LIBC = ['libc.so.6', `libc.musl-${process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch}.so.1`];

/** errno numbers to names, for messages ("ENOENT: no conntrack entry"). */
function errnoName(n: number): string {
  for (const [name, value] of Object.entries(os.constants.errno)) if (value === n) return name;
  return `errno ${n}`;
}

/** Loads libc's getsockopt. Throws when no C library can be loaded (not Linux, or neither libc). */
export function loadOriginalDstReader(): OriginalDstReader {
  let lib: ReturnType<typeof koffi.load> | undefined;
  const errors: string[] = [];
  for (const name of LIBC) {
    try {
      lib = koffi.load(name);
      break;
    } catch (e) {
      errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (lib === undefined) throw new Error(`cannot load the C library for getsockopt (${errors.join('; ')})`);
  const getsockopt = lib.func('int getsockopt(int fd, int level, int name, void *value, void *length)') as (
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    length: Uint32Array,
  ) => number;
  const value = new Uint8Array(SOCKADDR_BYTES);
  const length = new Uint32Array(1);
  return {
    read(fd, localAddress) {
      const q = originalDstQuery(localAddress);
      length[0] = SOCKADDR_BYTES;
      value.fill(0);
      if (getsockopt(fd, q.level, q.name, value, length) !== 0) {
        const errno = koffi.errno();
        // ENOENT: conntrack has no entry for this connection (nothing redirected it).
        return `getsockopt: ${errnoName(errno)}`;
      }
      // The kernel does not shorten `length` for the IPv4 answer; the family says which it is.
      return decodeSockaddr(value, Math.min(length[0] ?? 0, SOCKADDR_BYTES));
    },
  };
}
