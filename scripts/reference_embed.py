#!/usr/bin/env python3
"""Reference embeddings computed independently of Strato: Python onnxruntime + tokenizers on the
same model files, same truncation (model max tokens), same pooling, L2-normalised.

Usage: reference_embed.py MODEL_DIR POOLING TEXT [TEXT ...]  -> JSON {"data": [[...], ...]} on stdout.
Each text runs alone (batch of one), so padding plays no part in the reference.
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main() -> None:
    model_dir, pooling, texts = sys.argv[1], sys.argv[2], sys.argv[3:]
    manifest = json.load(open(f"{model_dir}/strato-model.json"))
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(manifest["max_tokens"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(f"{model_dir}/model.onnx", opts, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}
    out = []
    for text in texts:
        enc = tok.encode(text)
        feeds = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        feeds = {k: v for k, v in feeds.items() if k in wanted}
        hidden = sess.run([manifest.get("output", "last_hidden_state")], feeds)[0][0].astype(np.float64)
        mask = np.array(enc.attention_mask, dtype=np.float64)[:, None]
        vec = hidden[0] if pooling == "cls" else (hidden * mask).sum(0) / mask.sum()
        vec = vec / np.linalg.norm(vec)
        out.append([float(x) for x in vec.astype(np.float32)])
    json.dump({"data": out}, sys.stdout)


if __name__ == "__main__":
    main()
