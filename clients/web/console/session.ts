// Who is signed in, and the switchboard clients they speak through.
//
// The console speaks switchboard's public contracts only: the generated
// grpc-web clients of gen/ts, on the origin that served the page, with the
// token as a bearer header. The token comes from `?token=` or the sign-in
// form and is kept for the tab (sessionStorage); its role, read from the
// token's own claims, decides what the pages show and offer. The server
// checks every request again: a hidden button is a courtesy, not the rule.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  AgentService,
  CallControlService,
  ChatService,
  CustomerService,
  EventService,
  StateService,
  SupervisorService,
} from "../../../gen/ts/switchboard/v1/services_pb.js";

/** The roles switchboard's tokens carry. */
export type Role = "agent" | "supervisor" | "admin" | "client" | "customer";

/** The signed-in user, as the token says (unverified here; the server verifies). */
export interface Identity {
  /** The bearer token; empty when the server runs with auth off. */
  token: string;
  /** What they may do. */
  role: Role;
  /** Who: the token's subject. */
  subject: string;
  /** The agent's extension (role `agent`). */
  extension?: string;
  /** The tenant (role `client`). */
  clientId?: string;
  /** The one conversation of a chat customer. */
  conversationId?: string;
}

const STORAGE_KEY = "switchboard.token";

/** The claims of a JWT, decoded without checking its signature. */
function claimsOf(token: string): Record<string, unknown> | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const claims: unknown = JSON.parse(atob(padded));
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The identity a token names, or null when it is not a switchboard token. */
export function identityOf(token: string): Identity | null {
  const claims = claimsOf(token);
  const roles: Role[] = ["agent", "supervisor", "admin", "client", "customer"];
  const role = claims?.role;
  if (!claims || typeof role !== "string" || !roles.includes(role as Role)) return null;
  const text = (key: string) => (typeof claims[key] === "string" ? (claims[key] as string) : undefined);
  return {
    token,
    role: role as Role,
    subject: text("sub") ?? "",
    extension: text("extension"),
    clientId: text("client_id"),
    conversationId: text("conversation_id"),
  };
}

/** The identity of a server running with auth off: an administrator. */
export const AUTH_OFF: Identity = { token: "", role: "admin", subject: "anonymous" };

/** The token of `?token=` (then dropped from the address bar) or of this tab's sign-in. */
export function rememberedToken(): string {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    sessionStorage.setItem(STORAGE_KEY, fromUrl);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.toString());
    return fromUrl;
  }
  return sessionStorage.getItem(STORAGE_KEY) ?? "";
}

/** Keeps (or, with an empty token, forgets) this tab's token. */
export function remember(token: string): void {
  if (token) sessionStorage.setItem(STORAGE_KEY, token);
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** The grpc-web clients of one identity. */
export interface Api {
  events: Client<typeof EventService>;
  state: Client<typeof StateService>;
  supervisor: Client<typeof SupervisorService>;
  calls: Client<typeof CallControlService>;
  agents: Client<typeof AgentService>;
  chat: Client<typeof ChatService>;
  customers: Client<typeof CustomerService>;
}

/** The clients of `token` (none for auth off), on the page's own origin. */
export function apiFor(token: string): Api {
  const bearer: Interceptor = (next) => async (request) => {
    if (token) request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  const transport = createGrpcWebTransport({ baseUrl: location.origin, interceptors: [bearer] });
  return {
    events: createClient(EventService, transport),
    state: createClient(StateService, transport),
    supervisor: createClient(SupervisorService, transport),
    calls: createClient(CallControlService, transport),
    agents: createClient(AgentService, transport),
    chat: createClient(ChatService, transport),
    customers: createClient(CustomerService, transport),
  };
}

/** A refusal or failure as a person reads it: the server's reason, never a stack. */
export function reasonOf(error: unknown): string {
  if (error instanceof ConnectError) {
    const what: Partial<Record<Code, string>> = {
      [Code.PermissionDenied]: "Not allowed",
      [Code.Unauthenticated]: "Not signed in",
      [Code.NotFound]: "Not found",
      [Code.FailedPrecondition]: "Not possible now",
      [Code.InvalidArgument]: "Invalid request",
      [Code.Unavailable]: "Unavailable",
      [Code.ResourceExhausted]: "Too many requests",
    };
    const label = what[error.code] ?? "Failed";
    return error.rawMessage ? `${label}: ${error.rawMessage}` : label;
  }
  // A fetch that never reached the server throws a TypeError; anything else
  // carries a reason the page or the server wrote.
  if (error instanceof Error && !(error instanceof TypeError) && error.message) {
    return `Failed: ${error.message}`;
  }
  return "Failed: the server could not be reached";
}

/** Whether `error` says the request needs a (valid) token. */
export function needsSignIn(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unauthenticated;
}
