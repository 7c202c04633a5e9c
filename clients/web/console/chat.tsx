// Chat (seed 001): the agent dashboard and the customer widget.
//
// The dashboard reads and sends over gRPC (conversations, messages, the
// reassignment and the system mode) and follows the event stream for what
// others do; like the seed's dashboard it also holds a Socket.IO connection
// for what only Socket.IO carries: joining the agents' room (which makes the
// agent show as online), the heartbeat every 15 s, and its own typing.
// The widget starts a conversation over gRPC (no token needed), then talks
// with the customer token it got: messages over gRPC, the agent's replies
// and typing over Socket.IO, in the conversation's room.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { io, type Socket } from "socket.io-client";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ChatMessageSchema, SenderType, type ChatMessage, type Conversation } from "../../../gen/ts/switchboard/v1/chat_pb.js";
import type { ConnectedAgent } from "../../../gen/ts/switchboard/v1/agent_pb.js";
import type { Live } from "./live.js";
import { type Api, type Identity, apiFor, reasonOf } from "./session.js";
import { Panel, Result, clockTime, millis, useCommand, useLive } from "./ui.js";

const HEARTBEAT_MS = 15_000;

/** A Socket.IO connection to this origin with `token`, closed on unmount. */
function useSocket(token: string, onConnect: (socket: Socket) => void): Socket | null {
  const [socket, setSocket] = useState<Socket | null>(null);
  useEffect(() => {
    const s = io(location.origin, { auth: token ? { token } : {} });
    s.on("connect", () => onConnect(s));
    setSocket(s);
    return () => {
      s.close();
    };
  }, [token]);
  return socket;
}

/** A new id for a message, so that a retried send is stored once. */
function messageId(): string {
  return crypto.randomUUID();
}

function Messages({ messages, label }: { messages: ChatMessage[]; label: string }) {
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => end.current?.scrollIntoView?.({ block: "end" }), [messages.length]);
  return (
    <ol class="messages" aria-label={label} aria-live="polite">
      {messages.map((m) => (
        <li key={m.id} class={m.senderType === SenderType.CUSTOMER ? "from-customer" : "from-agent"} data-message={m.content}>
          <span class="who">{m.senderName || (m.senderType === SenderType.CUSTOMER ? "Customer" : "Agent")}</span>{" "}
          <span class="when">{clockTime(millis(m.timestamp))}</span>
          <p>{m.content}</p>
        </li>
      ))}
      <li ref={end} class="end" aria-hidden="true" />
    </ol>
  );
}

/**
 * The message box of both sides: `onTyping` hears whether something is
 * typed, `onSend(text, sent)` sends it and calls `sent` once it is stored.
 */
function Composer({ label, busy, onTyping, onSend }: { label: string; busy: boolean; onTyping: (typing: boolean) => void; onSend: (text: string, sent: () => void) => void }) {
  const [draft, setDraft] = useState("");
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        const text = draft.trim();
        if (text)
          onSend(text, () => {
            setDraft("");
            onTyping(false);
          });
      }}
    >
      <label>
        {label}
        <input
          value={draft}
          onInput={(e) => {
            setDraft(e.currentTarget.value);
            onTyping(e.currentTarget.value !== "");
          }}
          maxLength={4000}
        />
      </label>
      <button type="submit" class="primary" disabled={busy}>
        Send
      </button>
    </form>
  );
}

