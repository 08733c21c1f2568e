/** The server pod's ports in the proxy benchmark (bench/proxy.ts, bench/proxy-load.ts). */
export const PORTS = { rr: 7001, sink: 7002, conn: 7003, hold: 7004 } as const;
