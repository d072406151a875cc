/// <reference path="../types/untyped-modules.d.ts" />
// One glTF-Transform reader/writer for the process, with every extension and the Draco and meshopt
// codecs registered, so compressed sources read and compressed channel files write. The codecs are
// WebAssembly modules: built once, on first use.
import { Logger, NodeIO } from '@gltf-transform/core';
import { ALL_EXTENSIONS } from '@gltf-transform/extensions';
import draco3d from 'draco3dgltf';
import { MeshoptDecoder, MeshoptEncoder, MeshoptSimplifier } from 'meshoptimizer';

let io: Promise<NodeIO> | undefined;
/** glTF-Transform logs every step at INFO; a worker keeps only warnings. */
export const quietLogger = new Logger(Logger.Verbosity.WARN);

export function gltfIO(): Promise<NodeIO> {
  io ??= (async () => {
    const [decoder, encoder] = await Promise.all([draco3d.createDecoderModule(), draco3d.createEncoderModule()]);
    await Promise.all([MeshoptDecoder.ready, MeshoptEncoder.ready, MeshoptSimplifier.ready]);
    return new NodeIO().setLogger(quietLogger).registerExtensions(ALL_EXTENSIONS).registerDependencies({
      'draco3d.decoder': decoder,
      'draco3d.encoder': encoder,
      'meshopt.decoder': MeshoptDecoder,
      'meshopt.encoder': MeshoptEncoder,
    });
  })();
  return io;
}
