"""An outside WebSocket client (PyPI websockets) against `packwire ws serve --echo`.

Text, UTF-8 text, binary, a message sent in fragments, a ping (its pong awaited), a
1 MiB binary message, then the closing handshake with code 1000. Usage: ws_client.py URL
"""
import asyncio
import sys

import websockets


async def main(url):
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        for msg in ["hello", "κόσμε 你好 🎉", b"\x00\x01\xfe\xff"]:
            await ws.send(msg)
            got = await ws.recv()
            assert got == msg, (got, msg)
        # one message in three fragments
        await ws.send(iter(["frag", "men", "ted"]))
        assert await ws.recv() == "fragmented"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        big = bytes(range(256)) * 4096
        await ws.send(big)
        assert await ws.recv() == big
        await ws.close(code=1000, reason="done")
        assert ws.close_code == 1000, ws.close_code
    print("websockets client: text, utf-8, binary, fragments, ping, 1 MiB, close 1000: ok")


asyncio.run(main(sys.argv[1]))
