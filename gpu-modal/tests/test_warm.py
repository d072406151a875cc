"""The warm signal: /warmup answers without a GPU and starts at most one warm-up container."""

from fastapi.testclient import TestClient

from conftest import AUTH, plain_app
from trellis2_service.warm import WarmSignal, warmup_body


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_container_is_warm_within_its_scaledown_window_only():
    clock, store = Clock(), {}
    signal = WarmSignal(store, scaledown_window_seconds=300, clock=clock)
    assert signal.warm_container() is None
    signal.mark_active("ta-1")
    clock.now += 200
    assert signal.warm_container() == "ta-1"
    clock.now += 100  # idle for 300 s: Modal is scaling it down
    assert signal.warm_container() is None
    signal.mark_active("ta-1")
    signal.clear("ta-1")
    assert signal.warm_container() is None


def test_many_warmups_start_one_container_and_none_when_warm():
    clock, store, starts = Clock(), {}, []
    signal = WarmSignal(store, scaledown_window_seconds=300, warming_seconds=300, clock=clock)
    answers = [signal.warm_or_start(lambda: starts.append(clock.now)) for _ in range(50)]  # 50 assets at once
    assert len(starts) == 1 and answers[0].started and not any(answer.started for answer in answers[1:])
    assert not any(answer.warm for answer in answers)
    signal.mark_active("ta-7")  # the started container loaded its model
    answer = signal.warm_or_start(lambda: starts.append(clock.now))
    assert answer.warm and not answer.started and answer.container_id == "ta-7" and len(starts) == 1
    clock.now += 1000  # everything scaled down long ago: the next catalog starts one again
    assert signal.warm_or_start(lambda: starts.append(clock.now)).started and len(starts) == 2


def test_an_unreadable_signal_starts_nothing():
    class Broken(dict):
        def items(self):
            raise ConnectionError("Dict unreachable")

    starts = []
    answer = WarmSignal(Broken(), scaledown_window_seconds=300).warm_or_start(lambda: starts.append(1))
    assert (answer.warm, answer.started, starts) == (False, False, [])


def test_a_failed_start_lets_the_next_request_try_again():
    signal, starts = WarmSignal({}, scaledown_window_seconds=300), []

    def refuse():
        raise RuntimeError("spawn failed")

    assert signal.warm_or_start(refuse).started is False
    assert signal.warm_or_start(lambda: starts.append(1)).started is True and starts == [1]


def test_the_warmup_route_answers_from_the_signal_without_running_the_backend(settings, backend, tmp_path):
    clock, store, starts = Clock(), {}, []
    signal = WarmSignal(store, scaledown_window_seconds=300, clock=clock)

    def warm_check():
        answer = signal.warm_or_start(lambda: starts.append(1))
        return warmup_body(answer, device="A100-80GB", backend="trellis2", compute_seconds=0.001)

    with TestClient(plain_app(settings, backend, warm_check=warm_check)) as client:
        first = client.post("/warmup", headers=AUTH).json()
        second = client.post("/warmup", headers=AUTH).json()
        signal.mark_active("ta-9")
        third = client.post("/warmup", headers=AUTH).json()
    assert (first["warm"], first["started"], first["ready"]) == (False, True, False)
    assert (second["warm"], second["started"]) == (False, False)
    assert (third["warm"], third["started"], third["ready"], third["container_id"]) == (True, False, True, "ta-9")
    assert starts == [1] and backend.load_calls == 0  # the backend was never touched
    assert first["server_timing"]["device"] == "cpu" and first["cold_start"] is False and first["request_id"]


def test_the_local_warmup_says_whether_it_was_warm(client):
    first = client.post("/warmup").json()
    second = client.post("/warmup").json()
    assert (first["warm"], first["started"]) == (False, True)
    assert (second["warm"], second["started"]) == (True, False)