/** The agents' chat dashboard. */
export function ChatDashboard({ live, api, identity }: { live: Live; api: Api; identity: Identity }) {
  const state = useLive(live);
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [selected, setSelected] = useState("");
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [typing, setTyping] = useState<Record<string, boolean>>({});
  const [online, setOnline] = useState<ConnectedAgent[]>([]);
  const [notices, setNotices] = useState<string[]>([]);
  const [heartbeat, setHeartbeat] = useState("");
  const [mode, setMode] = useState("");
  const [outcome, run, busy] = useCommand();
  const [modeOutcome, runMode] = useCommand();
  const [problem, setProblem] = useState("");
  const selectedRef = useRef("");
  selectedRef.current = selected;

  const socket = useSocket(identity.token, (s) => s.emit("join-agent-dashboard", identity.subject));
  useEffect(() => {
    if (!socket) return;
    socket.on("heartbeat-ack", (ack: { timestamp?: string }) => setHeartbeat(ack.timestamp ?? new Date().toISOString()));
    socket.on("error-event", (error: { message?: string; event?: string }) => setProblem(`${error.event ?? "request"} refused: ${error.message ?? ""}`));
    const beat = () => socket.connected && socket.emit("heartbeat", { timestamp: Date.now() });
    const timer = setInterval(beat, HEARTBEAT_MS);
    socket.on("connect", beat);
    return () => clearInterval(timer);
  }, [socket]);

  const load = () =>
    api.chat.listConversations({ pageSize: 100 }).then(
      (page) => setConversations(page.conversations),
      (error: unknown) => setProblem(reasonOf(error)),
    );
  useEffect(() => void load(), [api]);
  useEffect(() => {
    if (!selected) return;
    api.chat.getConversation({ conversationId: selected, limit: 500 }).then(
      (answer) => setMessages(answer.messages),
      (error: unknown) => setProblem(reasonOf(error)),
    );
  }, [selected]);
  useEffect(
    () =>
      live.listen((event) => {
        const p = event.payload;
        switch (p.case) {
          case "resync":
            void load();
            break;
          case "newConversation": {
            const conversation = p.value.conversation;
            if (conversation) setConversations((all) => [conversation, ...all.filter((c) => c.id !== conversation.id)]);
            break;
          }
          case "newMessage": {
            const message = p.value;
            setConversations((all) => all.map((c) => (c.id === message.conversationId ? { ...c, lastMessage: message.content } : c)));
            if (message.conversationId === selectedRef.current) {
              setMessages((all) => (all.some((m) => m.id === message.id) ? all : [...all, message]));
            }
            break;
          }
          case "customerTypingStatus":
            setTyping((all) => ({ ...all, [p.value.conversationId]: p.value.isTyping }));
            break;
          case "connectedAgentsUpdate":
            setOnline(p.value.agents);
            break;
          case "ticketsReassigned":
            setNotices((all) => [
              ...p.value.reassignments.map((r) => `Conversation ${r.conversationId} moved from ${r.fromAgentId || "nobody"} to ${r.toAgentId}${p.value.reason ? ` (${p.value.reason})` : ""}`),
              ...all,
            ].slice(0, 10));
            void load();
            break;
          default:
            break;
        }
      }),
    [live, api],
  );

  const current = conversations.find((c) => c.id === selected);
  return (
    <div class="page chat">
      <p class="badge" data-system-mode={state.systemMode}>
        System mode: {state.systemMode || "normal"}
      </p>
      {heartbeat && <p class="badge">Heartbeat acknowledged {clockTime(Date.parse(heartbeat))}</p>}
      {problem && <p role="alert" class="result refused">{problem}</p>}
      <div class="chat-layout">
        <Panel title="Conversations">
          <ul class="conversations">
            {conversations.map((c) => (
              <li key={c.id}>
                <button type="button" aria-current={c.id === selected} onClick={() => setSelected(c.id)} data-conversation={c.id}>
                  <strong>{c.customerName || "Customer"}</strong> {typing[c.id] && <em>typing…</em>}
                  <br />
                  <span class="last">{c.lastMessage}</span>
                </button>
              </li>
            ))}
          </ul>
        </Panel>
        <Panel title={current ? `Chat with ${current.customerName || "customer"}` : "Chat"} id="chat">
          {current ? (
            <>
              <Messages messages={messages} label="Messages" />
              {typing[selected] && <p class="typing">The customer is typing…</p>}
              <Composer
                label="Reply"
                busy={busy}
                onTyping={(isTyping) => socket?.emit("agent-typing", { conversationId: selected, isTyping })}
                onSend={(content, sent) =>
                  void run("Send", async () => {
                    await api.chat.sendMessage({ conversationId: selected, content, messageId: messageId() });
                    sent();
                    return "Sent";
                  })
                }
              />
              <Result outcome={outcome} />
            </>
          ) : (
            <p class="empty">Choose a conversation.</p>
          )}
        </Panel>
        <Panel title="Agents online">
          <ul>
            {online.map((a) => (
              <li key={a.agentId} data-online={a.agentId}>
                {a.name || a.agentId}
              </li>
            ))}
          </ul>
          {notices.length > 0 && (
            <>
              <h3>Reassignments</h3>
              <ul class="notices" role="log">
                {notices.map((n, i) => (
                  <li key={i}>{n}</li>
                ))}
              </ul>
            </>
          )}
          {identity.role === "admin" && (
            <form
              class="inline"
              onSubmit={(e) => {
                e.preventDefault();
                void runMode("System mode", async () => {
                  const answer = await api.state.setSystemMode({ mode: mode.trim() });
                  return `System mode is ${answer.mode}`;
                });
              }}
            >
              <label>
                Set system mode
                <input value={mode} onInput={(e) => setMode(e.currentTarget.value)} required maxLength={64} />
              </label>
              <button type="submit">Set</button>
              <Result outcome={modeOutcome} />
            </form>
          )}
        </Panel>
      </div>
    </div>
  );
}

