// The report's schemas live in @trellis/contracts (the manifest and the review queue carry them).
export {
  BackgroundCheck,
  CheckName,
  GivenSize,
  MeshCheck,
  QualityReport,
  SilhouetteCheck,
  SizeCheck,
  TextureCheck,
} from '@trellis/contracts';
