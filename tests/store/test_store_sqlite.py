"""What only the SQLite store promises: durability across a crash, errors at open, several processes, group commit."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eventkit._store import Inbound, Outgoing, StoreError, StoreSettingsError, open_store
from eventkit._store._sqlite import SCHEMA_VERSION, SqliteStore

_APPENDER = textwrap.dedent(
    """
    import asyncio, itertools, sys
    from eventkit._store import Inbound, open_store

    async def main() -> None:
        store = open_store(sys.argv[1])
        await store.open()
        counter = itertools.count()
        print("ready", flush=True)

        async def worker() -> None:
            while True:
                n = next(counter)
                stored = await store.append([Inbound("acme", str(n).encode(), f"key-{n}")])
                assert stored == [True]
                sys.stdout.write(f"{n}\\n")
                sys.stdout.flush()

        await asyncio.gather(*(worker() for _ in range(int(sys.argv[2]))))

    asyncio.run(main())
    """
)


def url_of(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"sqlite:///{path}" + (f"?{query}" if query else "")


@pytest.mark.parametrize("synchronous", ["full", "normal"])
async def test_every_reported_append_survives_sigkill(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "crash.db"
    url = url_of(path, synchronous=synchronous)
    child = subprocess.Popen(
        [sys.executable, "-c", _APPENDER, url, "8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        reported: set[int] = set()
        while len(reported) < 400:
            line = child.stdout.readline()
            assert line, f"the appender stopped: {child.stderr.read() if child.stderr else ''}"
            reported.add(int(line))
        os.kill(child.pid, signal.SIGKILL)
        for line in child.stdout:  # appends reported before the kill landed
            if line.strip():
                reported.add(int(line))
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    async with open_store(url) as store:
        held: set[int] = set()
        while batch := await store.read("g", "c", count=500, timeout=0):
            held.update(int(d.payload) for d in batch)
            await store.ack("g", [d.id for d in batch])
        assert reported <= held, f"lost after SIGKILL: {sorted(reported - held)[:10]}"
        # Dedupe keys are as durable as the events.
        some = min(reported)
        assert await store.append([Inbound("acme", b"again", f"key-{some}")]) == [False]


async def test_group_commit_batches_concurrent_calls(tmp_path: Path) -> None:
    async with SqliteStore.from_url(url_of(tmp_path / "gc.db")) as store:
        assert isinstance(store, SqliteStore)
        before = store.commits
        results = await asyncio.gather(*(store.append([Inbound("acme", f"{n}".encode(), f"k{n}")]) for n in range(200)))
        assert results == [[True]] * 200
        commits = store.commits - before
        assert 1 <= commits < 200, commits
        assert (await store.stats()).events == 200


async def test_one_failing_call_does_not_undo_its_batch(tmp_path: Path) -> None:
    async with SqliteStore.from_url(url_of(tmp_path / "b.db", max_events="3")) as store:
        outcomes = await asyncio.gather(
            store.append([Inbound("acme", b"1")]),
            store.append([Inbound("acme", b"2"), Inbound("acme", b"3"), Inbound("acme", b"4")]),
            store.append([Inbound("acme", b"5")]),
            return_exceptions=True,
        )
        assert outcomes[0] == [True] and outcomes[2] == [True]
        assert type(outcomes[1]).__name__ == "StoreFullError"
        got = await store.read("g", "c", count=10, timeout=0)
        assert sorted(d.payload for d in got) == [b"1", b"5"]


async def test_another_process_appends_and_a_waiting_reader_sees_it(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    url = url_of(path, poll_interval="0.05")
    script = textwrap.dedent(
        """
        import asyncio, sys
        from eventkit._store import Inbound, open_store

        async def main() -> None:
            async with open_store(sys.argv[1]) as store:
                await asyncio.sleep(0.3)
                await store.append([Inbound("acme", f"from-child-{n}".encode()) for n in range(5)])

        asyncio.run(main())
        """
    )
    async with open_store(url) as store:
        assert await store.read("g", "c", timeout=0) == []  # the group exists before the other process appends
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, url)
        got: list[bytes] = []
        try:
            while len(got) < 5:
                batch = await store.read("g", "c", count=10, timeout=20)
                assert batch, "the reader never saw the other process's appends"
                got.extend(d.payload for d in batch)
                await store.ack("g", [d.id for d in batch])
        finally:
            assert await child.wait() == 0
        assert got == [f"from-child-{n}".encode() for n in range(5)]


async def test_state_survives_reopening(tmp_path: Path) -> None:
    url = url_of(tmp_path / "reopen.db")
    async with open_store(url) as store:
        await store.append([Inbound("acme", b"1", "k1"), Inbound("acme", b"2"), Inbound("acme", b"3")])
        first, _second = await store.read("g", "c", count=2, timeout=0)
        await store.ack("g", [first.id])
        (out_id,) = await store.enqueue([Outgoing("acme", "t", b"o")])
    async with open_store(url) as store:
        again = await store.read("g", "c", count=10, timeout=0)
        assert [(d.payload, d.attempts) for d in again] == [(b"2", 2), (b"3", 1)]
        assert await store.append([Inbound("acme", b"1", "k1")]) == [False]
        assert [i.id for i in await store.outbox()] == [out_id]
        (next_id,) = await store.enqueue([Outgoing("acme", "t", b"p")])
        assert next_id > out_id


# Errors at open: never a silent fallback


async def _open_fails(url: str) -> str:
    store = open_store(url)
    with pytest.raises(StoreError) as caught:
        await store.open()
    with pytest.raises(StoreError):
        await store.append([Inbound("acme", b"x")])
    return str(caught.value)


async def test_a_non_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    message = await _open_fails(url_of(path))
    assert "notes.db" in message and "not a database" in message
    assert path.read_text().startswith("these are my notes")


async def test_a_corrupt_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    async with open_store(url_of(path)) as store:
        for n in range(20):
            await store.append([Inbound("acme", os.urandom(2000), f"k{n}") for _ in range(10)])
    size = path.stat().st_size
    assert size > 16 * 4096
    with path.open("r+b") as f:  # overwrite pages in the middle of the file, keep the header
        f.seek(size // 2)
        f.write(b"\xff" * 3 * 4096)
    message = await _open_fails(url_of(path))
    assert "corrupt" in message or "malformed" in message


async def test_a_directory_is_refused(tmp_path: Path) -> None:
    message = await _open_fails(url_of(tmp_path))
    assert "directory" in message


@pytest.mark.parametrize(
    "where",
    [
        "missing-dir/events.db",  # the parent directory does not exist
        "a-file/events.db",  # the parent is a file
    ],
)
async def test_an_unusable_path_is_refused(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("x")
    message = await _open_fails(url_of(tmp_path / where))
    assert "does not exist" in message


async def test_an_unwritable_location_is_refused(tmp_path: Path) -> None:
    # /proc/self is a directory nobody can create files in, root included.
    message = await _open_fails("sqlite:////proc/self/eventkit-events.db")
    assert "cannot be opened" in message


async def test_a_read_only_file_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only files: the /proc case covers an unwritable path")
    path = tmp_path / "ro.db"
    async with open_store(url_of(path)):
        pass
    path.chmod(0o444)
    await _open_fails(url_of(path))


async def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.close()
    message = await _open_fails(url_of(path))
    assert "something else" in message


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    async with open_store(url_of(path)):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    message = await _open_fails(url_of(path))
    assert "schema version" in message


# URL forms


def test_relative_and_absolute_paths(tmp_path: Path) -> None:
    relative = SqliteStore.from_url("sqlite:///data/events.db?synchronous=normal")
    assert (relative.path, relative.synchronous) == ("data/events.db", "normal")
    absolute = SqliteStore.from_url(f"sqlite:///{tmp_path}/e.db")
    assert absolute.path == f"{tmp_path}/e.db" and absolute.path.startswith("/")
    assert absolute.synchronous == "full"
    assert SqliteStore.from_url("sqlite:///my%20events.db").path == "my events.db"


async def test_a_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:///rel.db") as store:
        await store.append([Inbound("acme", b"x")])
    assert (tmp_path / "rel.db").is_file()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite://host/events.db",
        "sqlite:///:memory:",
        "sqlite:///e.db?synchronous=off",
        "sqlite:///e.db?check=never",
        "sqlite:///e.db?poll_interval=0",
        "sqlite:///e.db?busy_timeout=nan",
    ],
)
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(StoreSettingsError):
        open_store(url)


async def test_a_waiting_read_polls_instead_of_spinning(tmp_path: Path) -> None:
    async with SqliteStore.from_url(url_of(tmp_path / "poll.db", poll_interval="0.25")) as store:
        assert isinstance(store, SqliteStore)
        before = store.commits
        assert await store.read("g", "c", timeout=0.6) == []
        # One transaction per poll (about 3 here); a busy loop would run hundreds.
        assert store.commits - before <= 10