/** The customer's chat widget: starts a conversation, then chats with its token. */
export function ChatWidget() {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [first, setFirst] = useState("");
  const [started, setStarted] = useState<{ conversation: Conversation; token: string } | null>(null);
  const [outcome, run, busy] = useCommand();
  if (!started) {
    return (
      <div class="page widget">
        <Panel title="Chat with us">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void run("Start", async () => {
                const answer = await apiFor("").chat.startConversation({ customerName: name.trim(), customerEmail: email.trim(), firstMessage: first.trim() });
                if (!answer.conversation) throw new Error("no conversation");
                setStarted({ conversation: answer.conversation, token: answer.customerToken });
                return "Conversation started";
              });
            }}
          >
            <label>
              Your name
              <input value={name} onInput={(e) => setName(e.currentTarget.value)} required autoComplete="name" />
            </label>
            <label>
              Email
              <input type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required autoComplete="email" />
            </label>
            <label>
              How can we help?
              <input value={first} onInput={(e) => setFirst(e.currentTarget.value)} />
            </label>
            <button type="submit" class="primary" disabled={busy}>
              Start chat
            </button>
          </form>
          <Result outcome={outcome} />
        </Panel>
      </div>
    );
  }
  return <WidgetChat conversation={started.conversation} token={started.token} firstMessage={first.trim()} />;
}

function WidgetChat({ conversation, token, firstMessage }: { conversation: Conversation; token: string; firstMessage: string }) {
  const api = useMemo(() => apiFor(token), [token]);
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [agentTyping, setAgentTyping] = useState(false);
  const [outcome, run, busy] = useCommand();
  const add = (message: ChatMessage) => setMessages((all) => (all.some((m) => m.id === message.id) ? all : [...all, message]));
  const socket = useSocket(token, (s) => s.emit("join-conversation", conversation.id));
  useEffect(() => {
    api.chat.getConversation({ conversationId: conversation.id, limit: 500 }).then(
      (answer) => setMessages(answer.messages),
      () => undefined,
    );
    if (!socket) return;
    socket.on("agent-message", (data: { id?: string; content?: string; senderName?: string; timestamp?: string }) => {
      add(
        create(ChatMessageSchema, {
          id: data.id ?? messageId(),
          conversationId: conversation.id,
          senderType: SenderType.AGENT,
          senderName: data.senderName ?? "Agent",
          content: data.content ?? "",
          timestamp: data.timestamp ? timestampFromMs(Date.parse(data.timestamp)) : undefined,
        }),
      );
      setAgentTyping(false);
    });
    socket.on("agent-typing-status", (data: { isTyping?: boolean }) => setAgentTyping(data.isTyping === true));
  }, [socket]);
  return (
    <div class="page widget">
      <Panel title="Chat with us">
        {firstMessage === "" && messages.length === 0 && <p class="empty">Say hello: an agent will answer here.</p>}
        <Messages messages={messages} label="Messages" />
        {agentTyping && <p class="typing">The agent is typing…</p>}
        <Composer
          label="Message"
          busy={busy}
          onTyping={(isTyping) => socket?.emit("customer-typing", { conversationId: conversation.id, isTyping })}
          onSend={(content, sent) =>
            void run("Send", async () => {
              const answer = await api.chat.sendMessage({ conversationId: conversation.id, content, messageId: messageId() });
              if (answer.message) add(answer.message);
              sent();
              return "Sent";
            })
          }
        />
        <Result outcome={outcome} />
      </Panel>
    </div>
  );
}
