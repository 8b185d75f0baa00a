#!/usr/bin/env python3
"""Small stand-ins for the newer Workers AI embedding families, and an independent reference of
each family's documented recipe (no real weights can be had here; the recipes are what differ).

  model_families.py build OUT_DIR [TOKENIZERS_DIR]
      Writes three model directories laid out as their public exports are (sentence-transformers
      files beside an ONNX graph and a tokenizer.json), with random weights (fixed seed):
        bge-m3/          XLM-R style: Unigram (SentencePiece) tokenizer, "<s> $A </s>"; graph inputs
                         input_ids, attention_mask; output token_embeddings; CLS pooling, Normalize.
        embeddinggemma/  Gemma style: byte-fallback BPE, "<bos> $A <eos>"; output last_hidden_state;
                         mean pooling, 2_Dense and 3_Dense (safetensors `linear.weight`), Normalize;
                         prompts; Matryoshka dims; the graph saved with external data (model.onnx_data).
        qwen3/           Qwen style: byte-level BPE, "$A <|endoftext|>"; inputs input_ids,
                         attention_mask, position_ids, past_key_values.0.{key,value}; output
                         last_hidden_state; last-token pooling with LEFT padding; an instruction
                         prompt for queries; Matryoshka dims.
      and two variants the exports ship beside the float graph: bge-m3-int8/ (onnxruntime's
      dynamic quantization, model_quantized.onnx) and qwen3-fp16/ (model_fp16.onnx: float16
      weights, cache inputs and output).
      With TOKENIZERS_DIR (provision.sh --tokenizers), also qwen3-real-tokenizer/ and
      embeddinggemma-real-tokenizer/: the same recipes on the real tokenizers registries ship.
      Each graph mixes every token with the others (bidirectionally, or causally for Qwen), so the
      pooled vector depends on padding, masking and pooling being right.

  model_families.py build-attention OUT_DIR HIDDEN MAX_TOKENS
      A one-layer softmax self-attention stand-in and a word-level tokenizer (a word is a token),
      for the long-input benchmark (`./strato bench embedder`, BENCH_LONG=1).

  model_families.py reference MODEL_DIR JSON
      JSON = {"texts": [...], "prompt_name": str|null, "dimensions": int|null}. Embeds the texts
      as sentence-transformers would: prompt prepended, tokenized with truncation at
      max_seq_length, padded on the tokenizer's side (left for Qwen), the whole batch in one run,
      pooled per 1_Pooling/config.json, each Dense layer applied, L2-normalised, then cut to
      `dimensions` and re-normalised (Matryoshka). Prints {"data": [[...], ...]}.
"""
import json
import os
import shutil
import sys

import numpy as np

SEED = 20261207
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Stock markets fell sharply on Monday after the announcement.",
    "Whales sing to each other across whole oceans.",
    "How to repair a flat bicycle tyre at the side of the road",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le renard brun rapide saute par-dessus le chien paresseux.",
    "敏捷的棕色狐狸跳过了懒狗。 素早い茶色の狐。",
    "task: search result | query: title: none | text: Instruct: Given a web search query, retrieve relevant passages",
    "numbers 0123456789 and symbols !?.,;:'\"()[]{}<>@#$%^&*-+=/\\|~`",
]


# ------------------------------------------------------------------------------------------------
# build
# ------------------------------------------------------------------------------------------------

def tokenizer_unigram():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, processors, trainers
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>", shrinking_factor=0.75)
    tok.train_from_iterator(CORPUS * 3, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return tok


def tokenizer_gemma():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, processors, trainers
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"] + [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 1)])
    return tok


def tokenizer_qwen():
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, trainers, normalizers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer)
    eot = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", eot)])
    return tok


