// An outside WebSocket peer on npm `ws`, for scripts/interop_npm_ws.sh.
//   node ws_node.js client URL [deflate]: text, UTF-8, binary, a fragmented message, a
//     ping (its pong awaited), a 1 MiB message, then close 1000; every echo checked.
//   node ws_node.js server PORT [deflate]: an echo server prefixing "echo " to text.
const WebSocket = require("ws");
const [mode, where, deflate] = process.argv.slice(2);
const perMessageDeflate = deflate === "deflate";

function fail(msg) {
  console.error("FAIL: " + msg);
  process.exit(1);
}

if (mode === "server") {
  const wss = new WebSocket.Server({ host: "127.0.0.1", port: Number(where), perMessageDeflate });
  wss.on("listening", () => console.log("ready"));
  wss.on("connection", (ws) => {
    ws.on("message", (data, isBinary) => {
      ws.send(isBinary ? data : "echo " + data.toString("utf8"), { binary: isBinary });
    });
  });
  setTimeout(() => process.exit(0), 20000);
} else {
  const ws = new WebSocket(where, { perMessageDeflate, maxPayload: 0 });
  const big = Buffer.alloc(1 << 20, 7);
  const steps = [
    ["hello", false],
    ["κόσμε 你好 🎉", false],
    [Buffer.from([0, 1, 0xfe, 0xff]), true],
    [big, true],
  ];
  let i = 0;
  ws.on("open", () => {
    if (perMessageDeflate && !ws.extensions.includes("permessage-deflate")) fail("no deflate: " + ws.extensions);
    // a fragmented text message first
    ws.send("frag", { fin: false });
    ws.send("men", { fin: false });
    ws.send("ted", { fin: true });
  });
  let fragmented = false;
  ws.on("message", (data, isBinary) => {
    if (!fragmented) {
      if (data.toString() !== "fragmented") fail("fragments: " + data);
      fragmented = true;
      ws.ping("are you there");
      return;
    }
    const [want, bin] = steps[i - 1];
    const ok = bin ? Buffer.compare(data, want) === 0 : data.toString("utf8") === want;
    if (!ok) fail(`message ${i}: ${data.length} bytes`);
    next();
  });
  ws.on("pong", (data) => {
    if (data.toString() !== "are you there") fail("pong: " + data);
    next();
  });
  function next() {
    if (i < steps.length) {
      const [m, bin] = steps[i++];
      ws.send(m, { binary: bin });
    } else {
      ws.close(1000, "done");
    }
  }
  ws.on("close", (code) => {
    if (code !== 1000) fail("close code " + code);
    console.log(`ws client (${perMessageDeflate ? "deflate" : "no compression"}): fragments, ping, text, utf-8, binary, 1 MiB, close 1000: ok`);
    process.exit(0);
  });
  ws.on("error", (e) => fail(String(e)));
  setTimeout(() => fail("timed out"), 15000);
}
