// The agent desktop (seeds 000 and 004): the incoming-call notification with
// answer and reject, the call timer started from `timerStartTime` and
// corrected by `serverTimestamp`, the controls that really work (mute, hold,
// transfer, hang up) for every call the agent holds up to its capacity, and,
// when the voice assistant transfers a caller, the customer-profile popup
// with Accept, then a read-only info window that lasts as long as the call.
import { useEffect, useRef, useState } from "preact/hooks";
import type { CallIncoming } from "../../../gen/ts/switchboard/v1/call_pb.js";
import { CallState, type Call } from "../../../gen/ts/switchboard/v1/call_pb.js";
import { TransferStatus, type TransferUpdate } from "../../../gen/ts/switchboard/v1/customer_pb.js";
import type { Live } from "./live.js";
import type { Api, Identity } from "./session.js";
import { Panel, Result, TransferForm, duration, millis, useClock, useCommand, useLive } from "./ui.js";
import { caller } from "./wallboard.js";

/** The customer profile as `GET /api/customer/data` answers it (seed 004). */
interface Profile {
  name?: string;
  email?: string;
  phone?: string;
  conversation_history?: { role?: string; content?: string; timestamp?: string }[];
  activities?: { type?: string; action?: string; title?: string; timestamp?: string }[];
}

/** A transfer to this agent, and the profile that came with it. */
interface Transfer {
  update: TransferUpdate;
  profile?: Profile;
  /** Why the profile could not be read, if it could not. */
  problem?: string;
  accepted: boolean;
}

/** What the desktop remembers of each call beyond the ledger's record. */
interface CallExtras {
  incoming?: CallIncoming;
  /** When the call timer started, on this page's clock. */
  timerStartedAt?: number;
  muted?: boolean;
}

function Controls({ sessionId, label, ringing, held, extras, api, onMuted }: { sessionId: string; label: string; ringing: boolean; held: boolean; extras: CallExtras; api: Api; onMuted: (on: boolean) => void }) {
  const [outcome, run, busy] = useCommand();
  const incoming = extras.incoming;
  return (
    <div class="controls">
      {ringing ? (
        <>
          <button
            type="button"
            class="primary"
            disabled={busy || incoming?.canAnswer === false}
            aria-label={`Answer the call from ${label}`}
            onClick={() => run("Answer", async () => void (await api.calls.answerCall({ sessionId })))}
          >
            Answer
          </button>
          <button
            type="button"
            disabled={busy || incoming?.canReject === false}
            aria-label={`Reject the call from ${label}`}
            onClick={() => run("Reject", async () => void (await api.calls.rejectCall({ sessionId, reason: "rejected from the desktop" })))}
          >
            Reject
          </button>
        </>
      ) : (
        <>
          <button
            type="button"
            aria-pressed={extras.muted ?? false}
            disabled={busy}
            onClick={() =>
              run(extras.muted ? "Unmute" : "Mute", async () => {
                await api.calls.muteCall({ sessionId, on: !extras.muted });
                onMuted(!extras.muted);
                return extras.muted ? "Unmuted" : "Muted";
              })
            }
          >
            {extras.muted ? "Unmute" : "Mute"}
          </button>
          <button
            type="button"
            aria-pressed={held}
            disabled={busy}
            onClick={() => run(held ? "Resume" : "Hold", async () => void (await api.calls.holdCall({ sessionId, on: !held })))}
          >
            {held ? "Resume" : "Hold"}
          </button>
          <TransferForm
            label={`Transfer the call from ${label} to`}
            visibleLabel="Transfer to"
            busy={busy}
            onTransfer={(target) =>
              void run("Transfer", async () => {
                await api.calls.transferCall({ sessionId, target });
                return `Transferred to ${target}`;
              })
            }
          />
          <button type="button" class="danger" disabled={busy} onClick={() => run("Hang up", async () => void (await api.calls.hangupCall({ sessionId })))}>
            Hang up
          </button>
        </>
      )}
      <Result outcome={outcome} />
    </div>
  );
}

