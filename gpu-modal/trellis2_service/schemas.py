"""Request bodies: the seed's field names, defaults and limits; unknown fields are ignored, as the seed did."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import config as c
from .ids import is_state_id

PipelineType = Literal["512", "1024", "1024_cascade", "1536_cascade"]
TextureSize = Literal[512, 1024, 2048, 4096]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class GenerateBody(_Body):
    image: str
    seed: int = Field(c.DEFAULT_SEED, ge=0, le=c.MAX_SEED)
    pipeline_type: PipelineType = c.DEFAULT_PIPELINE_TYPE
    ss_sampling_steps: int = Field(c.DEFAULT_SS_STEPS, ge=c.MIN_STEPS, le=c.MAX_STEPS)
    ss_guidance_strength: float = Field(c.DEFAULT_SS_GUIDANCE, ge=c.MIN_GUIDANCE, le=c.MAX_GUIDANCE)
    shape_slat_sampling_steps: int = Field(c.DEFAULT_SHAPE_STEPS, ge=c.MIN_STEPS, le=c.MAX_STEPS)
    shape_slat_guidance_strength: float = Field(c.DEFAULT_SHAPE_GUIDANCE, ge=c.MIN_GUIDANCE, le=c.MAX_GUIDANCE)
    tex_slat_sampling_steps: int = Field(c.DEFAULT_TEX_STEPS, ge=c.MIN_STEPS, le=c.MAX_STEPS)
    tex_slat_guidance_strength: float = Field(c.DEFAULT_TEX_GUIDANCE, ge=c.MIN_GUIDANCE, le=c.MAX_GUIDANCE)
    state_mode: Literal["inline", "reference"] = "inline"
    include_video: bool = True

    @model_validator(mode="after")
    def _steps_within_the_pipeline_cap(self) -> "GenerateBody":
        """Steps capped per pipeline type so no valid request outruns the GPU timeout (config.py)."""
        cap = c.MAX_STEPS_BY_PIPELINE[self.pipeline_type]
        for name in ("ss_sampling_steps", "shape_slat_sampling_steps", "tex_slat_sampling_steps"):
            if getattr(self, name) > cap:
                raise ValueError(f"{name}: at most {cap} with pipeline_type {self.pipeline_type} "
                                 f"(got {getattr(self, name)}); more would outrun the {c.GPU_TIMEOUT_SECONDS} s GPU timeout")
        return self

    def sampler_params(self) -> dict:
        """The fields of backends.base.GenerateParams (all but render_preview)."""
        return self.model_dump(exclude={"image", "state_mode", "include_video"})


class ExtractSettings(_Body):
    """How one GLB is extracted from a state (the fields of backends.base.ExtractParams)."""

    decimation_target: int = Field(c.DEFAULT_DECIMATION_TARGET, ge=c.MIN_DECIMATION_TARGET, le=c.MAX_DECIMATION_TARGET)
    texture_size: TextureSize = c.DEFAULT_TEXTURE_SIZE
    remesh: bool = True
    remesh_band: float = Field(c.DEFAULT_REMESH_BAND, gt=0, le=c.MAX_REMESH_BAND)
    remesh_project: float = Field(c.DEFAULT_REMESH_PROJECT, ge=0, le=1)
    extension_webp: bool = False  # WebP textures (EXT_texture_webp): smaller, but not every viewer reads them

    def extract_params(self) -> dict:
        return self.model_dump(include=set(ExtractSettings.model_fields))


class NamedExtractSettings(ExtractSettings):
    name: str = Field(pattern=c.PRESET_NAME_PATTERN)


class ExtractBody(ExtractSettings):
    state: str | None = None
    state_id: str | None = None
    # Several GLBs from one state in one GPU call (job submits only): the state is read and decoded once, and
    # the backend shares the work the presets have in common. With `presets`, send no top-level extraction field.
    presets: list[NamedExtractSettings] | None = Field(None, min_length=1, max_length=c.MAX_PRESETS_PER_JOB)

    @field_validator("state_id")
    @classmethod
    def _state_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not is_state_id(value):
            raise ValueError("must be 'st_' followed by 32 lowercase hex digits")
        return value

    @model_validator(mode="after")
    def _exactly_one_state(self) -> "ExtractBody":
        if (self.state is None) == (self.state_id is None):
            raise ValueError("state, state_id: send exactly one of the two")
        return self

    @model_validator(mode="after")
    def _presets_alone(self) -> "ExtractBody":
        if self.presets is None:
            return self
        top_level = sorted(set(ExtractSettings.model_fields) & self.model_fields_set)
        if top_level:
            raise ValueError(f"{', '.join(top_level)}: with presets, set these inside each preset")
        names = [preset.name for preset in self.presets]
        if len(set(names)) != len(names):
            raise ValueError("presets: names must be unique")
        return self

    def preset_params(self) -> dict[str, dict] | None:
        """name -> extraction params, in the order sent; None for a single extraction."""
        return None if self.presets is None else {preset.name: preset.extract_params() for preset in self.presets}
