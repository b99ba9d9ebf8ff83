"""An outside WebSocket client (PyPI websockets) against `packwire ws serve --echo`.

Text, UTF-8 text, binary, a message sent in fragments, a ping (its pong awaited), a
1 MiB binary message, then the closing handshake with code 1000; with "deflate", all of
it compressed (permessage-deflate). Usage: ws_client.py URL [deflate]
"""
import asyncio
import sys

import websockets


async def main(url, compression):
    async with websockets.connect(url, max_size=None, compression=compression) as ws:
        if compression:
            headers = ws.response_headers
            assert "permessage-deflate" in str(headers.get("Sec-WebSocket-Extensions")), headers
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
    print(f"websockets client ({compression or 'no compression'}): text, utf-8, binary, fragments, ping, 1 MiB, close 1000: ok")


asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
