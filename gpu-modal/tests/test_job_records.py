"""One writer per job file: a poll (the API) can never overwrite what the GPU side recorded, even on a
last-writer-wins Volume and when a reload fails; and an input that keeps killing containers is not rerun."""

import asyncio
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from fake_backend import FakeBackend
from trellis2_service.errors import ServiceError
from trellis2_service.jobs import Jobs, execute_job, owner_of
from trellis2_service.store import Store
from trellis2_service.work import Worker

OWNER = owner_of("wk-records")


class FakeVolume:
    """Modal Volume semantics over plain folders: each container has its own view; commit() copies the files
    that container wrote to the shared copy (last writer wins, file by file); reload() refreshes the view."""

    def __init__(self, root: Path) -> None:
        self.shared = root / "shared"
        self.shared.mkdir()

    def container(self, name: str, ttl: int = 3600) -> "tuple[Store, dict]":
        view = self.shared.parent / name
        view.mkdir()
        control = {"reload_fails": False, "hold_commits": False, "written": {}, "committed": set()}

        def snapshot() -> dict[Path, bytes]:
            return {path.relative_to(view): path.read_bytes() for path in view.rglob("*") if path.is_file()}

        def commit() -> None:
            if control["hold_commits"]:
                return  # a slow commit: flush() sends what changed since the last one
            for relative, data in snapshot().items():
                if control["written"].get(relative) != data:  # changed in this view since the last sync
                    (self.shared / relative).parent.mkdir(parents=True, exist_ok=True)
                    (self.shared / relative).write_bytes(data)
                    control["committed"].add(relative.name)
            control["written"] = snapshot()

        def reload() -> None:
            if control["reload_fails"]:
                raise RuntimeError("there are open files preventing the operation")
            shutil.copytree(self.shared, view, dirs_exist_ok=True)
            control["written"] = snapshot()

        control["flush"] = commit
        return Store(view, ttl_seconds=ttl, commit=commit, reload=reload), control


class CallDied:
    """A runner whose every call has ended without an outcome the API could see (what Modal reports when a
    container died, or what a stale view makes it look like). Its spawn starts nothing: the tests run the
    GPU side themselves."""

    async def submit(self, job_id, kind, request, submitted_at):
        return "fc-1"

    async def settle(self, record, call_id):
        return ServiceError.of("generation_error", "container lost")


@pytest.fixture
def volume(tmp_path):
    return FakeVolume(tmp_path)


def make_job(jobs: Jobs) -> str:
    record, _ = asyncio.run(jobs.submit(OWNER, "generate", _no_start, request_id="req_" + "0" * 16,
                                        submitted_at=time.time()))
    return record["job_id"]


async def _no_start():
    return {}


def api_jobs(store: Store) -> Jobs:
    return Jobs(store, CallDied())


def run_on_gpu(gpu_store: Store, settings, job_id: str, backend=None) -> None:
    worker = Worker(backend or FakeBackend(), gpu_store, settings)
    execute_job(worker, gpu_store, job_id, "generate", _request(), time.time())


def _sampler():
    from trellis2_service.schemas import GenerateBody

    return GenerateBody(image="x").sampler_params()


def test_a_poll_with_a_failed_reload_writes_nothing(volume, settings):
    api_store, api = volume.container("api")
    gpu_store, _ = volume.container("gpu")
    jobs = api_jobs(api_store)
    job_id = make_job(jobs)
    gpu_store.reload()
    run_on_gpu(gpu_store, settings, job_id)  # the GPU side records success and commits it

    api["reload_fails"] = True  # the API's view is stale: it still sees the job queued
    seen = asyncio.run(jobs.get(job_id, OWNER))
    assert seen["status"] == "queued"  # answered from what is visible...
    assert not list(volume.shared.rglob("verdict.json"))  # ...and nothing concluded from it

    api["reload_fails"] = False
    assert asyncio.run(jobs.get(job_id, OWNER))["status"] == "succeeded"


def test_the_workers_outcome_beats_a_verdict_written_before_it(volume, settings):
    api_store, _ = volume.container("api")
    gpu_store, _ = volume.container("gpu")
    jobs = api_jobs(api_store)
    job_id = make_job(jobs)
    gpu_store.reload()
    # The API concludes the call died (its view is fresh but the worker has not committed yet)...
    assert asyncio.run(jobs.get(job_id, OWNER))["status"] == "failed"
    assert list(volume.shared.rglob("verdict.json"))
    # ...then the worker, which had already read the job, commits its success (the old code's record.json
    # would now be a coin toss between the two writers).
    worker = Worker(FakeBackend(), gpu_store, settings)
    from trellis2_service.jobs import finish_job

    finish_job(gpu_store, job_id, worker.generate(_request(), time.time()), attempts=1)
    final = asyncio.run(jobs.get(job_id, OWNER))
    assert final["status"] == "succeeded" and final["error"] is None and "state" in final["blobs"]
    assert (volume.shared / "jobs" / job_id / "verdict.json").exists()  # still there, and outvoted


