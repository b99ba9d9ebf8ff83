"""An outside WebSocket echo server (PyPI websockets) for `packwire ws connect`.

Echoes every message with "echo " in front; compression as websockets negotiates it
(deflate) or off. Prints "ready" once listening. Usage: ws_server.py PORT [deflate]
"""
import asyncio
import sys

import websockets


async def echo(ws):
    async for msg in ws:
        await ws.send("echo " + msg if isinstance(msg, str) else msg)


async def main(port, compression):
    async with websockets.serve(echo, "127.0.0.1", int(port), compression=compression):
        print("ready", flush=True)
        await asyncio.sleep(20)


asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
