import pytest

from trellis2_service.errors import ServiceError
from trellis2_service.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_states_expire_and_are_deleted(tmp_path, clock):
    store = Store(tmp_path, ttl_seconds=3600, clock=clock)
    state_id, expires_at = store.put_state(b"state", b"video")
    assert expires_at == clock.now + 3600
    assert store.get_state_blob(state_id) == b"state" and store.get_preview(state_id) == b"video"
    clock.now += 3601
    with pytest.raises(ServiceError) as caught:
        store.get_state_blob(state_id)
    assert caught.value.code == "state_not_found" and caught.value.status == 404
    assert not (tmp_path / "states" / state_id).exists()


def test_purge_removes_expired_states_job_results_and_stale_partial_writes(tmp_path, clock):
    import os

    store = Store(tmp_path, ttl_seconds=3600, clock=clock)
    old_state, _ = store.put_state(b"old", None)
    store.put_job_blobs("job_" + "a" * 32, {"glb": b"glTF"})
    os.utime(tmp_path / "jobs" / ("job_" + "a" * 32), (clock.now, clock.now))
    partial = tmp_path / "states" / ("st_" + "b" * 32)  # a write that died before its meta.json
    partial.mkdir()
    os.utime(partial, (clock.now, clock.now))
    foreign = tmp_path / "states" / "keep-me"  # not ours: never touched
    foreign.mkdir()
    clock.now += 1800
    fresh_state, _ = store.put_state(b"fresh", None)
    clock.now += 1801
    assert store.purge_expired() == 3
    assert store.get_state_blob(fresh_state) == b"fresh"
    assert not (tmp_path / "states" / old_state).exists() and not partial.exists()
    assert store.get_job_blobs("job_" + "a" * 32, ["glb"]) is None
    assert foreign.exists()


def test_writes_purge_now_and_then(tmp_path, clock):
    store = Store(tmp_path, ttl_seconds=60, clock=clock)
    first, _ = store.put_state(b"1", None)
    clock.now += 3600
    store.put_state(b"2", None)  # a write long after the last purge sweeps what expired
    assert not (tmp_path / "states" / first).exists()


def test_a_store_without_purge_on_write_leaves_expiry_to_purge_expired(tmp_path, clock):
    store = Store(tmp_path, ttl_seconds=60, clock=clock, purge_on_write=False)  # as on GPU containers
    first, _ = store.put_state(b"1", None)
    clock.now += 3600
    store.put_state(b"2", None)
    assert (tmp_path / "states" / first).exists()
    assert store.purge_expired() == 1


def test_volume_hooks_are_called(tmp_path, clock):
    calls = []
    store = Store(tmp_path, ttl_seconds=3600, clock=clock, commit=lambda: calls.append("commit"),
                  reload=lambda: calls.append("reload"))
    state_id, _ = store.put_state(b"s", None)
    assert calls and calls[-1] == "commit"
    calls.clear()
    store.put_job_blobs("job_" + "c" * 32, {"video": b"mp4"})
    assert calls == ["commit"]  # a job's results are committed before its call returns
    calls.clear()
    with pytest.raises(ServiceError):
        store.get_state_blob("st_" + "d" * 32)  # not here: reload once (another container may have written it)
    assert calls == ["reload"]


def test_a_failing_reload_is_not_fatal(tmp_path, clock):
    def busy():
        raise RuntimeError("volume busy")

    store = Store(tmp_path, ttl_seconds=3600, clock=clock, reload=busy)
    assert store.reload() is False
