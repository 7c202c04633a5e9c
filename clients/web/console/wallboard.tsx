// The wallboard (seed 002, supervisors): calls in progress with live
// durations, agents, queues with their service figures, the PBX links, and
// monitor / whisper / barge on an agent's call. Everything is pushed by the
// event stream; nothing is polled.
import { useEffect, useState } from "preact/hooks";
import { CallState, type Call } from "../../../gen/ts/switchboard/v1/call_pb.js";
import { SpyMode, SupervisorActionStatus, type SupervisorAction } from "../../../gen/ts/switchboard/v1/supervisor_pb.js";
import { SourceKind, SourceState } from "../../../gen/ts/switchboard/v1/system_pb.js";
import { type Live, wasRebuilt } from "./live.js";
import type { Api, Identity } from "./session.js";
import { Panel, Result, clockTime, duration, millis, percent, useClock, useCommand, useLive } from "./ui.js";

const CALL_STATE: Record<number, string> = {
  [CallState.DIALING]: "dialing",
  [CallState.QUEUED]: "queued",
  [CallState.RINGING]: "ringing",
  [CallState.CONNECTED]: "connected",
  [CallState.ON_HOLD]: "on hold",
  [CallState.TRANSFERRING]: "transferring",
  [CallState.ENDED]: "ended",
};

/** A call's state as a word. */
function callState(call: Call): string {
  return CALL_STATE[call.state] ?? "unknown";
}

/** Who called: the name and number the PBX gave. */
export function caller(call: Call): string {
  return [call.callerName, call.customerNumber].filter(Boolean).join(" ") || "unknown caller";
}

const SOURCE_NAME: Record<number, string> = {
  [SourceKind.AMI]: "AMI",
  [SourceKind.ARI]: "ARI",
  [SourceKind.TWILIO]: "Twilio",
  [SourceKind.VOICE_AI]: "Voice AI",
};

/** The PBX links and the notice of a rebuilt picture. */
function Links({ live }: { live: Live }) {
  const state = useLive(live);
  const sources = [...state.sources.values()];
  return (
    <div class="links">
      {sources.length === 0 && <span class="badge">No PBX link reported</span>}
      {sources.map((s) => {
        const up = s.state === SourceState.CONNECTED;
        return (
          <span key={s.source} class={`badge ${up ? "up" : "down"}`} data-source={SOURCE_NAME[s.source]}>
            {SOURCE_NAME[s.source] ?? "PBX"} {up ? "connected" : "disconnected"}
          </span>
        );
      })}
      {wasRebuilt(state.resync) && (
        <p class="notice" role="status">
          The PBX connection was re-established at {clockTime(state.resync?.at ?? 0)}: calls, agents and queues were
          rebuilt from the PBX.
        </p>
      )}
    </div>
  );
}

