// Reads a GLB's JSON chunk: what a viewer sees first (extensions, images), without any glTF library.
export function glbJson(glb: Uint8Array): {
  extensionsUsed?: string[];
  extensionsRequired?: string[];
  images?: { mimeType?: string }[];
  accessors?: { min?: number[]; max?: number[] }[];
} {
  const view = new DataView(glb.buffer, glb.byteOffset, glb.byteLength);
  if (view.getUint32(0, true) !== 0x46546c67) throw new Error('not a GLB');
  const length = view.getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(glb.subarray(20, 20 + length)));
}
