// Khronos glTF validator over GLB files given as arguments; prints one JSON report per file (one line
// each) and exits 0. Used by tests_gpu_parity/test_cpu_proofs.py, which decides what passes.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// gltf-validator is a dependency of the tests/ workspace (hoisted to the repository's node_modules).
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { validateBytes } = createRequire(path.join(root, 'tests', 'package.json'))('gltf-validator');

for (const file of process.argv.slice(2)) {
  const report = await validateBytes(new Uint8Array(fs.readFileSync(file)), { maxIssues: 50 });
  const { numErrors, numWarnings, messages } = report.issues;
  console.log(JSON.stringify({
    file,
    numErrors,
    numWarnings,
    extensionsUsed: report.info?.extensionsUsed ?? [],
    images: (report.info?.resources ?? []).filter((r) => r.pointer.startsWith('/images/')).map((r) => r.mimeType),
    errors: messages.filter((m) => m.severity === 0).map((m) => `${m.code} ${m.pointer ?? ''} ${m.message}`),
  }));
}
