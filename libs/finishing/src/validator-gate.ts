/// <reference path="../types/untyped-modules.d.ts" />
// The gate every channel file passes before delivery: the Khronos glTF validator, 0 errors.
import { validateBytes, type ValidationMessage } from 'gltf-validator';
import type { ValidatorVerdict } from '@trellis/contracts';

const SEVERITY_ERROR = 0;
const SEVERITY_WARNING = 1;
const MESSAGES_KEPT = 10;

export async function validateGlb(glb: Uint8Array): Promise<ValidatorVerdict> {
  // A GLB the validator cannot even parse comes back as a report with errors, not as a throw.
  const report = await validateBytes(glb, { maxIssues: 100, format: 'glb' });
  const serious = report.issues.messages.filter((m) => m.severity === SEVERITY_ERROR || m.severity === SEVERITY_WARNING);
  return {
    errors: report.issues.numErrors,
    warnings: report.issues.numWarnings,
    messages: serious.slice(0, MESSAGES_KEPT).map(describeMessage),
  };
}

function describeMessage(message: ValidationMessage): string {
  const level = message.severity === SEVERITY_ERROR ? 'error' : 'warning';
  return `${level} ${message.code}${message.pointer ? ` at ${message.pointer}` : ''}: ${message.message}`;
}
