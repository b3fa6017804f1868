"""``qa index --ray``: the build's embedding and annotation as Ray Data pipelines (the ``[scale]`` extra).

The driver (the machine running ``qa index``) reads, hashes and chunks the articles, as it must to
plan the build; the texts its embedding cache lacks go through ``map_batches`` to encoder actors
(the ONNX model, one actor per CPU of the cluster), and the documents to annotate to spaCy actors.
Results stream back into the driver's embedding cache a batch at a time (a build that dies keeps
what arrived) and into the annotations' memo; then the ordinary build writes the chosen backend,
finding every vector in the cache. An encoder gives the same vector for a text whatever batch it
is in, so the vectors are those of the single-process build.

``address``: ``""`` starts a local Ray runtime (``QA_RAY_CPUS`` CPUs, default all), else
``host:port`` of a running cluster (``RAY_ADDRESS`` when ``--ray`` is given no address).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from embeddings.cache import EmbeddingCache, text_key
from embeddings.model import Encoder
from embeddings.token_index import Quantized
from qa.errors import ClusterError, MissingExtra
from qa.index import annotate
from qa.index.chunking import document_sentences, normalize_ws
from qa.ingest.corpus import Document

log = logging.getLogger(__name__)

INSTALL = "pip install 'news-qa[scale]'"
BATCH = 32  # texts an encoder actor encodes at a time (the single-process build's batch)
RETRIES = 2  # a worker that dies is replaced and its batch retried this often (Ray Data's default: forever)


def _ray():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import ray
            import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(f"--ray needs Ray: {INSTALL}") from exc
    return ray


def _fail(what: str, exc: BaseException) -> ClusterError:
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return ClusterError(f"{what}: {first[:300]}; the index that answers is unchanged, and `qa index --ray` "
                        "again finishes the build (what was embedded is cached)")


class _Runtime:
    """A connection to Ray for one build: a local runtime started (and stopped) here, or a cluster."""

    def __init__(self, address: str) -> None:
        self.ray = _ray()
        self.address = address or os.environ.get("RAY_ADDRESS", "")
        if self.address.startswith("ray://"):
            raise ClusterError(f"--ray {self.address}: give the cluster's host:port (Ray Client addresses "
                               "do not run Ray Data pipelines)")
        self.started = False

    def __enter__(self) -> _Runtime:
        if self.ray.is_initialized():
            return self
        kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        try:
            if self.address:
                self.ray.init(address=self.address, **kwargs)
            else:
                cpus = int(os.environ.get("QA_RAY_CPUS") or os.cpu_count() or 1)
                if not os.environ.get("RAY_AUTH_TOKEN_PATH"):
                    # Ray 2.60 authenticates its processes with a token, read once a process from
                    # ~/.ray: a later runtime (another HOME) could not find it. One token for the
                    # process's local runtimes, in the environment they inherit; ~/.ray untouched.
                    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
                # Ray waits 30 s for its GCS to start; a busy 2-core machine (load 6) took longer.
                os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "120")
                path = os.pathsep.join(p for p in sys.path if p)  # local workers import what the driver does
                self.ray.init(num_cpus=cpus, object_store_memory=256 * 1024**2,
                              runtime_env={"env_vars": {"PYTHONPATH": path}}, **kwargs)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError...
            raise _fail(f"cannot start or reach Ray at {self.address or 'a local runtime'}", exc) from None
        self.started = True
        ctx = self.ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.ray.shutdown()

    def cpus(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))


class _Encode:
    """Ray actor: encodes batches of texts (vectors and, when asked, token states as bytes)."""

    def __init__(self, make: Callable[[], Encoder], tokens: bool) -> None:
        self.encoder = make()
        self.tokens = tokens and getattr(self.encoder, "token_states", False)

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        out = {"key": batch["key"]}
        if self.tokens:
            vecs, states = self.encoder.encode_tokens(texts, batch_size=BATCH)
            q = [Quantized.of(s) for s in states]
            out["ids"] = np.array([x.ids.astype(np.int32).tobytes() for x in q], dtype=object)
            out["q"] = np.array([x.q.astype(np.int8).tobytes() for x in q], dtype=object)
            out["scale"] = np.array([x.scale.astype(np.float16).tobytes() for x in q], dtype=object)
        else:
            vecs = self.encoder.encode(texts, batch_size=BATCH)
        out["vec"] = np.asarray(vecs, np.float32)
        return out


class _Annotate:
    """Ray actor: parses documents' sentences (spaCy), one document a row."""

    def __call__(self, batch: dict) -> dict:
        found = [annotate.analyse(json.loads(s)) for s in batch["sentences"]]
        return {"key": batch["key"], "analysis": np.array(
            [json.dumps({"entities": a.entities, "speakers": a.speakers}) for a in found], dtype=object)}


