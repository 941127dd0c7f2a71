"""`kubectl port-forward ... LOCAL:REMOTE` for the kubectl stand-in: forwards 127.0.0.1:LOCAL to the address in
KUBECTL_SERVICE_ADDRESS (host:port), which plays the Service. Without it, fails as kubectl does with no cluster."""

from __future__ import annotations

import asyncio
import os
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def forward(local_port: int, remote_port: str, service: str) -> None:
    host, port = service.rsplit(":", 1)

    async def connect(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        service_reader, service_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(client_reader, service_writer), pipe(service_reader, client_writer),
                             return_exceptions=True)  # fmt: skip

    server = await asyncio.start_server(connect, "127.0.0.1", local_port)
    print(f"Forwarding from 127.0.0.1:{local_port} -> {remote_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    service = os.environ.get("KUBECTL_SERVICE_ADDRESS")
    if not service:
        sys.exit("error: no cluster to forward to (KUBECTL_SERVICE_ADDRESS is not set)")
    local, remote = sys.argv[-1].split(":")
    asyncio.run(forward(int(local), remote, service))
