"""A bare gRPC echo server: the floor a routerd call is measured against.

Same grpcio, same thread-pool server shape as routerd; the handler returns the request bytes.
Prints "echo listening on 127.0.0.1:PORT" and serves until killed.
"""

from __future__ import annotations

import sys
import threading
from concurrent import futures

import grpc


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(lambda req, ctx: req)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"echo listening on 127.0.0.1:{port}", flush=True)
    threading.Event().wait() if sys.stdin is None else sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