@contextmanager
def _pinned_api() -> Iterator[None]:
    """Ray 2.60 (pinned) takes retry limits only as remote args, which it warns 2.64 removes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        yield


def _load_main() -> Encoder:
    from embeddings.model import load_encoder

    return load_encoder(threads=1)


def _load_multilingual() -> Encoder:
    from embeddings.multilingual import MultilingualEncoder

    return MultilingualEncoder(threads=1)


def precompute(address: str, texts: list[str], caches: tuple[Path, Path | None], want_tokens: bool,
               docs: list[Document], encoder: Encoder | None = None, progress: bool = False) -> None:
    """On Ray: encode the ``texts`` the caches lack (main model, and the multilingual one when its
    cache is given) into the caches, and annotate ``docs`` into the annotations' memo."""
    main_cache, ml_cache = caches
    with _Runtime(address) as rt:
        try:
            n = rt.cpus()
            _encode(rt.ray, texts, main_cache, (lambda: encoder) if encoder is not None else _load_main,
                    want_tokens, n)
            if ml_cache is not None:
                _encode(rt.ray, texts, ml_cache, _load_multilingual, False, n)
            if docs and annotate.available():
                _annotate(rt.ray, docs, n)
        except (ClusterError, MissingExtra):
            raise
        except Exception as exc:  # noqa: BLE001 - RayTaskError, ActorDiedError, ObjectLostError...
            if not (type(exc).__module__ or "").startswith("ray"):
                raise
            raise _fail("the Ray build failed", exc) from None


def _encode(ray, texts: list[str], cache_path: Path, make: Callable[[], Encoder], tokens: bool, actors: int) -> None:
    keys = [text_key(t) for t in texts]
    probe = EmbeddingCache(cache_path, 1)
    try:
        have = probe.present(keys, tokens)
    finally:
        probe.close()
    todo = dict((k, t) for k, t in zip(keys, texts) if k not in have)
    if not todo:
        return
    log.info("ray: encoding %d texts on %d actors", len(todo), actors)
    ds = ray.data.from_items([{"key": k, "text": t} for k, t in todo.items()])
    with _pinned_api():
        out = ds.map_batches(_Encode, fn_constructor_args=(make, tokens), batch_size=BATCH, batch_format="numpy",
                             concurrency=min(actors, max(1, len(todo) // BATCH)), num_cpus=1,
                             max_restarts=RETRIES, max_task_retries=RETRIES)
    cache = None
    try:
        for batch in out.iter_batches(batch_size=256, batch_format="numpy"):
            vecs = np.asarray(batch["vec"], np.float32)
            if cache is None:
                cache = EmbeddingCache(cache_path, vecs.shape[1])
            cache.put_many({str(k): v for k, v in zip(batch["key"], vecs)})
            if "ids" in batch:
                dim = vecs.shape[1]
                cache.put_tokens({str(k): Quantized(np.frombuffer(i, np.int32),
                                                    np.frombuffer(q, np.int8).reshape(-1, dim),
                                                    np.frombuffer(s, np.float16))
                                  for k, i, q, s in zip(batch["key"], batch["ids"], batch["q"], batch["scale"])})
    finally:
        if cache is not None:
            cache.close()


def _annotate(ray, docs: list[Document], actors: int) -> None:
    items = []
    for d in docs:
        sentences = [normalize_ws(d.text[a:b]) for section in document_sentences(d) for a, b in section]
        items.append({"key": annotate.document_key(sentences), "sentences": json.dumps(sentences)})
    ds = ray.data.from_items(items)
    with _pinned_api():
        out = ds.map_batches(_Annotate, batch_size=4, batch_format="numpy", num_cpus=1,
                             concurrency=min(actors, max(1, len(items) // 4)), max_restarts=RETRIES,
                             max_task_retries=RETRIES)
    found = {}
    for batch in out.iter_batches(batch_size=64, batch_format="numpy"):
        for k, a in zip(batch["key"], batch["analysis"]):
            got = json.loads(a)
            found[str(k)] = annotate.Analysis([[tuple(e) for e in s] for s in got["entities"]], got["speakers"])
    annotate.preload(found)
