// The live picture of the call center, kept from switchboard's event stream.
//
// A `Live` opens `EventService.Subscribe` with a snapshot first, folds every
// event into calls, agents, queues and the PBX links, and hands each event
// to the pages that listen. When the stream breaks it reconnects with
// `resume_after` the last event it folded (and its epoch), so nothing is
// missed and nothing is applied twice; when the server cannot replay, the
// stream starts with a `Resync` whose snapshot replaces the picture. An
// `EventsDropped` (the page fell behind) is mended the same way: the stream
// is reopened after the last event folded.
import { Code, ConnectError } from "@connectrpc/connect";
import { AgentStatus, WallboardAgentStatus } from "../../../gen/ts/switchboard/v1/agent_pb.js";
import type { Agent, WallboardAgent } from "../../../gen/ts/switchboard/v1/agent_pb.js";
import { CallState, type Call } from "../../../gen/ts/switchboard/v1/call_pb.js";
import type { Event } from "../../../gen/ts/switchboard/v1/event_pb.js";
import type { Queue, QueueStats } from "../../../gen/ts/switchboard/v1/queue_pb.js";
import type { EventKind } from "../../../gen/ts/switchboard/v1/event_pb.js";
import type { SpySession } from "../../../gen/ts/switchboard/v1/supervisor_pb.js";
import { ResyncReason, type SourceStatus, type StateSnapshot } from "../../../gen/ts/switchboard/v1/system_pb.js";
import { type Api, reasonOf } from "./session.js";

/** One agent as the wallboard shows it. */
export interface AgentRow {
  extension: string;
  name: string;
  /** `available`, `ringing`, `on call`, `multi call` or `offline`. */
  status: string;
  callsToday: number;
  capacity?: { current: number; max: number };
  tenant: string;
}

/** One queue as the wallboard shows it. */
export interface QueueRow {
  name: string;
  number: string;
  waiting: number;
  members: number;
  available: number;
  /** The longest wait in seconds, as of `measuredAt`. */
  longestWait: number;
  measuredAt: number;
  /** Percent answered within the threshold today, once there is an answer. */
  serviceLevel?: number;
  /** Average speed of answer today, in seconds. */
  averageSpeedOfAnswer?: number;
  /** Percent of offered calls abandoned today. */
  abandonRate?: number;
}

/** Where the stream stands. */
export type Connection =
  | { state: "connecting" }
  | { state: "live" }
  | { state: "reconnecting"; reason: string; retryInMs: number }
  | { state: "refused"; reason: string };

/** The picture, as of the last event folded. */
export interface LiveState {
  connection: Connection;
  calls: Map<string, Call>;
  /** The last calls that ended, newest first. */
  ended: Call[];
  agents: Map<string, AgentRow>;
  queues: Map<string, QueueRow>;
  sources: Map<number, SourceStatus>;
  spySessions: Map<string, SpySession>;
  systemMode: string;
  /** The last time the stream started over from a snapshot, and why. */
  resync?: { reason: ResyncReason; at: number };
  /** The server's clock minus this page's, in ms (from the last event's time). */
  clockOffsetMs: number;
  /** The last sequence number folded, and its epoch. */
  sequence: bigint;
  epoch: string;
}

const ENDED_KEPT = 25;

const AGENT_STATUS: Record<number, string> = {
  [AgentStatus.AVAILABLE]: "available",
  [AgentStatus.RINGING]: "ringing",
  [AgentStatus.ON_CALL]: "on call",
  [AgentStatus.MULTI_CALL]: "multi call",
  [AgentStatus.OFFLINE]: "offline",
};

const WALLBOARD_STATUS: Record<number, string> = {
  [WallboardAgentStatus.AVAILABLE]: "available",
  [WallboardAgentStatus.TALKING]: "on call",
  [WallboardAgentStatus.RINGING]: "ringing",
  [WallboardAgentStatus.OFFLINE]: "offline",
};

