"""The estimate on a real answer: llama.cpp's worker threads are charged to the request."""

from __future__ import annotations

from pathlib import Path

from baton.config import TelemetrySettings
from baton.core.telemetry.meter import EnergyMeter
from baton.core.types import ChatMessage, GenerationRequest


def test_real_generation_gets_a_labelled_estimate_above_the_idle_floor(tmp_path: Path,
                                                                      default_model_path: Path) -> None:
    from baton.core.engine.llama import LlamaEngine

    engine = LlamaEngine(default_model_path, n_ctx=1024)
    try:
        engine.load()
        with EnergyMeter.for_machine(TelemetrySettings(cpu_tdp_w=20.0), sysfs_root=tmp_path,
                                     use_nvml=False) as meter:
            window = meter.begin()
            request = GenerationRequest([ChatMessage("user", "Count from one to twenty in words.")],
                                        max_tokens=48, temperature=0.0, seed=0)
            completion = None
            for chunk in engine.stream(request):
                if chunk.text and completion is None:
                    window.first_token()
                if chunk.completion is not None:
                    completion = chunk.completion
            m = window.end()
    finally:
        engine.close()
    assert completion is not None and completion.usage.completion_tokens > 5
    (part,) = m.parts
    assert (part.scope, part.source) == ("cpu_package", "estimated")
    assert m.to_dict()["measured_share"] == 0.0
    floor_j = 20.0 * 0.1 * m.duration_s  # what an idle process is charged
    assert part.energy_j > 1.2 * floor_j  # llama.cpp's threads burned CPU in this process
    assert part.prefill_j is not None and part.decode_j is not None
    assert part.prefill_j > 0 and part.decode_j > 0
