"""Scoring work in processes of their own (chemrnn.scoring.processes): results come back as each process ends, so a
slow molecule holds up only its own worker; one past its time is stopped with the programs it started; one that dies
is a failure with its exit code, and the others still come back."""
import os
import subprocess
import time

from chemrnn.scoring.processes import each_in_process


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds * 10


def gone(pid: int, wait: float = 10.0) -> bool:
    """The process has ended (a zombie not yet reaped by init counts as ended)."""
    deadline = time.time() + wait
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.05)


def test_results_come_back_as_each_process_ends_not_in_the_order_given(tmp_path):
    # item 0 runs until the last fast item has run: worker 1 holds it while worker 2 goes through every fast one
    def slow_or_fast(i: int) -> int:
        if i == 0:
            deadline = time.time() + 60
            while not (tmp_path / "5").exists() and time.time() < deadline:
                time.sleep(0.02)
        else:
            (tmp_path / str(i)).write_text("")
        return i * 10

    out = list(each_in_process(slow_or_fast, list(range(6)), workers=2))
    order = [i for i, _, _ in out]
    assert order[:4] == [1, 2, 3, 4] and sorted(order[4:]) == [0, 5]  # 0 and 5 end together
    assert all(why is None and result == i * 10 for i, result, why in out)


def test_one_worker_keeps_the_order_given():
    assert [i for i, _, _ in each_in_process(nap, [0.2, 0.01, 0.1], workers=1)] == [0, 1, 2]


def test_a_process_past_its_time_is_stopped_with_the_program_it_started(tmp_path):
    def hang(x: int) -> int:
        if x == 0:
            child = subprocess.Popen(["sleep", "60"])
            (tmp_path / "child").write_text(str(child.pid))
            child.wait()
        return x

    out = {i: (result, why) for i, result, why in each_in_process(hang, [0, 1, 2], workers=2, timeout=3.0)}
    assert out[0] == (None, "scoring took longer than 3 s") and out[1] == (1, None) and out[2] == (2, None)
    assert gone(int((tmp_path / "child").read_text()))  # the program it started was stopped with it


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
    assert all(gone(int(name)) for name in os.listdir(tmp_path))
