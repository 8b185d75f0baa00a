#!/usr/bin/env python3
"""A gRPC client in another language: Python grpcio, code generated from proto/ by grpcio-tools
at run time. Usage: embed_client.py HOST:PORT MODEL -> JSON on stdout."""
import json
import os
import sys
import tempfile

from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STORIES = [
    "This is a story about an orange cloud",
    "This is a story about a llama",
    "This is a story about a hugging emoji",
]


def main() -> None:
    addr, model = sys.argv[1], sys.argv[2]
    gen = tempfile.mkdtemp(prefix="strato-py-")
    proto_root = os.path.join(ROOT, "proto")
    rc = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={gen}", f"--grpc_python_out={gen}",
                      "strato/embedder/v1/embedder.proto"])
    assert rc == 0, "grpcio-tools failed"
    sys.path.insert(0, gen)
    import grpc
    from strato.embedder.v1 import embedder_pb2 as pb, embedder_pb2_grpc as rpc

    with grpc.insecure_channel(addr) as ch:
        stub = rpc.EmbedderStub(ch)
        resp = stub.Embed(pb.EmbedRequest(model=model, texts=STORIES), timeout=30)
        assert list(resp.shape) == [3, 384], resp.shape
        try:
            stub.Embed(pb.EmbedRequest(model="@cf/none/such", texts=["x"]), timeout=30)
            code = "OK"
        except grpc.RpcError as e:
            code = e.code().name
        print(json.dumps({"data": [list(v.values) for v in resp.data], "not_found_code": code}))


if __name__ == "__main__":
    main()
