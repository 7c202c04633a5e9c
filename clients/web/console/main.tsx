// The console: switchboard's own web pages, served at `/` by the server.
//
// One page per hash route (#/wallboard, #/agent, #/queue, #/chat,
// #/widget, #/voice), all fed by one event stream (`Live`). The user signs
// in with a token (pasted, or `?token=`); a server with auth off needs none
// and is used as an administrator. The navigation offers what the token's
// role may use; the server decides every request regardless.
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { AgentDesktop } from "./agent.js";
import { ChatDashboard, ChatWidget } from "./chat.js";
import { Live } from "./live.js";
import { QueueCalls } from "./queue.js";
import { AUTH_OFF, type Identity, type Role, apiFor, identityOf, needsSignIn, reasonOf, remember, rememberedToken } from "./session.js";
import { StreamBadge } from "./ui.js";
import { VoiceCalls } from "./voice.js";
import { Wallboard } from "./wallboard.js";

/** A page of the console, and who it is for. */
interface Route {
  path: string;
  title: string;
  roles: Role[];
}

const ROUTES: Route[] = [
  { path: "wallboard", title: "Wallboard", roles: ["supervisor", "admin", "client"] },
  { path: "agent", title: "Agent desktop", roles: ["agent", "supervisor", "admin"] },
  { path: "queue", title: "Queue calls", roles: ["supervisor", "admin"] },
  { path: "chat", title: "Chat", roles: ["agent", "supervisor", "admin"] },
  { path: "voice", title: "Voice AI calls", roles: ["admin", "client"] },
  { path: "widget", title: "Customer chat", roles: ["agent", "supervisor", "admin", "client", "customer"] },
];

function useHash(): string {
  const [hash, setHash] = useState(location.hash.replace(/^#\/?/, ""));
  useEffect(() => {
    const changed = () => setHash(location.hash.replace(/^#\/?/, ""));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash;
}

/** Moves the focus past the header (a plain `#content` link would change the page's route). */
function SkipLink() {
  return (
    <a
      class="skip"
      href="#content"
      onClick={(e) => {
        e.preventDefault();
        document.getElementById("content")?.focus();
      }}
    >
      Skip to content
    </a>
  );
}

function SignIn({ problem, onToken }: { problem: string; onToken: (token: string) => void }) {
  const [token, setToken] = useState("");
  return (
    <>
      <header>
        <SkipLink />
        <strong class="brand">switchboard</strong>
      </header>
      <main id="content" class="sign-in" tabIndex={-1}>
        <h1>Sign in</h1>
        <form
          class="panel"
          onSubmit={(e) => {
            e.preventDefault();
            onToken(token.trim());
          }}
        >
          <label>
            Access token
            <textarea value={token} onInput={(e) => setToken(e.currentTarget.value)} rows={4} required spellcheck={false} autoFocus />
          </label>
          <p class="hint">
            Ask your administrator, or mint one with <code>switchboard token --role supervisor</code>.
          </p>
          <button type="submit" class="primary">
            Sign in
          </button>
          {problem && (
            <p role="alert" class="result refused">
              {problem}
            </p>
          )}
        </form>
        <p>
          A customer? <a href="#/widget">Chat with us</a>.
        </p>
      </main>
    </>
  );
}

function Console({ identity, onSignOut }: { identity: Identity; onSignOut: () => void }) {
  const hash = useHash();
  const api = useMemo(() => apiFor(identity.token), [identity.token]);
  const live = useMemo(() => new Live(api), [api]);
  useEffect(() => {
    if (identity.role !== "customer") live.start();
    return () => live.stop();
  }, [live]);
  const allowed = ROUTES.filter((r) => r.roles.includes(identity.role));
  const route = allowed.find((r) => r.path === hash) ?? allowed[0];
  useEffect(() => {
    document.title = `${route?.title ?? "Console"} · switchboard`;
  }, [route]);
  const props = { live, api, identity };
  return (
    <>
      <header>
        <SkipLink />
        <strong class="brand">switchboard</strong>
        <nav aria-label="Pages">
          {allowed.map((r) => (
            <a key={r.path} href={`#/${r.path}`} aria-current={r === route ? "page" : undefined}>
              {r.title}
            </a>
          ))}
        </nav>
        <span class="who" data-role={identity.role}>
          {identity.subject} ({identity.role}
          {identity.clientId ? `, ${identity.clientId}` : ""})
        </span>
        <StreamBadge live={live} />
        {identity.token && (
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        )}
      </header>
      <main id="content" tabIndex={-1}>
        <h1>{route?.title}</h1>
        {route?.path === "wallboard" && <Wallboard {...props} />}
        {route?.path === "agent" && <AgentDesktop {...props} />}
        {route?.path === "queue" && <QueueCalls {...props} />}
        {route?.path === "chat" && <ChatDashboard {...props} />}
        {route?.path === "voice" && <VoiceCalls {...props} />}
        {route?.path === "widget" && <ChatWidget />}
      </main>
    </>
  );
}

/** Finds out who the user is: the remembered token, or none when the server runs with auth off. */
function App() {
  const [identity, setIdentity] = useState<Identity | null>(null);
  const [problem, setProblem] = useState("");
  const [checking, setChecking] = useState(true);
  const hash = useHash();
  const tryToken = async (token: string) => {
    setChecking(true);
    const named = token ? identityOf(token) : AUTH_OFF;
    if (!named) {
      setProblem("That is not a switchboard token.");
      setChecking(false);
      return;
    }
    try {
      if (named.role !== "customer") await apiFor(token).state.getSystemState({});
      remember(token);
      setProblem("");
      setIdentity(named);
    } catch (error) {
      remember("");
      // No token and a server that wants one: the sign-in form, without a complaint.
      setProblem(token || !needsSignIn(error) ? reasonOf(error) : "");
    } finally {
      setChecking(false);
    }
  };
  useEffect(() => void tryToken(rememberedToken()), []);
  if (identity) {
    return (
      <Console
        identity={identity}
        onSignOut={() => {
          remember("");
          setIdentity(null);
        }}
      />
    );
  }
  if (hash === "widget") {
    return (
      <>
        <header>
          <SkipLink />
          <strong class="brand">switchboard</strong>
        </header>
        <main id="content" tabIndex={-1}>
          <h1>Customer chat</h1>
          <ChatWidget />
        </main>
      </>
    );
  }
  if (checking) return <p role="status">Connecting…</p>;
  return <SignIn problem={problem} onToken={(token) => void tryToken(token)} />;
}

const root = document.getElementById("app");
if (root) render(<App />, root);
