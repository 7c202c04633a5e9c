// A browser wallboard of switchboard over Socket.IO, as the seeds'
// dashboards connect: socket.io-client with its default transports (polling,
// then the upgrade to WebSocket), the token in the handshake's auth. It
// reports how it connected, every event it hears, and the answer to the
// `join:client` it sends.
//
// Served by clients/web/run-in-chromium.mjs --entry wallboard.ts, with
// ?server=http://127.0.0.1:3001&token=JWT&client=acme.
import { io } from "socket.io-client";
import { report as show } from "./report.js";

/** One line the page reports about its progress. */
export type WallboardReport =
  | { kind: "opened"; transport: string }
  | { kind: "connected"; transport: string }
  | { kind: "upgraded"; transport: string }
  | { kind: "event"; name: string; data: unknown }
  | { kind: "ack"; event: string; data: unknown }
  | { kind: "error"; message: string };

const params = new URLSearchParams(location.search);
const server = params.get("server") ?? "http://127.0.0.1:3001";
const token = params.get("token") ?? "";
const client = params.get("client") ?? "";

function report(line: WallboardReport): void {
  show(line);
}

const socket = io(server, { auth: { token }, reconnection: false });
// The Engine.IO session opens (on polling) before the Socket.IO CONNECT is
// answered, and its upgrade may finish on either side of that answer: both
// are watched from the session's opening, so neither is missed.
socket.io.on("open", () => {
  const engine = socket.io.engine;
  report({ kind: "opened", transport: engine.transport.name });
  engine.on("upgrade", (transport) => report({ kind: "upgraded", transport: transport.name }));
});
socket.on("connect", () => {
  report({ kind: "connected", transport: socket.io.engine.transport.name });
  if (client) {
    socket.emit("join:client", client, (answer: unknown) =>
      report({ kind: "ack", event: "join:client", data: answer }),
    );
  }
});
socket.onAny((name: string, data: unknown) => report({ kind: "event", name, data }));
socket.on("connect_error", (error) => report({ kind: "error", message: `connect_error: ${error.message}` }));
socket.on("disconnect", (reason) => report({ kind: "error", message: `disconnect: ${reason}` }));