def graph(name, vocab, hidden, output, causal, extra_inputs, fp16=False):
    """Embedding lookup, then every token mixed with the (masked) mean of the others: over all
    real tokens, or over those up to it (causal). Pads never reach a real token's state. With
    fp16, every float in the graph is half precision (weights, state, cache inputs, output), as in
    the `model_fp16.onnx` exports; onnxruntime's CPU provider runs it by casting where it lacks a
    half kernel."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    dt, ft = (np.float16, TensorProto.FLOAT16) if fp16 else (np.float32, TensorProto.FLOAT)
    rng = np.random.default_rng(SEED + hidden + vocab)
    E = rng.normal(0, 1, (vocab, hidden)).astype(dt)
    W1 = rng.normal(0, 1 / np.sqrt(hidden), (hidden, hidden)).astype(dt)
    W2 = rng.normal(0, 1 / np.sqrt(hidden), (hidden, hidden)).astype(dt)
    B1 = rng.normal(0, 0.1, (hidden,)).astype(dt)
    inits = [numpy_helper.from_array(a, n) for a, n in [(E, "E"), (W1, "W1"), (W2, "W2"), (B1, "B1")]]
    inits += [numpy_helper.from_array(np.array(v, dtype=np.int64), n) for v, n in [([1], "ax1"), ([2], "ax2"), (1, "ax1s")]]
    # A count is 0 only at a pad position; half's smallest normal keeps the division finite.
    inits.append(numpy_helper.from_array(np.array(1e-4 if fp16 else 1e-9, dtype=dt), "eps"))
    inits.append(numpy_helper.from_array(np.array(0.0, dtype=dt), "zero"))
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=ft),
        helper.make_node("Unsqueeze", ["maskf", "ax2"], ["m"]),
        helper.make_node("Mul", ["emb", "m"], ["em"]),
    ]
    if causal:
        nodes += [
            helper.make_node("CumSum", ["em", "ax1s"], ["s"]),
            helper.make_node("CumSum", ["m", "ax1s"], ["c"]),
        ]
    else:
        nodes += [
            helper.make_node("ReduceSum", ["em", "ax1"], ["s"], keepdims=1),
            helper.make_node("ReduceSum", ["m", "ax1"], ["c"], keepdims=1),
        ]
    nodes += [
        helper.make_node("Max", ["c", "eps"], ["c1"]),
        helper.make_node("Div", ["s", "c1"], ["ctx"]),
        helper.make_node("MatMul", ["emb", "W1"], ["a"]),
        helper.make_node("MatMul", ["ctx", "W2"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["ab"]),
        helper.make_node("Add", ["ab", "B1"], ["pre"]),
    ]
    last = "pre"
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])]
    # Inputs a causal LM export declares: used only as zeros, as the real model's state does not
    # move with a constant shift of positions (RoPE) and the cache is empty.
    for inp in extra_inputs:
        if inp == "position_ids":
            inputs.append(helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "seq"]))
            nodes += [helper.make_node("Cast", ["position_ids"], ["posf"], to=ft),
                      helper.make_node("Mul", ["posf", "zero"], ["pos0"]),
                      helper.make_node("Unsqueeze", ["pos0", "ax2"], ["pos1"]),
                      helper.make_node("Add", [last, "pos1"], ["with_pos"])]
            last = "with_pos"
        else:
            inputs.append(helper.make_tensor_value_info(inp, ft, ["batch", 2, "past", 4]))
            r = inp.replace(".", "_")
            nodes += [helper.make_node("ReduceSum", [inp], [r + "_sum"], keepdims=0),
                      helper.make_node("Mul", [r + "_sum", "zero"], [r + "_0"]),
                      helper.make_node("Add", [last, r + "_0"], [r + "_out"])]
            last = r + "_out"
    nodes.append(helper.make_node("Tanh", [last], [output]))
    used = {i for n in nodes for i in n.input}
    inits = [t for t in inits if t.name in used]
    g = helper.make_graph(nodes, name, inputs, [helper.make_tensor_value_info(output, ft, ["batch", "seq", hidden])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="strato-model-families")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)


def copy_files(src, dst, names):
    """A variant's directory: the same export files beside its own graph."""
    for f in names:
        os.makedirs(os.path.dirname(os.path.join(dst, f)), exist_ok=True)
        shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))