function Calls({ live }: { live: Live }) {
  const state = useLive(live);
  useClock();
  const now = live.serverNow();
  const calls = [...state.calls.values()].sort((a, b) => millis(a.startedAt) - millis(b.startedAt));
  return (
    <Panel title="Calls in progress">
      <p class="figure" data-count="calls">
        {calls.length} {calls.length === 1 ? "call" : "calls"}
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Caller</th>
            <th scope="col">Queue</th>
            <th scope="col">Agent</th>
            <th scope="col">State</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {calls.map((call) => (
            <tr key={call.callId} data-call={call.callId}>
              <td>{caller(call)}</td>
              <td>{call.queue}</td>
              <td>{call.agentExtension}</td>
              <td>{callState(call)}</td>
              <td class="timer">{duration((now - millis(call.startedAt)) / 1000)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}

function Ended({ live }: { live: Live }) {
  const state = useLive(live);
  return (
    <Panel title="Recently ended">
      <ul class="ended">
        {state.ended.slice(0, 8).map((call) => (
          <li key={call.callId} data-ended={call.callId}>
            {clockTime(millis(call.endedAt))} {caller(call)}
            {call.agentExtension && ` with ${call.agentExtension}`} ·{" "}
            {duration((millis(call.endedAt) - millis(call.startedAt)) / 1000)}
          </li>
        ))}
      </ul>
    </Panel>
  );
}

const MODE_NAME: Record<number, string> = {
  [SpyMode.MONITOR]: "Monitor",
  [SpyMode.WHISPER]: "Whisper",
  [SpyMode.BARGE]: "Barge",
};

/** What a supervisor action came to, in words. */
function actionText(action: SupervisorAction): string {
  const mode = MODE_NAME[action.mode] ?? "Action";
  const status = {
    [SupervisorActionStatus.REQUESTED]: "sent to the PBX",
    [SupervisorActionStatus.ACCEPTED]: "accepted by the PBX",
    [SupervisorActionStatus.FAILED]: "failed",
  }[action.status as number] ?? "pending";
  const detail = action.message ? ` (${action.message})` : "";
  return `${mode} on ${action.agentExtension}: ${status}${detail}`;
}

function Agents({ live, api, identity }: { live: Live; api: Api; identity: Identity }) {
  const state = useLive(live);
  useClock();
  const now = live.serverNow();
  const [outcome, run, busy] = useCommand();
  const [phone, setPhone] = useState(identity.extension ?? "");
  const [actionId, setActionId] = useState("");
  const mayMonitor = identity.role === "supervisor" || identity.role === "admin";
  // The PBX's answer to a sent action arrives later, as a supervisor_action event.
  useEffect(
    () =>
      live.listen((event) => {
        if (event.payload.case === "supervisorAction" && event.payload.value.actionId === actionId) {
          const action = event.payload.value;
          if (action.status !== SupervisorActionStatus.REQUESTED) void run(MODE_NAME[action.mode] ?? "Action", async () => {
            if (action.status === SupervisorActionStatus.FAILED) throw new Error(action.message);
            return actionText(action);
          });
        }
      }),
    [live, actionId],
  );
  const spy = (mode: SpyMode, agentExtension: string, call?: Call) =>
    run(MODE_NAME[mode] ?? "Action", async () => {
      const supervisorExtension = phone.trim();
      const answer =
        mode === SpyMode.MONITOR
          ? await api.supervisor.monitor({ agentExtension, callUniqueId: call?.ids?.amiUniqueid ?? "", supervisorExtension })
          : mode === SpyMode.WHISPER
            ? await api.supervisor.whisper({ agentExtension, supervisorExtension })
            : await api.supervisor.barge({ agentExtension, supervisorExtension });
      if (!answer.action) return undefined;
      setActionId(answer.action.actionId);
      return actionText(answer.action);
    });
  const agents = [...state.agents.values()].sort((a, b) => a.extension.localeCompare(b.extension));
  const callOf = (extension: string) => [...state.calls.values()].find((c) => c.agentExtension === extension);
  return (
    <Panel title="Agents">
      {mayMonitor && (
        <label class="inline">
          Your phone (extension the PBX rings for monitor, whisper and barge; empty: the server's default)
          <input value={phone} onInput={(e) => setPhone(e.currentTarget.value)} inputMode="numeric" size={8} />
        </label>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Status</th>
            <th scope="col">Calls today</th>
            <th scope="col">Current call</th>
            {mayMonitor && <th scope="col">Listen in</th>}
          </tr>
        </thead>
        <tbody>
          {agents.map((agent) => {
            const call = callOf(agent.extension);
            return (
              <tr key={agent.extension} data-agent={agent.extension}>
                <th scope="row">
                  {agent.extension} {agent.name}
                </th>
                <td class={`status ${agent.status.replace(" ", "-")}`}>{agent.status}</td>
                <td>{agent.callsToday}</td>
                <td>{call ? `${caller(call)} · ${duration((now - millis(call.answeredAt ?? call.startedAt)) / 1000)}` : ""}</td>
                {mayMonitor && (
                  <td>
                    <div class="actions">
                    {call &&
                      [SpyMode.MONITOR, SpyMode.WHISPER, SpyMode.BARGE].map((mode) => (
                        <button
                          key={mode}
                          type="button"
                          disabled={busy}
                          aria-label={`${MODE_NAME[mode]} agent ${agent.extension}`}
                          onClick={() => spy(mode, agent.extension, call)}
                        >
                          {MODE_NAME[mode]}
                        </button>
                      ))}
                    </div>
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
      <Result outcome={outcome} />
    </Panel>
  );
}

function Queues({ live }: { live: Live }) {
  const state = useLive(live);
  useClock();
  const now = Date.now();
  const queues = [...state.queues.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <Panel title="Queues">
      <table>
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">Waiting</th>
            <th scope="col">Longest wait</th>
            <th scope="col">Agents free</th>
            <th scope="col">Service level</th>
            <th scope="col">Avg. speed of answer</th>
            <th scope="col">Abandoned</th>
          </tr>
        </thead>
        <tbody>
          {queues.map((q) => (
            <tr key={q.name} data-queue={q.name}>
              <th scope="row">{q.name}</th>
              <td>{q.waiting}</td>
              <td>{q.waiting > 0 ? duration(q.longestWait + (now - q.measuredAt) / 1000) : "–"}</td>
              <td>
                {q.available} of {q.members}
              </td>
              <td>{percent(q.serviceLevel)}</td>
              <td>{q.averageSpeedOfAnswer === undefined ? "–" : duration(q.averageSpeedOfAnswer)}</td>
              <td>{percent(q.abandonRate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}

/** The wallboard page. */
export function Wallboard({ live, api, identity }: { live: Live; api: Api; identity: Identity }) {
  return (
    <div class="page wallboard">
      <Links live={live} />
      <div class="grid">
        <Calls live={live} />
        <Queues live={live} />
        <Agents live={live} api={api} identity={identity} />
        <Ended live={live} />
      </div>
    </div>
  );
}
