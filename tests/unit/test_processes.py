"""Scoring work in processes of their own (chemrnn.scoring.processes): results come back as each process ends, so a
slow molecule holds up only its own worker; one past its time is stopped with the programs it started; one that dies
is a failure with its exit code, and the others still come back."""
import os
import subprocess
import time

import pytest

from chemrnn.scoring.processes import each_in_process


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds * 10


def test_results_come_back_as_each_process_ends_not_in_the_order_given():
    # worker 1 takes the slow item; worker 2 goes through every fast one meanwhile, never waiting for it
    items = [1.5, 0.05, 0.05, 0.05, 0.05, 0.05]
    out = list(each_in_process(nap, items, workers=2))
    assert [i for i, _, _ in out] == [1, 2, 3, 4, 5, 0]
    assert all(why is None and result == items[i] * 10 for i, result, why in out)


def test_one_worker_keeps_the_order_given():
    assert [i for i, _, _ in each_in_process(nap, [0.2, 0.01, 0.1], workers=1)] == [0, 1, 2]


def test_a_process_past_its_time_is_stopped_with_the_program_it_started(tmp_path):
    def hang(x: int) -> int:
        if x == 0:
            child = subprocess.Popen(["sleep", "60"])
            (tmp_path / "child").write_text(str(child.pid))
            child.wait()
        return x

    t0 = time.perf_counter()
    out = {i: (result, why) for i, result, why in each_in_process(hang, [0, 1, 2], workers=2, timeout=1.0)}
    assert time.perf_counter() - t0 < 10
    assert out[0] == (None, "scoring took longer than 1 s") and out[1] == (1, None) and out[2] == (2, None)
    with pytest.raises(ProcessLookupError):  # the program it started was stopped with it
        os.kill(int((tmp_path / "child").read_text()), 0)


def test_a_process_that_dies_fails_its_item_with_the_exit_code_and_the_others_come_back():
    def die_on_two(x: int) -> int:
        if x == 2:
            os._exit(3)
        return x

    out = {i: (result, why) for i, result, why in each_in_process(die_on_two, [1, 2, 3], workers=2, what="docking")}
    assert out == {0: (1, None), 1: (None, "the docking process ended without a score (exit 3)"), 2: (3, None)}


def test_closing_early_stops_what_still_runs(tmp_path):
    def note_and_sleep(x: float) -> float:
        (tmp_path / f"{os.getpid()}").write_text("")
        time.sleep(x)
        return x

    gen = each_in_process(note_and_sleep, [0.01, 30.0], workers=2)
    assert next(gen)[0] == 0
    gen.close()
    time.sleep(0.2)
    for name in os.listdir(tmp_path):
        with pytest.raises(ProcessLookupError):
            os.kill(int(name), 0)
