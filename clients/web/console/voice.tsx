// Voice-AI calls (seed 003, admins and clients): the assistant's calls as
// its webhooks report them, recent (the replay window's) and live. An admin sees every client's
// (the seed's `admin` room) or picks one; a client token sees its own
// tenant only, phone numbers masked to the last four digits by the server.
import { useEffect, useState } from "preact/hooks";
import { CallDirection } from "../../../gen/ts/switchboard/v1/call_pb.js";
import { EventKind, type Event } from "../../../gen/ts/switchboard/v1/event_pb.js";
import { Live } from "./live.js";
import type { Api, Identity } from "./session.js";
import { Panel, clockTime, duration, millis, useClock } from "./ui.js";

/** One assistant call, from its `call:started` and (once over) `call:ended`. */
interface VoiceCall {
  callId: string;
  clientId: string;
  phone: string;
  direction: string;
  agentId: string;
  startedAt: number;
  endedAt?: number;
  durationMs?: number;
  status?: string;
}

const DIRECTION: Record<number, string> = {
  [CallDirection.INBOUND]: "inbound",
  [CallDirection.OUTBOUND]: "outbound",
  [CallDirection.INTERNAL]: "internal",
};

const KEPT = 50;

/** Folds a voice-AI event into the list (newest first); other events leave it as it is. */
function fold(calls: VoiceCall[], event: Event): VoiceCall[] {
  const p = event.payload;
  if (p.case === "voiceCallStarted") {
    const known = calls.find((c) => c.callId === p.value.callId);
    const call: VoiceCall = {
      ...known,
      callId: p.value.callId,
      clientId: p.value.clientId,
      phone: p.value.phone,
      direction: DIRECTION[p.value.direction] ?? "",
      agentId: p.value.agentId,
      startedAt: millis(p.value.timestamp),
    };
    return [call, ...calls.filter((c) => c.callId !== call.callId)].slice(0, KEPT);
  }
  if (p.case === "voiceCallEnded") {
    const ended = { endedAt: millis(p.value.timestamp), durationMs: Number(p.value.durationMs), status: p.value.status };
    if (calls.some((c) => c.callId === p.value.callId)) {
      return calls.map((c) => (c.callId === p.value.callId ? { ...c, ...ended } : c));
    }
    const call = { callId: p.value.callId, clientId: p.value.clientId, phone: "", direction: "", agentId: "", startedAt: 0, ...ended };
    return [call, ...calls].slice(0, KEPT);
  }
  return calls;
}

/** The voice-AI calls page. */
export function VoiceCalls({ api, identity }: { live: Live; api: Api; identity: Identity }) {
  useClock();
  const [calls, setCalls] = useState<VoiceCall[]>([]);
  const [client, setClient] = useState(identity.clientId ?? "");
  // The page's own stream of voice-AI events: first those still in the
  // replay window (the recent calls), then live ones; a reconnect resumes it.
  const [feed] = useState(() => new Live(api, { kinds: [EventKind.VOICE_CALL_STARTED, EventKind.VOICE_CALL_ENDED] }, true));
  useEffect(() => {
    const unlisten = feed.listen((event) => setCalls((all) => fold(all, event)));
    feed.start();
    return () => {
      unlisten();
      feed.stop();
    };
  }, [feed]);
  const shown = calls.filter((c) => !client || c.clientId === client);
  const clients = [...new Set(calls.map((c) => c.clientId))].sort();
  const now = Date.now();
  return (
    <div class="page voice">
      <Panel title="Voice assistant calls">
        {identity.role === "client" ? (
          <p>Calls of client {identity.clientId}</p>
        ) : (
          <label class="inline">
            Client
            <select value={client} onChange={(e) => setClient(e.currentTarget.value)}>
              <option value="">All clients</option>
              {clients.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          </label>
        )}
        {shown.length === 0 && <p class="empty">No assistant calls yet.</p>}
        <table>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Client</th>
              <th scope="col">Phone</th>
              <th scope="col">Direction</th>
              <th scope="col">Duration</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.callId} data-voice-call={c.callId}>
                <td>{clockTime(c.startedAt)}</td>
                <td>{c.clientId}</td>
                <td data-phone>{c.phone}</td>
                <td>{c.direction}</td>
                <td class="timer">
                  {c.durationMs !== undefined ? duration(c.durationMs / 1000) : c.startedAt ? duration((now - c.startedAt) / 1000) : ""}
                </td>
                <td>{c.endedAt ? c.status || "ended" : "in progress"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Panel>
    </div>
  );
}
