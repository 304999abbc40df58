"""The estimate on a real answer: llama.cpp's worker threads are charged to the request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from baton.config import TelemetrySettings
from baton.core.telemetry.estimate import logical_cpus
from baton.core.telemetry.meter import EnergyMeter
from baton.core.types import ChatMessage, GenerationRequest


@pytest.mark.slow
def test_real_generation_gets_a_labelled_estimate_above_the_idle_floor(tmp_path: Path,
                                                                      default_model_path: Path) -> None:
    from baton.core.engine.llama import LlamaEngine

    engine = LlamaEngine(default_model_path, n_ctx=1024)
    try:
        engine.load()
        with EnergyMeter.for_machine(TelemetrySettings(cpu_tdp_w=20.0), sysfs_root=tmp_path,
                                     use_nvml=False) as meter:
            cpu0 = time.process_time()
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
            cpu_s = time.process_time() - cpu0
    finally:
        engine.close()
    assert completion is not None and completion.usage.completion_tokens > 5
    (part,) = m.parts
    assert (part.scope, part.source) == ("cpu_package", "estimated")
    assert m.to_dict()["measured_share"] == 0.0
    # The CPU time llama.cpp's threads really got in this window (whatever else the machine was doing)
    # sets a lower bound: the estimate integrates TDP x (0.1 + 0.9 x load^3) piecewise, and by convexity
    # the mean of load^3 is at least the cube of the mean load.
    mean_load = min(1.0, cpu_s / (logical_cpus() * m.duration_s))
    assert mean_load > 0.05, "llama.cpp's threads burned CPU in this process"
    lower_j = 20.0 * (0.1 + 0.9 * mean_load**3) * m.duration_s
    assert lower_j * 0.97 <= part.energy_j <= 20.0 * m.duration_s * 1.03
    assert part.prefill_j is not None and part.decode_j is not None
    assert part.prefill_j > 0 and part.decode_j > 0