function agentRow(agent: Agent): AgentRow {
  return {
    extension: agent.extension,
    name: agent.name,
    status: AGENT_STATUS[agent.status] ?? "unknown",
    callsToday: agent.callsToday,
    capacity: agent.capacity ? { current: agent.capacity.current, max: agent.capacity.max } : undefined,
    tenant: agent.tenant,
  };
}

function queueRow(queue: Queue, now: number): QueueRow {
  const level = queue.serviceLevel;
  return {
    name: queue.name,
    number: queue.number,
    waiting: queue.waiting,
    members: queue.members,
    available: queue.available,
    longestWait: queue.longestWait,
    measuredAt: now,
    serviceLevel: level?.percentage,
    averageSpeedOfAnswer: level && level.completed > 0 ? level.averageHoldSeconds : undefined,
    abandonRate: level?.abandonRate,
  };
}

function queueStatsRow(stats: QueueStats, known: QueueRow | undefined, now: number): QueueRow {
  return {
    name: stats.name,
    number: known?.number ?? "",
    waiting: stats.waiting,
    members: stats.members,
    available: stats.available,
    longestWait: stats.longestWait,
    measuredAt: now,
    serviceLevel: stats.serviceLevel,
    averageSpeedOfAnswer: stats.averageSpeedOfAnswer,
    abandonRate: stats.abandonRate,
  };
}

/** Whether a call is over. */
function isEnded(call: Call): boolean {
  return call.state === CallState.ENDED;
}

/** The live picture and its stream. */
export class Live {
  readonly state: LiveState = {
    connection: { state: "connecting" },
    calls: new Map(),
    ended: [],
    agents: new Map(),
    queues: new Map(),
    sources: new Map(),
    spySessions: new Map(),
    systemMode: "",
    clockOffsetMs: 0,
    sequence: 0n,
    epoch: "",
  };
  private readonly watchers = new Set<() => void>();
  private readonly listeners = new Set<(event: Event) => void>();
  private abort = new AbortController();
  private stopped = false;
  private notifyQueued = false;

  /** `filter`: the subscription's filters (kinds, extensions, tenant). */
  constructor(
    private readonly api: Api,
    private readonly filter: { kinds?: EventKind[]; agentExtensions?: string[]; tenant?: string } = {},
    /** Start from the replay window's events instead of a snapshot (for what no snapshot holds). */
    private readonly replayWindow = false,
  ) {}

  /** Opens the stream, and keeps it open until `stop`. */
  start(): void {
    void this.run();
  }

