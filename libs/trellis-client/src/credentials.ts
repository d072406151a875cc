// Modal proxy-auth credentials, found in the seed client's order: explicit → environment → secrets file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

export interface ModalCredentials {
  modalKey: string;
  modalSecret: string;
}

export const KEY_ENV = 'TRELLIS2_MODAL_KEY';
export const SECRET_ENV = 'TRELLIS2_MODAL_SECRET';
export const defaultSecretsFile = (): string => path.join(os.homedir(), '.trellis2_modal_secrets.json');

/** The seed's secrets file: `{"modal_key": "wk-...", "modal_secret": "ws-..."}`. */
export const SecretsFile = z.object({
  modal_key: z.string().trim().min(1, 'must be a non-empty string'),
  modal_secret: z.string().trim().min(1, 'must be a non-empty string'),
});

export interface CredentialSources {
  /** Highest priority; give both or neither. */
  explicit?: Partial<ModalCredentials>;
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: ~/.trellis2_modal_secrets.json. */
  secretsFile?: string;
}

/** Errors here name where a credential was looked for, never its value. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

export function resolveCredentials(sources: CredentialSources = {}): ModalCredentials {
  return (
    fromExplicit(sources.explicit) ??
    fromEnv(sources.env ?? process.env) ??
    fromSecretsFile(sources.secretsFile ?? defaultSecretsFile()) ??
    notFound(sources.secretsFile ?? defaultSecretsFile())
  );
}

function fromExplicit(explicit: Partial<ModalCredentials> | undefined): ModalCredentials | undefined {
  const { modalKey, modalSecret } = explicit ?? {};
  if (!modalKey && !modalSecret) return undefined;
  if (!modalKey || !modalSecret) {
    throw new CredentialsError(`credentials: give both modalKey and modalSecret (only ${modalKey ? 'modalKey' : 'modalSecret'} was given)`);
  }
  return { modalKey, modalSecret };
}

function fromEnv(env: NodeJS.ProcessEnv): ModalCredentials | undefined {
  const modalKey = env[KEY_ENV]?.trim();
  const modalSecret = env[SECRET_ENV]?.trim();
  if (!modalKey && !modalSecret) return undefined;
  if (!modalKey || !modalSecret) {
    // Half a pair is a mistake worth reporting, not a reason to fall through to a different identity.
    const [set, unset] = modalKey ? [KEY_ENV, SECRET_ENV] : [SECRET_ENV, KEY_ENV];
    throw new CredentialsError(`credentials: ${set} is set but ${unset} is not; set both`);
  }
  return { modalKey, modalSecret };
}

function fromSecretsFile(file: string): ModalCredentials | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CredentialsError(`credentials: cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error: that could be a secret, so it stays out.
    throw new CredentialsError(`credentials: ${file} is not valid JSON; expected {"modal_key": "...", "modal_secret": "..."}`);
  }
  const parsed = SecretsFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'} ${issue.message}`).join('; ');
    throw new CredentialsError(`credentials: ${file} is malformed (${problems}); expected {"modal_key": "...", "modal_secret": "..."}`);
  }
  return { modalKey: parsed.data.modal_key, modalSecret: parsed.data.modal_secret };
}

function notFound(file: string): never {
  throw new CredentialsError(
    'no Modal credentials found. Give them in one of three ways: ' +
      '(1) the client options { credentials: { modalKey, modalSecret } }; ' +
      `(2) env ${KEY_ENV} and ${SECRET_ENV}; ` +
      `(3) the file ${file} with {"modal_key": "...", "modal_secret": "..."}. ` +
      "For a local service started with --no-auth use { credentials: 'none' }.",
  );
}
