/**
 * The parts of admission.k8s.io AdmissionReview that siding reads and writes: the static
 * types of the schemas fastify validates with (schemas.ts), so the two cannot disagree.
 * v1 and v1beta1 share this shape; only `apiVersion` differs, and the answer carries the
 * request's.
 */
import type { Static } from 'typebox';
import type {
  admissionRequestSchema,
  admissionResponseSchema,
  admissionReviewBodySchema,
  admissionReviewResponseSchema,
  admissionStatusSchema,
} from './schemas.js';

export { ADMISSION_API_VERSIONS } from './schemas.js';
export type AdmissionReviewRequest = Static<typeof admissionReviewBodySchema>;
export type AdmissionRequest = Static<typeof admissionRequestSchema>;
export type AdmissionApiVersion = AdmissionReviewRequest['apiVersion'];
export type Operation = AdmissionRequest['operation'];
export type GroupVersionKind = AdmissionRequest['kind'];
export type AdmissionStatus = Static<typeof admissionStatusSchema>;
export type AdmissionResponse = Static<typeof admissionResponseSchema>;
export type AdmissionReviewResponse = Static<typeof admissionReviewResponseSchema>;
