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
 * The request and response types (types.ts) are derived from these schemas at compile time
 * (json-schema-to-ts `FromSchema`), so the shape is written once, and the webhook loads no
 * schema library of its own: fastify compiles the plain objects below.
 */
/** The AdmissionReview versions siding answers; the answer carries the request's. */
export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;

// UIDs are UUIDs (36 characters); the bound only keeps hostile values out of logs.
const MAX_UID_CHARS = 256;

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

const containerSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string' },
    image: { type: 'string' },
    ports: { type: ['array', 'null'], items: { type: 'object' } },
    env: { type: ['array', 'null'], items: { type: 'object' } },
    volumeMounts: { type: ['array', 'null'], items: { type: 'object' } },
    securityContext: { type: ['object', 'null'] },
    restartPolicy: { type: 'string' },
  },
} as const;

const podSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        generateName: { type: 'string' },
        namespace: { type: 'string' },
        labels: stringMap,
        annotations: stringMap,
        managedFields: { type: ['array', 'null'] },
      },
    },
    spec: {
      type: 'object',
      properties: {
        containers: { type: ['array', 'null'], items: containerSchema },
        initContainers: { type: ['array', 'null'], items: containerSchema },
        volumes: { type: ['array', 'null'], items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } },
        hostNetwork: { type: 'boolean' },
        securityContext: { type: ['object', 'null'] },
      },
    },
  },
} as const;

/** The fields of an AdmissionRequest that siding reads. */
const requestFields = {
  type: 'object',
  required: ['uid', 'kind', 'operation'],
  properties: {
    uid: { type: 'string', minLength: 1, maxLength: MAX_UID_CHARS },
    kind: {
      type: 'object',
      required: ['group', 'version', 'kind'],
      properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
    },
    resource: {
      type: 'object',
      properties: { group: { type: 'string' }, version: { type: 'string' }, resource: { type: 'string' } },
    },
    subResource: { type: 'string' },
    name: { type: 'string' },
    namespace: { type: 'string' },
    operation: { type: 'string', enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
    /** The object being admitted; null for DELETE. Shape checked for Pod CREATE only. */
    object: { type: ['object', 'null'] },
    oldObject: { type: ['object', 'null'] },
    dryRun: { type: 'boolean' },
  },
} as const;

/** The request as validated: a Pod CREATE must also carry the pod, with the field types above. */
export const admissionRequestSchema = {
  ...requestFields,
  if: {
    required: ['kind', 'operation'],
    properties: {
      kind: { type: 'object', required: ['group', 'kind'], properties: { group: { const: '' }, kind: { const: 'Pod' } } },
      operation: { type: 'string', const: 'CREATE' },
    },
  },
  then: { required: ['object'], properties: { object: podSchema } },
} as const;

const envelope = {
  apiVersion: { type: 'string', enum: ADMISSION_API_VERSIONS },
  kind: { type: 'string', const: 'AdmissionReview' },
} as const;

export const admissionReviewBodySchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: { ...envelope, request: admissionRequestSchema },
} as const;

/** metav1.Status as admission responses use it (the `status` field). */
export const admissionStatusSchema = {
  type: 'object',
  required: ['code', 'reason', 'message'],
  properties: { code: { type: 'integer' }, reason: { type: 'string' }, message: { type: 'string' } },
} as const;

export const admissionResponseSchema = {
  type: 'object',
  required: ['uid', 'allowed'],
  properties: {
    uid: { type: 'string' },
    allowed: { type: 'boolean' },
    patchType: { type: 'string', const: 'JSONPatch' },
    /** base64 of the JSON Patch document. */
    patch: { type: 'string' },
    status: admissionStatusSchema,
    warnings: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const admissionReviewResponseSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'response'],
  properties: { ...envelope, response: admissionResponseSchema },
} as const;

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

