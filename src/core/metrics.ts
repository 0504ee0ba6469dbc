// What the parts report for monitoring, behind an interface so that core, ra and wfe do not depend on
// a metrics library (prom-client lives in src/admin).
export type ValidationResult = "valid" | "invalid" | "retry";

export interface Metrics {
  request(route: string, method: string, status: number, seconds: number): void;
  orderCreated(): void;
  certificateIssued(): void;
  validation(type: string, result: ValidationResult, seconds: number): void;
  nonceRejected(): void;
}

export const noopMetrics: Metrics = {
  request: () => undefined,
  orderCreated: () => undefined,
  certificateIssued: () => undefined,
  validation: () => undefined,
  nonceRejected: () => undefined,
};