function ProfileDetails({ profile }: { profile: Profile }) {
  return (
    <>
      <dl>
        <dt>Name</dt>
        <dd data-profile="name">{profile.name}</dd>
        <dt>Email</dt>
        <dd>{profile.email}</dd>
        <dt>Phone</dt>
        <dd>{profile.phone}</dd>
      </dl>
      <h4>Conversation with the assistant</h4>
      <ol class="history">
        {(profile.conversation_history ?? []).map((turn, i) => (
          <li key={i}>
            <strong>{turn.role}:</strong> {turn.content}
          </li>
        ))}
      </ol>
      <h4>Activities</h4>
      <ul>
        {(profile.activities ?? []).map((activity, i) => (
          <li key={i}>{activity.title || `${activity.type ?? ""} ${activity.action ?? ""}`}</li>
        ))}
      </ul>
    </>
  );
}

/** Reads the profile of a transfer from `/api/customer/data`. */
async function fetchProfile(identity: Identity, update: TransferUpdate): Promise<Profile> {
  const query = new URLSearchParams({ extension: update.extension });
  if (update.callSid) query.set("call_sid", update.callSid);
  if (update.callId) query.set("call_id", update.callId);
  const response = await fetch(`/api/customer/data?${query}`, {
    headers: identity.token ? { authorization: `Bearer ${identity.token}` } : {},
  });
  const body: unknown = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (body as { message?: string; error?: string }).message ?? (body as { error?: string }).error;
    throw new Error(message ?? `the server answered ${response.status}`);
  }
  return body as Profile;
}

function TransferWindows({ transfers, onAccept }: { transfers: Transfer[]; onAccept: (id: string) => void }) {
  return (
    <>
      {transfers.map((t) =>
        t.accepted ? (
          <aside key={t.update.transferId} class="panel info-window" aria-label="Transferred customer" data-transfer-info={t.update.transferId}>
            <h3>Transferred customer</h3>
            {t.profile && <ProfileDetails profile={t.profile} />}
          </aside>
        ) : (
          <div key={t.update.transferId} class="popup" role="dialog" aria-modal="true" aria-labelledby={`transfer-${t.update.transferId}`}>
            <div class="panel">
              <h3 id={`transfer-${t.update.transferId}`}>Transfer from the voice assistant</h3>
              {t.profile ? <ProfileDetails profile={t.profile} /> : <p role="alert">{t.problem ?? "Reading the customer's profile…"}</p>}
              <button type="button" class="primary" autoFocus onClick={() => onAccept(t.update.transferId)}>
                Accept
              </button>
            </div>
          </div>
        ),
      )}
    </>
  );
}

