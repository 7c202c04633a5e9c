// A Socket.IO client of switchboard, as an existing dashboard would connect:
// prints every event it receives as one JSON line: {"event": name, "data": payload}.
//
//   node clients/socketio/watch.mjs [URL] [--token T] [--count N] [--seconds S] [--until E1,E2=n,...]
//                                   [--emit EVENT JSON] [--emit-big EVENT BYTES] [--emit-at MS EVENT JSON]
//                                   [--every MS EVENT JSON] [--stdin] [--transports T1,T2]
//                                   [--reconnect]
//
// URL defaults to http://127.0.0.1:3001. Exits after N events (default: never),
// once each event named by --until has come (E2 n times), or after S seconds
// (default 30), whichever is first. A refused connection prints
// {"event": "connect_error", "data": {"message": ...}} and exits with 2.
//
// With --stdin, a test steers the client while it runs, one JSON array per
// line: ["emit", EVENT, PAYLOAD] sends an event, ["quiet"] stops the --every
// repeats; the end of stdin closes the socket and exits with 0.
//
// --transports picks the Engine.IO transports in the order tried (default
// websocket,polling; polling,websocket starts polling and upgrades, as a
// browser's default client does).
//
// --reconnect keeps the client's reconnection on (as dashboards have it),
// retrying quickly, and prints each connect as {"event": "connect", "data":
// {"id", "recovered"}} and each event's recovery offset as "offset": a
// dashboard whose connection drops recovers what it missed when the server
// offers connection state recovery.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const args = process.argv.slice(2);
let url = "http://127.0.0.1:3001";
let token = process.env.SWITCHBOARD_TOKEN;
let count = Infinity;
let seconds = 30;
const until = new Map();
const emits = [];
const later = [];
const repeated = [];
let steered = false;
let transports = ["websocket", "polling"];
let reconnect = false;
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === "--token") token = args[++i];
  else if (arg === "--count") count = Number(args[++i]);
  else if (arg === "--seconds") seconds = Number(args[++i]);
  else if (arg === "--until") {
    for (const item of args[++i].split(",")) {
      const [name, times] = item.split("=");
      until.set(name, Number(times ?? 1));
    }
  }
  else if (arg === "--emit") emits.push([args[++i], JSON.parse(args[++i])]);
  else if (arg === "--emit-big") emits.push([args[++i], "x".repeat(Number(args[++i]))]);
  else if (arg === "--emit-at") later.push([Number(args[++i]), args[++i], JSON.parse(args[++i])]);
  else if (arg === "--every") repeated.push([Number(args[++i]), args[++i], JSON.parse(args[++i])]);
  else if (arg === "--stdin") steered = true;
  else if (arg === "--transports") transports = args[++i].split(",");
  else if (arg === "--reconnect") reconnect = true;
  else url = arg;
}

const print = (event, data, offset) =>
  process.stdout.write(JSON.stringify(offset === undefined ? { event, data } : { event, data, offset }) + "\n");
const socket = io(url, {
  auth: token ? { token } : {},
  reconnection: reconnect,
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  transports,
});
let seen = 0;
const done = (code) => { socket.close(); process.exit(code); };

const waitsForEvents = until.size > 0;
socket.onAny((event, data, ...rest) => {
  // The server's recovery offset, when it offers recovery: the last argument.
  const last = rest.length > 0 ? rest[rest.length - 1] : undefined;
  print(event, data, reconnect && typeof last === "string" ? last : undefined);
  if (until.has(event)) {
    const left = until.get(event) - 1;
    if (left > 0) until.set(event, left);
    else until.delete(event);
    if (waitsForEvents && until.size === 0) done(0);
  }
  if (++seen >= count) done(0);
});
const send = (event, payload) => socket.emit(event, payload, (ack) => print(`ack:${event}`, ack));
const timers = [];
socket.on("connect", () => {
  if (reconnect) print("connect", { id: socket.id, recovered: socket.recovered });
  for (const [event, payload] of emits) send(event, payload);
  for (const [ms, event, payload] of later) setTimeout(() => send(event, payload), ms);
  for (const [ms, event, payload] of repeated) timers.push(setInterval(() => send(event, payload), ms));
});
if (steered) {
  const commands = createInterface({ input: process.stdin });
  commands.on("line", (line) => {
    const [command, event, payload] = JSON.parse(line);
    if (command === "emit") send(event, payload);
    else if (command === "quiet") timers.splice(0).forEach(clearInterval);
    else process.stderr.write(`unknown command: ${line}\n`);
  });
  commands.on("close", () => done(0));
}
socket.on("disconnect", (reason) => print("disconnect", { reason }));
socket.on("connect_error", (error) => {
  print("connect_error", { message: error.message });
  // A refusal ends the client; a lost server is retried with --reconnect.
  if (!reconnect || !socket.active) done(2);
});
setTimeout(() => done(seen > 0 ? 0 : 1), seconds * 1000);
