/**
 * The parts of admission.k8s.io AdmissionReview that siding reads and writes, derived at
 * compile time from the schemas fastify validates with (schemas.ts), so the two cannot
 * disagree. v1 and v1beta1 share this shape; only `apiVersion` differs, and the answer
 * carries the request's.
 */
import type { FromSchema } from 'json-schema-to-ts';
import type {
  admissionReviewBodySchema,
  admissionResponseSchema,
  admissionReviewResponseSchema,
  admissionStatusSchema,
  ADMISSION_API_VERSIONS,
} from './schemas.js';

export { ADMISSION_API_VERSIONS } from './schemas.js';
export type AdmissionApiVersion = (typeof ADMISSION_API_VERSIONS)[number];
export type AdmissionReviewRequest = FromSchema<typeof admissionReviewBodySchema>;
export type AdmissionRequest = AdmissionReviewRequest['request'];
export type Operation = AdmissionRequest['operation'];
export type GroupVersionKind = AdmissionRequest['kind'];
export type AdmissionStatus = FromSchema<typeof admissionStatusSchema>;
export type AdmissionResponse = FromSchema<typeof admissionResponseSchema>;
export type AdmissionReviewResponse = FromSchema<typeof admissionReviewResponseSchema>;