def pooling_config(hidden, mode):
    flags = {f"pooling_mode_{k}": False for k in ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken"]}
    flags[f"pooling_mode_{mode}"] = True
    return {"word_embedding_dimension": hidden, **flags, "include_prompt": True}


def modules(*extra):
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    for path in extra:
        kind = "Normalize" if path.endswith("Normalize") else "Dense"
        mods.append({"idx": len(mods), "name": str(len(mods)), "path": path, "type": f"sentence_transformers.models.{kind}"})
    return mods


def build(out):
    import onnx
    from safetensors.numpy import save_file

    # bge-m3: CLS pooling, Normalize, 8192 tokens in the real model (64 here, to test truncation).
    d = os.path.join(out, "bge-m3")
    os.makedirs(d, exist_ok=True)
    tok = tokenizer_unigram()
    tok.save(os.path.join(d, "tokenizer.json"))
    onnx.save(graph("bge-m3", tok.get_vocab_size(), 48, "token_embeddings", False, []), os.path.join(d, "model.onnx"))
    write_json(os.path.join(d, "modules.json"), modules("2_Normalize"))
    write_json(os.path.join(d, "1_Pooling/config.json"), pooling_config(48, "cls_token"))
    write_json(os.path.join(d, "sentence_bert_config.json"), {"max_seq_length": 64, "do_lower_case": False})
    write_json(os.path.join(d, "config_sentence_transformers.json"), {"__version__": {"sentence_transformers": "2.2.2"}})
    write_json(os.path.join(d, "tokenizer_config.json"), {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 8192})
    write_json(os.path.join(d, "strato-model.json"), {"name": "@strato/test-bge-m3", "dimensions": 48, "max_tokens": 64, "output": "token_embeddings"})
    # The int8 variant exports ship beside the float graph (model_quantized.onnx): quantized by
    # onnxruntime's own dynamic quantizer, named by the manifest, served from its own directory.
    from onnxruntime.quantization import QuantType, quantize_dynamic
    q = os.path.join(out, "bge-m3-int8")
    os.makedirs(q, exist_ok=True)
    copy_files(d, q, ["tokenizer.json", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "tokenizer_config.json", "1_Pooling/config.json"])
    quantize_dynamic(os.path.join(d, "model.onnx"), os.path.join(q, "model_quantized.onnx"), weight_type=QuantType.QInt8)
    write_json(os.path.join(q, "strato-model.json"), {"name": "@strato/test-bge-m3-int8", "dimensions": 48, "max_tokens": 64,
                                                      "output": "token_embeddings", "onnx": "model_quantized.onnx"})

    # EmbeddingGemma: mean pooling, two Dense layers (no bias, identity), Normalize, prompts,
    # Matryoshka; external data.
    d = os.path.join(out, "embeddinggemma")
    os.makedirs(d, exist_ok=True)
    tok = tokenizer_gemma()
    tok.save(os.path.join(d, "tokenizer.json"))
    m = graph("embeddinggemma", tok.get_vocab_size(), 64, "last_hidden_state", False, [])
    onnx.save(m, os.path.join(d, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=1024)
    rng = np.random.default_rng(SEED + 1)
    for path, (i, o) in [("2_Dense", (64, 192)), ("3_Dense", (192, 64))]:
        write_json(os.path.join(d, path, "config.json"), {"in_features": i, "out_features": o, "bias": False, "activation_function": "torch.nn.modules.linear.Identity"})
        save_file({"linear.weight": rng.normal(0, 1 / np.sqrt(i), (o, i)).astype(np.float32)}, os.path.join(d, path, "model.safetensors"))
    write_json(os.path.join(d, "modules.json"), modules("2_Dense", "3_Dense", "4_Normalize"))
    write_json(os.path.join(d, "1_Pooling/config.json"), pooling_config(64, "mean_tokens"))
    write_json(os.path.join(d, "sentence_bert_config.json"), {"max_seq_length": 48, "do_lower_case": False})
    write_json(os.path.join(d, "config_sentence_transformers.json"), {
        "prompts": {"query": "task: search result | query: ", "document": "title: none | text: ",
                    "Clustering": "task: clustering | query: ", "STS": "task: sentence similarity | query: "},
        "default_prompt_name": None, "similarity_fn_name": "cosine"})
    write_json(os.path.join(d, "tokenizer_config.json"), {"tokenizer_class": "GemmaTokenizer", "padding_side": "right"})
    write_json(os.path.join(d, "strato-model.json"), {"name": "@strato/test-embeddinggemma", "dimensions": 64, "max_tokens": 48,
                                                      "output": "last_hidden_state", "matryoshka_dims": [64, 32, 16]})

    # Qwen3-Embedding: last-token pooling, left padding, a query instruction, an LM's inputs.
    d = os.path.join(out, "qwen3")
    os.makedirs(d, exist_ok=True)
    tok = tokenizer_qwen()
    tok.save(os.path.join(d, "tokenizer.json"))
    extra = ["position_ids", "past_key_values.0.key", "past_key_values.0.value"]
    onnx.save(graph("qwen3", tok.get_vocab_size(), 32, "last_hidden_state", True, extra), os.path.join(d, "model.onnx"))
    write_json(os.path.join(d, "modules.json"), modules("2_Normalize"))
    write_json(os.path.join(d, "1_Pooling/config.json"), pooling_config(32, "lasttoken"))
    write_json(os.path.join(d, "config_sentence_transformers.json"), {
        "prompts": {"query": "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:", "document": ""},
        "default_prompt_name": None, "similarity_fn_name": "cosine"})
    write_json(os.path.join(d, "tokenizer_config.json"), {"tokenizer_class": "Qwen2Tokenizer", "padding_side": "left", "pad_token": "<|endoftext|>"})
    write_json(os.path.join(d, "strato-model.json"), {"name": "@strato/test-qwen3-embedding", "dimensions": 32, "max_tokens": 40,
                                                      "output": "last_hidden_state", "matryoshka_dims": [32, 16]})
    # Its fp16 variant (`model_fp16.onnx` beside the float graph, as onnx-community ships it):
    # float16 weights, cache inputs and output.
    q = os.path.join(out, "qwen3-fp16")
    os.makedirs(q, exist_ok=True)
    copy_files(d, q, ["tokenizer.json", "modules.json", "config_sentence_transformers.json", "tokenizer_config.json", "1_Pooling/config.json"])
    onnx.save(graph("qwen3", tok.get_vocab_size(), 32, "last_hidden_state", True, extra, fp16=True), os.path.join(q, "model_fp16.onnx"))
    write_json(os.path.join(q, "strato-model.json"), {"name": "@strato/test-qwen3-embedding-fp16", "dimensions": 32, "max_tokens": 40,
                                                      "output": "last_hidden_state", "onnx": "model_fp16.onnx", "matryoshka_dims": [32, 16]})


def build_attention(out, hidden, max_tokens):
    """A benchmark stand-in for long inputs: one layer of real softmax self-attention (scores
    [seq, seq], masked) of width `hidden`, and a word-level tokenizer where a word is a token, so
    a text's token count is exact. Attention is what grows with the square of the length."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers
    d = os.path.join(out, "attention")
    os.makedirs(d, exist_ok=True)
    words = [f"w{i}" for i in range(500)]
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(os.path.join(d, "tokenizer.json"))
    rng = np.random.default_rng(SEED)
    arr = lambda *shape: rng.normal(0, 1 / np.sqrt(shape[0]), shape).astype(np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(a, n) for a, n in [(arr(len(words) + 1, hidden), "E"), (arr(hidden, hidden), "Wq"), (arr(hidden, hidden), "Wk"),
                                                         (arr(hidden, hidden), "Wv"), (np.array(1 / np.sqrt(hidden), dtype=np.float32), "scale"),
                                                         (np.array(-1e4, dtype=np.float32), "neg"), (np.array(1.0, dtype=np.float32), "one"),
                                                         (np.array([1], dtype=np.int64), "ax1")]]
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["x"]),
        helper.make_node("MatMul", ["x", "Wq"], ["q"]),
        helper.make_node("MatMul", ["x", "Wk"], ["k"]),
        helper.make_node("MatMul", ["x", "Wv"], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s0"]),
        helper.make_node("Mul", ["s0", "scale"], ["s1"]),
        helper.make_node("Cast", ["attention_mask"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "mf"], ["pad"]),
        helper.make_node("Mul", ["pad", "neg"], ["bias0"]),
        helper.make_node("Unsqueeze", ["bias0", "ax1"], ["bias"]),
        helper.make_node("Add", ["s1", "bias"], ["s"]),
        helper.make_node("Softmax", ["s"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["o"]),
        helper.make_node("Add", ["o", "x"], ["last_hidden_state"]),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in ["input_ids", "attention_mask"]]
    g = helper.make_graph(nodes, "attention", inputs, [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="strato-model-families")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(d, "model.onnx"))
    write_json(os.path.join(d, "strato-model.json"), {"name": "@strato/bench-attention", "dimensions": hidden, "max_tokens": max_tokens,
                                                      "default_pooling": "mean", "output": "last_hidden_state"})


def build_real_tokenizers(out, tokenizers_dir):
    """The Qwen3 and EmbeddingGemma stand-ins again, on the real tokenizers registries ship
    (provision.sh --tokenizers), with the templates the embedding exports use: Qwen3-Embedding
    appends <|endoftext|> (its tokenizer does; the shipped file's post-processor does not), and
    EmbeddingGemma wraps in <bos> … <eos>. Qwen's ids are checked against Qwen's own published
    ones first (QwenLM/Qwen3-Embedding issue 122: "test" → 1944, "test again" → 1944 1549)."""
    from tokenizers import Tokenizer, processors
    for family, src, template, specials in [
        ("qwen3", "qwen3", "$A <|endoftext|>", ["<|endoftext|>"]),
        ("embeddinggemma", "gemma3", "<bos> $A <eos>", ["<bos>", "<eos>"]),
    ]:
        tok = Tokenizer.from_file(os.path.join(tokenizers_dir, src, "tokenizer.json"))
        tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(t, tok.token_to_id(t)) for t in specials])
        if family == "qwen3":
            for text, ids in [("test", [1944, 151643]), ("test again", [1944, 1549, 151643])]:
                got = tok.encode(text).ids
                assert got == ids, f"Qwen's tokenizer gives {got} for {text!r}, Qwen published {ids}"
        d = os.path.join(out, f"{family}-real-tokenizer")
        base = os.path.join(out, family)
        os.makedirs(d, exist_ok=True)
        for rel in ["modules.json", "1_Pooling/config.json", "config_sentence_transformers.json", "tokenizer_config.json", "sentence_bert_config.json", "2_Dense", "3_Dense"]:
            src_path = os.path.join(base, rel)
            if os.path.isdir(src_path):
                os.makedirs(os.path.join(d, rel), exist_ok=True)
                for f in os.listdir(src_path):
                    with open(os.path.join(src_path, f), "rb") as a, open(os.path.join(d, rel, f), "wb") as b:
                        b.write(a.read())
            elif os.path.exists(src_path):
                os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
                with open(src_path, "rb") as a, open(os.path.join(d, rel), "wb") as b:
                    b.write(a.read())
        tok.save(os.path.join(d, "tokenizer.json"))
        manifest = load(os.path.join(base, "strato-model.json"))
        hidden = {"qwen3": 32, "embeddinggemma": 64}[family]
        extra = ["position_ids", "past_key_values.0.key", "past_key_values.0.value"] if family == "qwen3" else []
        import onnx
        onnx.save(graph(family, tok.get_vocab_size(with_added_tokens=True), hidden, "last_hidden_state", family == "qwen3", extra), os.path.join(d, "model.onnx"))
        manifest["name"] = f"@strato/test-{family}-real-tokenizer"
        write_json(os.path.join(d, "strato-model.json"), manifest)


# ------------------------------------------------------------------------------------------------
# reference
# ------------------------------------------------------------------------------------------------

def load(path):
    with open(path) as f:
        return json.load(f)


def reference(model_dir, request):
    import onnxruntime as ort
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    st_cfg = load(os.path.join(model_dir, "config_sentence_transformers.json"))
    tk_cfg = load(os.path.join(model_dir, "tokenizer_config.json"))
    manifest = load(os.path.join(model_dir, "strato-model.json"))
    bert_cfg = os.path.join(model_dir, "sentence_bert_config.json")
    max_len = load(bert_cfg)["max_seq_length"] if os.path.exists(bert_cfg) else manifest["max_tokens"]
    prompt = ""
    if request.get("prompt_name"):
        prompt = st_cfg["prompts"][request["prompt_name"]]
    texts = [prompt + t for t in request["texts"]]

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.enable_truncation(max_len)
    tok.no_padding()
    encs = [e.ids for e in tok.encode_batch(texts)]
    seq = max(len(e) for e in encs)
    left = tk_cfg.get("padding_side", "right") == "left"
    ids = np.zeros((len(encs), seq), dtype=np.int64)
    mask = np.zeros((len(encs), seq), dtype=np.int64)
    for i, e in enumerate(encs):
        sl = slice(seq - len(e), seq) if left else slice(0, len(e))
        ids[i, sl] = e
        mask[i, sl] = 1

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(os.path.join(model_dir, manifest.get("onnx", "model.onnx")), opts, providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids, "attention_mask": mask}
    for inp in sess.get_inputs():
        if inp.name == "position_ids":
            feeds["position_ids"] = np.tile(np.arange(seq, dtype=np.int64), (len(encs), 1))  # transformers' default
        elif inp.name.startswith("past_key_values"):
            feeds[inp.name] = np.zeros((len(encs), 2, 0, 4), dtype=np.float16 if inp.type == "tensor(float16)" else np.float32)
    h = sess.run([manifest["output"]], feeds)[0].astype(np.float64)

    pool = load(os.path.join(model_dir, "1_Pooling", "config.json"))
    m = mask[:, :, None].astype(np.float64)
    if pool.get("pooling_mode_cls_token"):
        v = h[:, 0]
    elif pool.get("pooling_mode_mean_tokens"):
        v = (h * m).sum(1) / m.sum(1)
    elif pool.get("pooling_mode_lasttoken"):
        # sentence-transformers: the last position whose mask is 1 (the last column when left-padded).
        last = np.array([np.nonzero(row)[0][-1] for row in mask])
        v = h[np.arange(len(encs)), last]
    else:
        raise SystemExit(f"unsupported pooling {pool}")
    for mod in load(os.path.join(model_dir, "modules.json"))[2:]:
        if mod["type"].endswith("Dense"):
            w = load_file(os.path.join(model_dir, mod["path"], "model.safetensors"))
            v = v @ w["linear.weight"].astype(np.float64).T
            if "linear.bias" in w:
                v = v + w["linear.bias"]
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    if request.get("dimensions"):
        v = v[:, : request["dimensions"]]
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return {"data": v.tolist(), "tokens": [len(e) for e in encs]}


def main():
    if sys.argv[1] == "build":
        build(sys.argv[2])
        if len(sys.argv) > 3:
            build_real_tokenizers(sys.argv[2], sys.argv[3])
        print("built", sys.argv[2])
    elif sys.argv[1] == "build-attention":
        build_attention(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "reference":
        print(json.dumps(reference(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