def test_a_later_api_write_cannot_undo_the_workers_success(volume, settings):
    api_store, api = volume.container("api")
    gpu_store, gpu = volume.container("gpu")
    jobs = api_jobs(api_store)
    job_id = make_job(jobs)
    gpu_store.reload()
    run_on_gpu(gpu_store, settings, job_id)
    api_store.put_job_verdict(job_id, ServiceError.of("internal_error", "late verdict").to_dict())  # commits
    assert asyncio.run(jobs.get(job_id, OWNER))["status"] == "succeeded"
    # Each side committed only its own files.
    assert api["committed"] == {"submit.json", "call.txt", "verdict.json"}
    assert gpu["committed"] == {"worker.json", "state.bin"}


def _request():
    from conftest import png_bytes
    from trellis2_service.work import generate_request

    return generate_request(png_bytes(), _sampler(), state_mode="inline", render_preview=False)


class ContainerKilled(BaseException):
    """Stands for the container dying mid-job (a segfault, the OOM killer): nothing after it runs."""


class Killer(FakeBackend):
    def generate(self, image, params):
        self.generate_calls += 1
        raise ContainerKilled()


def test_an_input_that_keeps_killing_containers_is_failed_after_the_cap(volume, settings):
    settings = replace(settings, max_job_attempts=2)
    api_store, _ = volume.container("api")
    jobs = api_jobs(api_store)
    job_id = make_job(jobs)
    killer = Killer()
    for attempt in (1, 2):  # Modal redelivers the input to a new container each time
        gpu_store, _ = volume.container(f"gpu-{attempt}")
        gpu_store.reload()
        with pytest.raises(ContainerKilled):
            run_on_gpu(gpu_store, settings, job_id, backend=killer)
        assert gpu_store.job_attempts(job_id) == attempt
    gpu_store, _ = volume.container("gpu-3")
    gpu_store.reload()
    run_on_gpu(gpu_store, settings, job_id, backend=killer)
    assert killer.generate_calls == 2  # the third start ran nothing

    status = asyncio.run(jobs.get(job_id, OWNER))
    assert status["status"] == "failed" and status["attempts"] == 2
    assert status["error"]["code"] == "poison_input" and status["error"]["retryable"] is False
    assert "keeps killing containers" in status["error"]["message"]


def test_the_api_names_a_call_that_died_on_its_last_attempt_poison_input(volume, settings):
    api_store, _ = volume.container("api")
    jobs = api_jobs(api_store)  # its runner reports the call as over, without an outcome
    job_id = make_job(jobs)
    killer = Killer()
    for attempt in (1, 2):
        gpu_store, _ = volume.container(f"gpu-{attempt}")
        gpu_store.reload()
        with pytest.raises(ContainerKilled):
            run_on_gpu(gpu_store, replace(settings, max_job_attempts=2), job_id, backend=killer)
    status = asyncio.run(jobs.get(job_id, OWNER))
    assert status["error"]["code"] == "poison_input" and status["status"] == "failed"


def test_two_api_containers_racing_on_one_key_run_one_job(volume, settings):
    """The window the write-once binding cannot close on a Volume: each API container binds the key before
    it sees the other's commit. The GPU side, starting after the Volume settled, runs only the job the
    binding names; the other fails retryably, and a resubmit with the key is answered with the winner."""
    from trellis2_service.idempotency import IdempotencyKey

    first_store, first = volume.container("api-1")
    second_store, _ = volume.container("api-2")
    first["hold_commits"] = True
    key = IdempotencyKey("wf:act:race", "same-body")

    def submit(store):
        jobs = api_jobs(store)
        return asyncio.run(jobs.submit(OWNER, "generate", _no_start, request_id="req_" + "1" * 16,
                                       submitted_at=time.time(), idempotency=key))

    early, replayed_early = submit(first_store)  # its commit waits...
    late, replayed_late = submit(second_store)  # ...so this one sees no binding either
    assert not replayed_early and not replayed_late and early["job_id"] != late["job_id"]
    first["hold_commits"] = False
    first["flush"]()  # the held commit lands last: its binding is the one the Volume keeps (last writer)

    backend = FakeBackend()
    gpu_store, _ = volume.container("gpu")
    gpu_store.reload()
    for job in (early, late):
        run_on_gpu(gpu_store, settings, job["job_id"], backend=backend)
    assert backend.generate_calls == 1
    jobs = api_jobs(first_store)
    winner = asyncio.run(jobs.get(early["job_id"], OWNER))
    loser = asyncio.run(jobs.get(late["job_id"], OWNER))
    assert winner["status"] == "succeeded"
    assert loser["status"] == "failed" and loser["error"]["retryable"] and "superseded" in loser["error"]["message"]
    # The client that holds the loser's id resubmits with its key, to whichever API container: the winner.
    for store in (first_store, second_store):
        again, replayed = asyncio.run(api_jobs(store).submit(
            OWNER, "generate", _no_start, request_id="req_" + "2" * 16, submitted_at=time.time(), idempotency=key))
        assert replayed and again["job_id"] == early["job_id"]


def test_a_keyed_submit_with_a_stale_view_is_refused_not_guessed(volume):
    from trellis2_service.idempotency import IdempotencyKey

    store, control = volume.container("api")
    control["reload_fails"] = True
    with pytest.raises(ServiceError) as refused:
        asyncio.run(api_jobs(store).submit(OWNER, "generate", _no_start, request_id="req_" + "3" * 16,
                                           submitted_at=time.time(), idempotency=IdempotencyKey("k", "h")))
    assert refused.value.code == "not_ready" and refused.value.retryable
    assert not list((volume.shared.parent / "api" / "jobs").iterdir())
