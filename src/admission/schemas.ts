/**
 * JSON schemas for the webhook's HTTP bodies. fastify compiles them once: ajv validates the
 * request, fast-json-stringify serialises the error and health answers. The AdmissionReview
 * answer is serialised by app.ts (serializeReview) in the shape admissionReviewResponseSchema
 * documents, so that its base64 patch is not scanned again.
 *
 * The request schema checks the AdmissionReview envelope, and for a Pod CREATE the types of
 * the pod fields the engine walks (so a hand-made body with `containers: "x"` is a 400, not
 * a crash). Values are not checked: mutating admission runs before the API server validates
 * the object, and a pod with, say, no containers must reach that validation and fail there
 * with Kubernetes' own message, not with "failed calling webhook". Types always hold for
 * real API server traffic, which is decoded into Go structs before it is sent to us. Go
 * encodes a nil slice as null, so lists the API server always writes accept null.
 *
 * The request and response types (types.ts) are these schemas' static types (TypeBox), so
 * the shape is written once. `Type.Unsafe` keeps a schema exactly as fastify compiled it
 * before (`type: [..., 'null']` rather than an anyOf) and names its type.
 */
import { Type } from 'typebox';

/** The AdmissionReview versions siding answers; the answer carries the request's. */
export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;

// UIDs are UUIDs (36 characters); the bound only keeps hostile values out of logs.
const MAX_UID_CHARS = 256;

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const nullable = <T>(type: 'array' | 'object', extra: Record<string, unknown> = {}) => Type.Unsafe<T | null>({ type: [type, 'null'], ...extra });

const containerSchema = Type.Object({
  name: Type.String(),
  image: Type.Optional(Type.String()),
  ports: Type.Optional(nullable<object[]>('array', { items: { type: 'object' } })),
  env: Type.Optional(nullable<object[]>('array', { items: { type: 'object' } })),
  volumeMounts: Type.Optional(nullable<object[]>('array', { items: { type: 'object' } })),
  securityContext: Type.Optional(nullable<object>('object')),
  restartPolicy: Type.Optional(Type.String()),
});

const podSchema = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  metadata: Type.Optional(
    Type.Object({
      name: Type.Optional(Type.String()),
      generateName: Type.Optional(Type.String()),
      namespace: Type.Optional(Type.String()),
      labels: Type.Optional(Type.Unsafe<Record<string, string>>(stringMap)),
      annotations: Type.Optional(Type.Unsafe<Record<string, string>>(stringMap)),
      managedFields: Type.Optional(nullable<unknown[]>('array')),
    }),
  ),
  spec: Type.Object({
    containers: Type.Optional(nullable<object[]>('array', { items: containerSchema })),
    initContainers: Type.Optional(nullable<object[]>('array', { items: containerSchema })),
    volumes: Type.Optional(nullable<object[]>('array', { items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } })),
    hostNetwork: Type.Optional(Type.Boolean()),
    securityContext: Type.Optional(nullable<object>('object')),
  }),
});

const groupVersionKind = Type.Object({ group: Type.String(), version: Type.String(), kind: Type.String() });
const groupVersionResource = Type.Object({ group: Type.Optional(Type.String()), version: Type.Optional(Type.String()), resource: Type.Optional(Type.String()) });

export const admissionRequestSchema = Type.Object(
  {
    uid: Type.String({ minLength: 1, maxLength: MAX_UID_CHARS }),
    kind: groupVersionKind,
    resource: Type.Optional(groupVersionResource),
    subResource: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String()),
    operation: Type.Enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT'], { type: 'string' }),
    /** The object being admitted; null for DELETE. Shape checked for Pod CREATE only. */
    object: Type.Optional(nullable<Record<string, unknown>>('object')),
    oldObject: Type.Optional(nullable<Record<string, unknown>>('object')),
    dryRun: Type.Optional(Type.Boolean()),
  },
  {
    // A Pod CREATE must carry the pod, with the field types above.
    if: {
      required: ['kind', 'operation'],
      properties: {
        kind: { type: 'object', required: ['group', 'kind'], properties: { group: { const: '' }, kind: { const: 'Pod' } } },
        operation: { type: 'string', const: 'CREATE' },
      },
    },
    then: { required: ['object'], properties: { object: podSchema } },
  },
);

const apiVersion = Type.Enum([...ADMISSION_API_VERSIONS], { type: 'string' });
const reviewKind = Type.Literal('AdmissionReview');

export const admissionReviewBodySchema = Type.Object({ apiVersion, kind: reviewKind, request: admissionRequestSchema });

/** metav1.Status as admission responses use it (the `status` field). */
export const admissionStatusSchema = Type.Object({ code: Type.Integer(), reason: Type.String(), message: Type.String() });

export const admissionResponseSchema = Type.Object({
  uid: Type.String(),
  allowed: Type.Boolean(),
  patchType: Type.Optional(Type.Literal('JSONPatch')),
  /** base64 of the JSON Patch document. */
  patch: Type.Optional(Type.String()),
  status: Type.Optional(admissionStatusSchema),
  warnings: Type.Optional(Type.Array(Type.String())),
});

export const admissionReviewResponseSchema = Type.Object({ apiVersion, kind: reviewKind, response: admissionResponseSchema });

export const errorResponseSchema = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
} as const;

export const healthResponseSchema = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    config: {
      type: 'object',
      properties: {
        ok: { type: 'boolean' },
        detail: { type: 'string' },
        lastError: { type: 'string' },
        // Set by the ConfigMap watch (src/kube/configwatch.ts).
        valid: { type: 'boolean' },
        source: { type: 'string' },
        resourceVersion: { type: 'string' },
      },
    },
  },
} as const;

