import { z } from 'zod';

/** A preset name doubles as the GLB file name (`<preset>.glb`), so it is kept file-name safe. */
export const PresetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'a preset name is 1-32 lowercase letters, digits, "-" or "_"');
export type PresetName = z.infer<typeof PresetName>;
