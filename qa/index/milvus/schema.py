"""The collections of one index: ``NAME_vB`` holds the passages (made by build B, or its first
full build), ``NAME_meta`` the key-value rows beside them (versions, statistics, entities).

Passages: one row a passage, ``row`` its primary key (a full build numbers them 0..n-1 as the
files do), ``added``/``removed`` the builds that added and replaced it, the document's metadata
copied in (``""`` and ``-1`` stand for none: Milvus Lite has no nullable fields), the dense
vector, BM25 as a sparse vector and, when the index has them, the multilingual vector.
"""

from __future__ import annotations

from dataclasses import dataclass

TEXT = 65535  # Milvus's longest VARCHAR (bytes)
STRING_FIELDS = {"doc_id": 1024, "chunk_id": 2048, "fp": 80, "key": 80, "text": TEXT, "text_lc": TEXT,
                 "sentences": TEXT, "speakers": TEXT, "speakers_lc": TEXT, "title": 4096, "source": 1024,
                 "date": 32, "path": 4096, "language": 32, "url": 4096}
INT_FIELDS = ("added", "removed", "start_char", "end_char", "year_hint", "tokens_n")
SCALARS = ["row", *INT_FIELDS, *STRING_FIELDS]  # what a passage read returns (no vectors)
META_VALUE = 60000  # characters of a meta value (base64 or JSON, ASCII)


@dataclass(frozen=True)
class Shape:
    """What a passages collection holds: dense dimension, sparse BM25, multilingual dimension."""

    dim: int
    sparse: bool = True
    ml_dim: int | None = None

    @classmethod
    def of(cls, manifest: dict) -> Shape:
        ml = manifest.get("multilingual") or {}
        return cls(int(manifest["model"]["dim"]), bool(manifest.get("milvus", {}).get("sparse", True)),
                   int(ml["dim"]) if ml else None)


def passages_name(base: str, build: int) -> str:
    return f"{base}_v{int(build)}"


def meta_name(base: str) -> str:
    return f"{base}_meta"


def create_passages(client, module, name: str, shape: Shape, timeout: float) -> None:
    """Create (and load) the passages collection ``name``."""
    dt = module.DataType
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", dt.INT64, is_primary=True)
    for f in INT_FIELDS:
        schema.add_field(f, dt.INT64)
    for f, size in STRING_FIELDS.items():
        schema.add_field(f, dt.VARCHAR, max_length=size)
    schema.add_field("dense", dt.FLOAT_VECTOR, dim=shape.dim)
    index = client.prepare_index_params()
    index.add_index("dense", index_type="FLAT", metric_type="IP")
    if shape.sparse:
        schema.add_field("sparse", dt.SPARSE_FLOAT_VECTOR)
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    if shape.ml_dim:
        schema.add_field("dense_ml", dt.FLOAT_VECTOR, dim=shape.ml_dim)
        index.add_index("dense_ml", index_type="FLAT", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong", timeout=timeout)


def create_meta(client, module, name: str, timeout: float) -> None:
    """Create (and load) the key-value collection ``name`` (Milvus wants a vector in every
    collection: a 2-d zero vector nobody searches)."""
    dt = module.DataType
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", dt.VARCHAR, is_primary=True, max_length=512)
    schema.add_field("value", dt.VARCHAR, max_length=TEXT)
    schema.add_field("vec", dt.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("vec", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong", timeout=timeout)


def too_long(row: dict) -> str | None:
    """The first string field of ``row`` longer than its column, or None."""
    for f, size in STRING_FIELDS.items():
        if len(row[f].encode("utf-8")) > size:
            return f
    return None
