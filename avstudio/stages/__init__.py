"""Stages, one module each, and the pipelines (stage lists) of each template.

Stage classes are cheap to import: heavy libraries are imported inside ``run``.
"""

from __future__ import annotations

from importlib import import_module

from avstudio.pipeline.stage import Stage

PIPELINES: dict[str, tuple[str, ...]] = {
    "sonify": (
        "avstudio.stages.extract:ExtractStage",
        "avstudio.stages.features:FeaturesStage",
        "avstudio.stages.sonify:SonifyStage",
        "avstudio.stages.assemble:AssembleSonifiedStage",
    ),
    "bad-apple": (
        "avstudio.stages.extract:ExtractStage",
        "avstudio.stages.features:FeaturesStage",
        "avstudio.stages.embed:EmbedStage",
        "avstudio.stages.train:TrainStage",
        "avstudio.stages.paint:PaintStage",
        "avstudio.stages.evaluate:EvaluateStage",
        "avstudio.stages.assemble:AssemblePaintedStage",
    ),
}


def pipeline_stages(template: str) -> dict[str, Stage]:
    """``{name: stage}`` of a template's pipeline, in declaration order."""
    stages: dict[str, Stage] = {}
    for ref in PIPELINES[template]:
        module, cls = ref.split(":")
        stage = getattr(import_module(module), cls)()
        stages[stage.name] = stage
    return stages
