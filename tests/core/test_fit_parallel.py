"""The fit planner counts the KV cache of every slot (engine.parallel) and says so."""

from baton.core.engine.fit import plan_fit
from baton.core.engine.gguf import read_gguf_info


def test_every_slot_gets_a_full_cache_in_the_plan(default_model_path):
    info = read_gguf_info(default_model_path)
    one = plan_fit(info, 4096, free_ram_bytes=64 << 30, gpu=False)
    four = plan_fit(info, 4096, free_ram_bytes=64 << 30, gpu=False, parallel=4)
    assert four.kv_bytes == 4 * one.kv_bytes and four.ram_bytes - one.ram_bytes == 3 * one.kv_bytes
    assert "each of 4 threads" in four.reason and "threads" not in one.reason


def test_too_many_slots_do_not_fit_and_the_reason_says_what_to_lower(default_model_path):
    info = read_gguf_info(default_model_path)
    plan = plan_fit(info, 8192, free_ram_bytes=2 << 30, gpu=False, parallel=64)
    assert not plan.fits and "engine.parallel" in plan.reason