/** The agent desktop page. */
export function AgentDesktop({ live, api, identity }: { live: Live; api: Api; identity: Identity }) {
  const state = useLive(live);
  useClock();
  const agents = [...state.agents.values()].sort((a, b) => a.extension.localeCompare(b.extension));
  const [chosen, setChosen] = useState(identity.extension ?? "");
  const extension = identity.extension ?? (chosen || agents[0]?.extension || "");
  const [extras, setExtras] = useState<Record<string, CallExtras>>({});
  const [ringing, setRinging] = useState<Record<string, CallIncoming>>({});
  const [transfers, setTransfers] = useState<Transfer[]>([]);
  const announced = useRef(new Set<string>());
  const patch = (callId: string, change: Partial<CallExtras>) =>
    setExtras((all) => ({ ...all, [callId]: { ...all[callId], ...change } }));
  const stopRinging = (sessionId: string) =>
    setRinging((all) => {
      if (!(sessionId in all)) return all;
      const { [sessionId]: _, ...rest } = all;
      return rest;
    });

  useEffect(() => {
    setRinging({});
    return live.listen((event) => {
      const p = event.payload;
      switch (p.case) {
        case "callIncoming":
          // A call rings the agent: the ledger's record names no agent until
          // one answers, so the offer itself says whose phone rings.
          if (p.value.extension === extension) {
            const offer = p.value;
            setRinging((all) => ({ ...all, [offer.sessionId]: offer }));
            patch(offer.sessionId, { incoming: offer });
          } else {
            stopRinging(p.value.sessionId);
          }
          break;
        case "callBridged":
          stopRinging(p.value.sessionId);
          if (p.value.extension === extension) {
            // The timer starts at timerStartTime on the server's clock, moved
            // to this page's clock by the server's own timestamp of the message.
            const skew = Number(p.value.serverTimestamp) - Date.now();
            patch(p.value.sessionId, { timerStartedAt: millis(p.value.timerStartTime) - skew });
          }
          break;
        case "agentRejectedCall":
        case "customerLeftBridge":
        case "callEndedNormally":
        case "stasisCallEnded":
          stopRinging(p.value.sessionId);
          break;
        case "callUpdated":
          if (p.value.call?.state === CallState.ENDED) stopRinging(p.value.call.callId);
          break;
        case "resync":
          // Calls the rebuilt picture no longer has are over.
          setRinging((all) => Object.fromEntries(Object.entries(all).filter(([id]) => live.state.calls.has(id))));
          break;
        case "transferUpdate":
          if (p.value.extension === extension) onTransfer(p.value);
          break;
        default:
          break;
      }
    });
  }, [live, extension]);

  const onTransfer = (update: TransferUpdate) => {
    const over = update.status === TransferStatus.COMPLETED || update.status === TransferStatus.FAILED;
    if (over) {
      setTransfers((all) => all.filter((t) => t.update.transferId !== update.transferId));
      return;
    }
    if (announced.current.has(update.transferId)) {
      setTransfers((all) => all.map((t) => (t.update.transferId === update.transferId ? { ...t, update } : t)));
      return;
    }
    announced.current.add(update.transferId);
    setTransfers((all) => [...all, { update, accepted: false }]);
    const settle = (change: Partial<Transfer>) =>
      setTransfers((now) => now.map((t) => (t.update.transferId === update.transferId ? { ...t, ...change } : t)));
    fetchProfile(identity, update).then(
      (profile) => settle({ profile }),
      (error: unknown) => settle({ problem: `No profile: ${(error as Error).message}` }),
    );
  };

  const me = state.agents.get(extension);
  const held = [...state.calls.values()]
    .filter((c) => c.agentExtension === extension)
    .sort((a, b) => millis(a.startedAt) - millis(b.startedAt));
  const offers = Object.values(ringing).filter((offer) => !held.some((c) => c.callId === offer.sessionId));
  const now = Date.now();
  return (
    <div class="page agent">
      <div class="agent-header">
        {identity.extension ? (
          <p>
            Extension <strong>{extension}</strong> {me?.name}
          </p>
        ) : (
          <label class="inline">
            Desktop of agent
            <select value={extension} onChange={(e) => setChosen(e.currentTarget.value)}>
              {agents.map((a) => (
                <option key={a.extension} value={a.extension}>
                  {a.extension} {a.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <p class="badge" data-agent-status={me?.status ?? "unknown"}>
          {me?.status ?? "unknown"}
          {me?.capacity && ` · ${me.capacity.current} of ${me.capacity.max} calls`}
        </p>
      </div>
      <TransferWindows transfers={transfers} onAccept={(id) => setTransfers((all) => all.map((t) => (t.update.transferId === id ? { ...t, accepted: true } : t)))} />
      {held.length + offers.length === 0 && <p class="empty">No calls. Incoming calls appear here.</p>}
      <div class="grid">
        {offers.map((offer) => {
          const label = [offer.callerName, offer.customerNumber].filter(Boolean).join(" ") || "unknown caller";
          return (
            <Panel key={offer.sessionId} id={`call-${offer.sessionId}`} title="Incoming call">
              <div class="call ringing" data-session={offer.sessionId} role="alert">
                <p class="caller">{offer.callerName}</p>
                <p class="number">{offer.customerNumber}</p>
                <p>
                  Priority {offer.priority || "normal"} · call {offer.callIndex} of {offer.maxCalls}
                </p>
                <Controls sessionId={offer.sessionId} label={label} ringing held={false} extras={extras[offer.sessionId] ?? {}} api={api} onMuted={() => undefined} />
              </div>
            </Panel>
          );
        })}
        {held.map((call) => {
          const extra = extras[call.callId] ?? {};
          const started = extra.timerStartedAt ?? (call.bridgedAt ? millis(call.bridgedAt) - state.clockOffsetMs : undefined);
          return (
            <Panel key={call.callId} id={`call-${call.callId}`} title="On call">
              <div class="call" data-session={call.callId}>
                <p class="caller">{extra.incoming?.callerName || call.callerName}</p>
                <p class="number">{call.customerNumber}</p>
                {call.queue && <p>Queue {call.queue}</p>}
                <p class="timer" aria-label="Call time" data-timer>
                  {started ? duration((now - started) / 1000) : "0:00"}
                </p>
                <Controls
                  sessionId={call.callId}
                  label={caller(call)}
                  ringing={false}
                  held={call.state === CallState.ON_HOLD}
                  extras={extra}
                  api={api}
                  onMuted={(muted) => patch(call.callId, { muted })}
                />
              </div>
            </Panel>
          );
        })}
      </div>
    </div>
  );
}
