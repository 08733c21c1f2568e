/**
 * The protocol between siding's CNI plugin (cni/plugin, Go) and the node agent: one
 * HTTP/1.1 request per CNI call over the agent's unix socket, `POST /v1/cni` with a JSON
 * body, answered `200` with a JSON verdict. The plugin maps a verdict with `ok: false` to a
 * CNI error (`code`, `msg`, `details`) that the runtime reports and the kubelet shows in the
 * pod's events. Anything but a 200 with this body is a protocol error (CNI code 101).
 */

export type CniCommand = 'ADD' | 'CHECK';

export interface CniRequest {
  readonly command: CniCommand;
  readonly containerId: string;
  readonly ifName: string;
  /** A path the agent opens to enter the pod's network namespace (the plugin's open descriptor). */
  readonly netns: string;
  /** The namespace path the runtime gave the plugin (for logs). */
  readonly runtimeNetns: string;
  readonly pod: { readonly namespace: string; readonly name: string; readonly uid?: string };
  /** The pod's annotations when the runtime passed them (capability io.kubernetes.cri.pod-annotations). */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly cniVersion: string;
  /**
   * Whether the interfaces the chain set up before siding have a global IPv6 address (from
   * prevResult). With it the agent knows the families to program without reading the
   * namespace, which costs a program per pod.
   */
  readonly ipv6?: boolean;
}

/** What the agent did: passed the pod through, programmed its redirect, or found it in place. */
export type CniAction = 'passthrough' | 'programmed' | 'checked';

export type CniVerdict =
  | { readonly ok: true; readonly action: CniAction; readonly message: string }
  | { readonly ok: false; readonly code: number; readonly message: string; readonly details?: string };

/** CNI error codes the agent returns (the spec reserves 0-99; 11 is "try again later"). */
export const CNI_CODES = {
  tryAgainLater: 11,
  /** The redirect could not be programmed (or is not in place, for CHECK). */
  redirect: 100,
  /** The pod is injected but its record cannot be used. */
  record: 102,
} as const;

// Kubernetes bounds a pod's annotations to 256 KiB in total; the rest of a request is a few
// hundred bytes. 512 KiB leaves room for JSON escaping and refuses anything larger.
export const MAX_REQUEST_BYTES = 512 * 1024;

// Field bounds: container IDs are 64 hex digits (the CNI library allows any non-empty
// [a-z0-9_.-] string); interface names are at most 15 bytes; paths at most PATH_MAX; pod
// names and namespaces are DNS subdomains/labels (253); versions are short.
export const cniRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['command', 'containerId', 'ifName', 'netns', 'runtimeNetns', 'pod', 'cniVersion'],
  properties: {
    command: { type: 'string', enum: ['ADD', 'CHECK'] },
    containerId: { type: 'string', minLength: 1, maxLength: 256 },
    ifName: { type: 'string', minLength: 1, maxLength: 15 },
    netns: { type: 'string', minLength: 1, maxLength: 4096 },
    runtimeNetns: { type: 'string', maxLength: 4096 },
    pod: {
      type: 'object',
      additionalProperties: false,
      required: ['namespace', 'name'],
      properties: {
        namespace: { type: 'string', minLength: 1, maxLength: 253 },
        name: { type: 'string', minLength: 1, maxLength: 253 },
        uid: { type: 'string', maxLength: 64 },
      },
    },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    cniVersion: { type: 'string', maxLength: 16 },
    ipv6: { type: 'boolean' },
  },
} as const;

export const cniVerdictSchema = {
  type: 'object',
  required: ['ok', 'message'],
  properties: {
    ok: { type: 'boolean' },
    action: { type: 'string' },
    code: { type: 'integer' },
    message: { type: 'string' },
    details: { type: 'string' },
  },
} as const;