  /** Closes the stream for good. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** Calls `watcher` after changes (at most once per task); returns the unwatch. */
  watch(watcher: () => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /** Hands every event, once folded, to `listener`; returns the unlisten. */
  listen(listener: (event: Event) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The server's clock now, in ms since the epoch. */
  serverNow(): number {
    return Date.now() + this.state.clockOffsetMs;
  }

  private changed(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      for (const watcher of this.watchers) watcher();
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        const resuming = this.state.sequence > 0n;
        const stream = this.api.events.subscribe(
          {
            ...this.filter,
            snapshotFirst: !resuming && !this.replayWindow,
            replayWindow: !resuming && this.replayWindow,
            resumeAfter: this.state.sequence,
            epoch: resuming ? this.state.epoch : "",
          },
          { signal: this.abort.signal },
        );
        for await (const message of stream) {
          if (!message.event) continue;
          if (this.state.connection.state !== "live") {
            this.state.connection = { state: "live" };
            failures = 0;
          }
          if (!this.fold(message.event)) break;
        }
        if (this.stopped) return;
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof ConnectError && [Code.Unauthenticated, Code.PermissionDenied].includes(error.code)) {
          this.state.connection = { state: "refused", reason: reasonOf(error) };
          this.changed();
          return;
        }
        failures += 1;
        const retryInMs = Math.min(10_000, 500 * 2 ** Math.min(failures, 5));
        this.state.connection = { state: "reconnecting", reason: reasonOf(error), retryInMs };
        this.changed();
        await new Promise((resolve) => setTimeout(resolve, retryInMs));
      }
    }
  }

  /** Folds one event; false when the stream must be reopened (events were dropped). */
  private fold(event: Event): boolean {
    const state = this.state;
    const now = Date.now();
    if (event.time) {
      state.clockOffsetMs = Number(event.time.seconds) * 1000 + Math.floor(event.time.nanos / 1e6) - now;
    }
    const payload = event.payload;
    if (payload.case === "eventsDropped") {
      // Reopen after the last event folded: the replay brings the dropped ones.
      return false;
    }
    state.sequence = event.sequence;
    state.epoch = event.epoch;
    switch (payload.case) {
      case "resync":
        if (payload.value.snapshot) this.replace(payload.value.snapshot, now);
        state.resync = { reason: payload.value.reason, at: now };
        break;
      case "callUpdated": {
        const call = payload.value.call;
        if (!call) break;
        if (isEnded(call)) {
          state.calls.delete(call.callId);
          state.ended = [call, ...state.ended.filter((c) => c.callId !== call.callId)].slice(0, ENDED_KEPT);
        } else {
          state.calls.set(call.callId, call);
        }
        break;
      }
      case "agentStatusUpdated": {
        const update = payload.value;
        const known = state.agents.get(update.extension);
        state.agents.set(update.extension, {
          extension: update.extension,
          name: update.agentName || known?.name || "",
          status: AGENT_STATUS[update.status] ?? "unknown",
          callsToday: known?.callsToday ?? 0,
          capacity: update.capacity ? { current: update.capacity.current, max: update.capacity.max } : known?.capacity,
          tenant: known?.tenant ?? "",
        });
        break;
      }
      case "agentsStatus":
        for (const agent of payload.value.agents) this.foldWallboardAgent(agent);
        break;
      case "agentLogin":
      case "agentLogout":
        this.foldWallboardAgent(payload.value);
        break;
      case "queuesStats":
        for (const stats of payload.value.queues) {
          state.queues.set(stats.name, queueStatsRow(stats, state.queues.get(stats.name), now));
        }
        break;
      case "sourceStatus":
        state.sources.set(payload.value.source, payload.value);
        break;
      case "systemModeUpdate":
        state.systemMode = payload.value.mode;
        break;
      case "spySession":
        if (payload.value.active) state.spySessions.set(payload.value.sessionId, payload.value);
        else state.spySessions.delete(payload.value.sessionId);
        break;
      default:
        break;
    }
    for (const listener of this.listeners) listener(event);
    this.changed();
    return true;
  }

  private foldWallboardAgent(agent: WallboardAgent): void {
    const known = this.state.agents.get(agent.extension);
    this.state.agents.set(agent.extension, {
      extension: agent.extension,
      name: known?.name ?? "",
      status: WALLBOARD_STATUS[agent.status] ?? known?.status ?? "unknown",
      callsToday: agent.callsToday,
      capacity: known?.capacity,
      tenant: known?.tenant ?? "",
    });
  }

  private replace(snapshot: StateSnapshot, now: number): void {
    const state = this.state;
    state.calls = new Map(snapshot.calls.map((c) => [c.callId, c]));
    state.agents = new Map(snapshot.agents.map((a) => [a.extension, agentRow(a)]));
    state.queues = new Map(snapshot.queues.map((q) => [q.name, queueRow(q, now)]));
    state.sources = new Map(snapshot.sources.map((s) => [s.source, s]));
    state.spySessions = new Map(snapshot.spySessions.filter((s) => s.active).map((s) => [s.sessionId, s]));
    state.systemMode = snapshot.systemMode;
  }
}

/** Whether `resync` was a rebuild of the PBX's state (not this page's own start). */
export function wasRebuilt(resync: LiveState["resync"]): boolean {
  return resync?.reason === ResyncReason.SOURCE_REBUILT;
}
