// Opens N idle Socket.IO connections to switchboard, as wallboards that
// connected and wait: raw Engine.IO v4 over WebSocket (the `ws` package,
// lighter than a socket.io-client per connection, so that 10,000 fit in
// one Node.js process), the namespace joined with TOKEN, pings answered.
// Prints {"connected", "failed"} every second; the server's memory is read
// beside it (see docs/performance.md, "Idle sockets").
//
//   node clients/socketio/idle.mjs URL TOKEN N
import WebSocket from "ws";

const [url, token, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
let connected = 0;
let failed = 0;

function open() {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`);
  ws.on("message", (data) => {
    const text = data.toString();
    if (text.startsWith("0{")) ws.send(`40${JSON.stringify({ token })}`);
    else if (text === "2") ws.send("3");
    else if (text.startsWith("40")) connected++;
  });
  ws.on("error", () => failed++);
}

let opened = 0;
const opening = setInterval(() => {
  for (let k = 0; k < 200 && opened < count; k++, opened++) open();
  if (opened >= count) clearInterval(opening);
}, 20);
setInterval(() => console.log(JSON.stringify({ connected, failed })), 1000);
