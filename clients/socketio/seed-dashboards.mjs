// The seeds' dashboards, pointed at switchboard unchanged, each keeping its
// state the way the seed's own code does; prints, at the end, one JSON line
// saying what each saw and every place where the payloads would break it.
//
//   node clients/socketio/seed-dashboards.mjs URL [--token T] [--seconds S]
//
// - The AMI wallboard (seed 002): keys its calls by `uniqueid` (`calls:active`
//   replaces them, `call:new` / `call:answered` set one, `call:ended` removes
//   one), shows each agent's `currentCall` and each `queue:caller_joined`
//   caller against those calls, and the PBX link from `ami:*`.
// - The voice-AI call panel (seed 003, `useCallSocket`): joins room `admin`
//   on connect, keeps active calls by `callId` from `call:started`, moves
//   them to the recent calls on `call:ended`.
// - The agent desktop's metrics (seed 000): formats
//   `system_stats.performance` as the seed's page does (`toFixed`).
import { io } from "socket.io-client";

const args = process.argv.slice(2);
const url = args[0] && !args[0].startsWith("--") ? args[0] : "http://127.0.0.1:3001";
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const token = option("--token", process.env.SWITCHBOARD_TOKEN);
const seconds = Number(option("--seconds", "10"));
const problems = [];
const problem = (dashboard, text) => {
  if (problems.length < 50) problems.push(`${dashboard}: ${text}`);
};

// Seed 002: the wallboard.
const wallboard = {
  calls: new Map(),
  // uniqueid → the call's startTime and channel, as first seen: a uniqueid
  // that names two calls shows as one whose start moved.
  known: new Map(),
  referenced: [],
  amiConnected: null,
  events: 0,
  contexts: {},
  ended: 0,
};
const keyOf = (event, call) => {
  const id = call?.uniqueid;
  if (typeof id !== "string" || id === "") {
    problem("002", `${event} without a uniqueid: ${JSON.stringify(call)}`);
    return null;
  }
  const first = wallboard.known.get(id);
  if (first === undefined) {
    wallboard.known.set(id, { startTime: call.startTime, channel: call.channel });
    wallboard.contexts[call.context] = (wallboard.contexts[call.context] ?? 0) + 1;
  } else if (first.startTime !== call.startTime || first.channel !== call.channel) {
    problem("002", `uniqueid ${id} names two calls: ${JSON.stringify(first)} and ${JSON.stringify(call)}`);
  }
  return id;
};
const board = io(url, { auth: { token }, reconnection: false });
board.onAny(() => { wallboard.events += 1; });
board.on("calls:active", (calls) => {
  const ids = calls.map((call) => keyOf("calls:active", call));
  if (new Set(ids).size !== ids.length) problem("002", `calls:active lists a uniqueid twice: ${ids}`);
  wallboard.calls = new Map(calls.map((call) => [call.uniqueid, call]));
});
for (const event of ["call:new", "call:answered"]) {
  board.on(event, (call) => {
    const id = keyOf(event, call);
    if (id !== null) wallboard.calls.set(id, call);
  });
}
board.on("call:ended", (call) => {
  const id = keyOf("call:ended", call);
  wallboard.ended += 1;
  if (id !== null) wallboard.calls.delete(id);
});
const referenced = (event, id) => {
  if (id !== null && id !== undefined) wallboard.referenced.push([event, id]);
};
board.on("agents:status", (agents) => agents.forEach((a) => referenced("agents:status", a.currentCall)));
board.on("agent:login", (agent) => referenced("agent:login", agent.currentCall));
board.on("agent:logout", (agent) => referenced("agent:logout", agent.currentCall));
board.on("queue:caller_joined", (caller) => referenced("queue:caller_joined", caller.uniqueid));
board.on("ami:connected", () => { wallboard.amiConnected = true; });
board.on("ami:disconnected", () => { wallboard.amiConnected = false; });

// Seed 003: the voice-AI call panel.
const panel = { activeCalls: [], recentCalls: [], joined: false, started: 0 };
const calls = io(url, { auth: { token }, reconnection: false });
calls.on("connect", () => {
  calls.emit("join:admin", (answer) => { panel.joined = answer?.ok === true; });
});
calls.on("call:started", (data) => {
  panel.started += 1;
  panel.activeCalls = [{ ...data, startedAt: data.timestamp }, ...panel.activeCalls.filter((c) => c.callId !== data.callId)];
});
calls.on("call:ended", (data) => {
  if (!panel.joined) return; // before the join's answer: not yet a 003 socket
  if (typeof data.callId !== "string" || data.callId === "") {
    problem("003", `call:ended without a callId: ${JSON.stringify(data)}`);
  }
  panel.activeCalls = panel.activeCalls.filter((c) => c.callId !== data.callId);
  panel.recentCalls = [data, ...panel.recentCalls.slice(0, 19)];
});

// Seed 000: the metrics the agent desktop formats.
const metrics = { stats: 0 };
board.on("system_stats", (stats) => {
  metrics.stats += 1;
  try {
    const p = stats.performance;
    `${p.successRate.toFixed(1)}% ${p.avgResponseTime.toFixed(0)}ms ${p.callsPerMinute} ${p.peakConcurrentCalls}`;
  } catch (error) {
    problem("000", `system_stats.performance does not format: ${error.message} in ${JSON.stringify(stats.performance)}`);
  }
});

for (const [name, socket] of [["002", board], ["003", calls]]) {
  socket.on("connect_error", (error) => problem(name, `connect_error: ${error.message}`));
}

setTimeout(() => {
  for (const [event, id] of wallboard.referenced) {
    if (!wallboard.known.has(id)) problem("002", `${event} names call ${id}, which no call carries`);
  }
  const report = {
    wallboard: {
      events: wallboard.events,
      calls: wallboard.known.size,
      contexts: wallboard.contexts,
      ended: wallboard.ended,
      references: wallboard.referenced.length,
      amiConnected: wallboard.amiConnected,
    },
    panel: { joined: panel.joined, started: panel.started, recent: panel.recentCalls.length, active: panel.activeCalls.length },
    metrics,
    problems,
  };
  process.stdout.write(JSON.stringify(report) + "\n");
  board.close();
  calls.close();
  process.exit(0);
}, seconds * 1000);
