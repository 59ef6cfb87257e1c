"""Engines run the same stage functions (:func:`~mmdata.recipe.merge.merge_groups`,
:func:`~mmdata.recipe.render.render_items`) either in-process (``local``, the default) or on Ray Data
(``ray``), with identical results: work is split along group boundaries / item positions and the
outputs are re-ordered by position, so partitioning never shows in the mixture. A part is an Arrow
table, a polars frame, or a function of no arguments that returns one (the local engine calls it in
the thread that runs the part, so reading a part's input runs in parallel too; Ray's driver calls it,
and its blocks are Arrow tables).
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path
from typing import Literal, get_args

import polars as pl
import pyarrow as pa

from mmdata.errors import MmdataError


class LocalEngine:
    """Runs a stage function over its parts in this process, ``threads`` parts at a time (the stage
    functions spend their time in polars, Arrow and NumPy, which release the GIL: two parts in two
    threads render in about half the time of one after the other on two cores)."""

    name = "local"

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, threads)

    def map_tables(self, fn: Callable[..., pa.Table | dict], parts: list[pa.Table], part_kwargs: list[Callable[[], dict]] | None = None,
                   **kwargs) -> list:  # fmt: skip
        return list(self.imap_tables(fn, parts, part_kwargs, **kwargs))

    def imap_tables(self, fn: Callable[..., pa.Table | dict], parts: Iterable[pa.Table], part_kwargs: list[Callable[[], dict]] | None = None,
                    **kwargs):  # fmt: skip
        """Results one by one, in part order (lets callers stream them to disk). ``part_kwargs[k]()``:
        more keyword arguments for part ``k`` only, loaded by the task that runs part ``k``. At most
        ``threads`` parts are in flight (their arguments and results held) beyond the one the caller
        holds; ``parts`` is drawn from as tasks start, so a generator is cut lazily."""

        def task(k: int, p):
            extra = part_kwargs[k]() if part_kwargs else {}
            return fn(p() if callable(p) else p, **kwargs, **extra)

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="mmdata-part") as pool:
            todo = enumerate(parts)
            running = deque(pool.submit(task, k, p) for k, p in islice(todo, self.threads))
            try:
                while running:
                    result = running.popleft().result()
                    for k, p in islice(todo, 1):
                        running.append(pool.submit(task, k, p))
                    yield result
                    del result
            finally:
                for f in running:  # a failed part (or a caller that stops early): start nothing more
                    f.cancel()

    def close(self) -> None:
        pass


class RayEngine:
    """Ray Data: each part becomes a block; the stage function runs in Ray workers via ``map_batches``.

    With ``address`` (or ``RAY_ADDRESS``) the engine joins that cluster and uses its CPUs. Otherwise it
    starts a private local instance: every service bound to 127.0.0.1, the dashboard off, its files in
    a fresh 0700 temporary directory (under ``MMDATA_RAY_TMP`` if set; removed on close), as many CPUs as
    this machine has. Ray's token authentication stays on (its default)."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, temp_dir: str | None = None) -> None:
        address = address or os.environ.get("RAY_ADDRESS") or None
        self._env = {k: os.environ.get(k) for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE")}  # restored on close
        host = (address or "").split("://")[-1].rsplit(":", 1)[0]
        if not address or host in ("127.0.0.1", "localhost", "::1", "[::1]"):
            # Ray binds its servers to (and rewrites loopback addresses into) the node's IP unless it runs
            # as a single-machine cluster: with this set (read when ray is imported) everything stays on loopback
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        token = os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or (Path.home() / ".ray" / "auth_token").is_file()
        if address and token:
            os.environ.setdefault("RAY_AUTH_MODE", "token")  # the cluster's token authentication (Ray's default for `ray start`)
        try:
            import ray
        except ImportError:
            raise MmdataError("the ray engine needs the optional extra: pip install 'mmdata[ray]'") from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        self._tmp = None
        if self._owns:
            if address:
                try:
                    ray.init(address=address, log_to_driver=False, configure_logging=False)
                except (ConnectionError, RuntimeError, ValueError) as e:
                    raise MmdataError(f"cannot join the Ray cluster at {address!r}: {str(e).splitlines()[0]}") from None
            else:
                # Ray's socket paths must stay under 108 bytes: a short parent (MMDATA_RAY_TMP, or /tmp)
                self._tmp = temp_dir or tempfile.mkdtemp(prefix="mmdata-ray-", dir=os.environ.get("MMDATA_RAY_TMP"))
                os.chmod(self._tmp, 0o700)
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, _temp_dir=self._tmp,
                         _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)  # fmt: skip
                os.chmod(self._tmp, 0o700)  # Ray opens its temp dir to everyone (0777); nothing under it is for others
        self.cpus = int(ray.cluster_resources().get("CPU", 1))

    def map_tables(self, fn: Callable[..., pa.Table | dict], parts: list[pa.Table], part_kwargs: list[Callable[[], dict]] | None = None,
                   **kwargs) -> list:  # fmt: skip
        """As :meth:`LocalEngine.map_tables`; each part's own keyword arguments go into the object store."""
        import ray

        parts = [p() if callable(p) else p for p in parts]
        parts = [p.to_arrow() if isinstance(p, pl.DataFrame) else p for p in parts]  # blocks are Arrow tables
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        # a block per part, each tagged with its part number so results can be put back in order
        tagged = [p.append_column("_part", pa.array([k] * p.num_rows, pa.int64())) for k, p in enumerate(parts) if p.num_rows]
        if not tagged:
            return []
        ds = ray.data.from_arrow(tagged)
        shared = ray.put(kwargs)
        own = {k: ray.put(part_kwargs[k]()) for k, p in enumerate(parts) if p.num_rows} if part_kwargs else {}

        def run(batch: pa.Table) -> pa.Table:
            part = batch.column("_part")[0].as_py()
            kw = {**ray.get(shared), **(ray.get(own[part]) if own else {})}
            out = fn(batch.drop_columns(["_part"]), **kw)
            tables = out if isinstance(out, dict) else {"out": out}
            # pack every output table into one serialised row so heterogeneous outputs travel together
            import pyarrow.ipc as ipc

            payload = {}
            for name, t in tables.items():
                sink = pa.BufferOutputStream()
                with ipc.new_stream(sink, t.schema) as w:
                    w.write_table(t)
                payload[name] = sink.getvalue().to_pybytes()
            return pa.table({"_part": [part], "names": [list(payload)], "blobs": [list(payload.values())]})

        import warnings

        with warnings.catch_warnings():
            # Ray Data retries map tasks forever by default; a failing stage must fail the build instead.
            # Retries go through the (deprecated) free-form remote args: there is no named parameter yet.
            warnings.simplefilter("ignore", DeprecationWarning)
            mapped = ds.map_batches(run, batch_format="pyarrow", batch_size=None, zero_copy_batch=True, max_retries=0)
        res = mapped.take_all()
        import pyarrow.ipc as ipc

        by_part = {}
        if len(res) != len(tagged):
            raise MmdataError(f"ray engine: {len(tagged)} parts in, {len(res)} results out (a block was split or lost)")
        for r in res:
            tables = {n: ipc.open_stream(b).read_all() for n, b in zip(r["names"], r["blobs"], strict=True)}
            by_part[r["_part"]] = tables if list(tables) != ["out"] else tables["out"]
        return [by_part[k] for k in sorted(by_part)]

    def imap_tables(self, fn: Callable[..., pa.Table | dict], parts: list[pa.Table], part_kwargs: list[Callable[[], dict]] | None = None,
                    **kwargs):  # fmt: skip
        yield from self.map_tables(fn, parts, part_kwargs, **kwargs)

    def close(self) -> None:
        for k, v in self._env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self._owns:
            self._ray.shutdown()
            if self._tmp and not os.environ.get("MMDATA_RAY_KEEP_TMP"):
                import shutil

                shutil.rmtree(self._tmp, ignore_errors=True)


EngineName = Literal["local", "ray"]
ENGINES: tuple[str, ...] = get_args(EngineName)


def get_engine(name: str, *, address: str | None = None, threads: int = 1):
    """``threads``: parts the local engine runs at the same time (Ray schedules its own)."""
    if name == "local":
        return LocalEngine(threads)
    if name == "ray":
        return RayEngine(address=address)
    raise MmdataError(f"unknown engine {name!r}; choose local or ray")
