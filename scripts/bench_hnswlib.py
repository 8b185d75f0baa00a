#!/usr/bin/env python3
"""hnswlib baseline for `./strato bench index` (M=16, ef_construction=200, one query thread).

Usage: bench_hnswlib.py BASE.f32 QUERIES.f32 TRUTH.u32 DIMS
Builds once, prints {"build_s": …}; then for each stdin line "ef1,ef2,…" prints one JSON line
{"results": [{"ef", "qps", "recall", "p50_us"}, …]} (queries one at a time, as a server sees them).
"""
import json
import sys
import time

import hnswlib
import numpy as np


def main() -> None:
    base_p, q_p, truth_p, dims = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    base = np.fromfile(base_p, dtype=np.float32).reshape(-1, dims)
    queries = np.fromfile(q_p, dtype=np.float32).reshape(-1, dims)
    truth = np.fromfile(truth_p, dtype=np.uint32).reshape(len(queries), -1)
    k = truth.shape[1]
    index = hnswlib.Index(space="cosine", dim=dims)
    t0 = time.perf_counter()
    index.init_index(max_elements=len(base), M=16, ef_construction=200, random_seed=1)
    index.add_items(base, np.arange(len(base)), num_threads=2)
    print(json.dumps({"build_s": time.perf_counter() - t0}), flush=True)
    index.set_num_threads(1)
    for line in sys.stdin:
        efs = [int(x) for x in line.strip().split(",") if x]
        out = []
        for ef in efs:
            index.set_ef(ef)
            lat = []
            hits = 0
            start = time.perf_counter()
            for i, q in enumerate(queries):
                t = time.perf_counter()
                labels, _ = index.knn_query(q, k=k)
                lat.append(time.perf_counter() - t)
                hits += len(set(labels[0].tolist()) & set(truth[i].tolist()))
            total = time.perf_counter() - start
            lat.sort()
            out.append({"ef": ef, "qps": len(queries) / total, "recall": hits / (len(queries) * k),
                        "p50_us": lat[len(lat) // 2] * 1e6})
        print(json.dumps({"results": out}), flush=True)


if __name__ == "__main__":
    main()
